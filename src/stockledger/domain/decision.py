"""What deciding a command gives, and the small helpers every aggregate's rules share.

`states` maps stream id -> state for every stream the command reads (`required_streams`); a
stream without events is given as its initial state. Each aggregate's `decide` picks its own
states out of it with `get`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .codec import wire_keys
from .events import Event
from .stock.events import Line, ShippedLine
from .streams import stock_stream

Pending = tuple[str, Event]  # (stream id, event) to append
States = Mapping[str, object]
Place = tuple[str, str]  # (SKU, warehouse id) a command names
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class AlreadyRecorded:
    """The command was carried out before: answer with the events of `type_name` on
    `stream_id` whose fields hold `fields` (Python names) instead of appending."""

    stream_id: str
    type_name: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def match(self) -> dict[str, Any]:
        """`fields` as the stored data holds them (what the store looks the events up by)."""
        return wire_keys(self.fields)


@dataclass(frozen=True, slots=True)
class Decision:
    events: tuple[Pending, ...] = ()
    already: AlreadyRecorded | None = None
    touched: tuple[str, ...] = field(default=())  # stock streams whose levels the answer shows


def get(states: States, stream_id: str, kind: type[S]) -> S:
    """The state of `stream_id`, which must be a `kind`."""
    state = states[stream_id]
    if not isinstance(state, kind):
        raise TypeError(f"{stream_id} holds {type(state).__name__}, expected {kind.__name__}")
    return state


def per_line(stream: str, lines: tuple[Line, ...], make: Callable[[Any], Event]) -> list[Pending]:
    """One event on the owner stream with every line, then one per stock stream with its line."""
    out: list[Pending] = [(stream, make(lines))]
    out += [(stock_stream(x.sku, x.warehouse_id), make((x,))) for x in lines]
    return out


def line_streams(lines: tuple[Line, ...] | tuple[ShippedLine, ...]) -> tuple[str, ...]:
    """The stock streams of `lines`, once each, in order."""
    return tuple(dict.fromkeys(stock_stream(x.sku, x.warehouse_id) for x in lines))
