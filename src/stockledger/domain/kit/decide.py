"""A kit's rules: define or change its components; and the checks other aggregates make
against kits (a kit holds no stock; a reservation line naming one reserves its components)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ..decision import Decision, Place, States, get
from ..errors import InvalidCommand, KitHasNoStock
from ..stock.events import Line
from ..streams import kit_stream
from .commands import DefineKit
from .events import KitChanged, KitDefined, KitLine
from .state import KitState

MAX_COMPONENTS = 50


def reads(command: DefineKit, states: States) -> tuple[str, ...]:
    """Its own stream, and each component's (a kit is no component of another kit)."""
    return (kit_stream(command.sku), *(kit_stream(x.sku) for x in command.components))


def places(command: DefineKit) -> tuple[Place, ...]:
    """A kit names no warehouse: its components are reserved where its lines say."""
    return ()


def decide(command: DefineKit, states: States, now: datetime) -> Decision:
    stream = kit_stream(command.sku)
    kit = get(states, stream, KitState)
    skus = [x.sku for x in command.components]
    if not 1 <= len(skus) <= MAX_COMPONENTS:
        raise InvalidCommand(f"A kit has 1 to {MAX_COMPONENTS} components")
    if command.sku in skus:
        raise InvalidCommand(f"Kit {command.sku} cannot contain itself")
    if len(set(skus)) != len(skus):
        raise InvalidCommand(f"Kit {command.sku} names a component more than once")
    if any(x.quantity <= 0 for x in command.components):
        raise InvalidCommand("A component's quantity is at least 1")
    if inner := [s for s in skus if get(states, kit_stream(s), KitState).is_kit]:
        raise InvalidCommand(f"No kit inside a kit: {', '.join(inner)} is a kit")
    if command.used_in is None or command.stocked is None:
        raise TypeError("DefineKit: the write path looks up `used_in` and `stocked` first")
    if command.used_in:
        kits = ", ".join(x.partition(":")[2] for x in command.used_in)
        raise InvalidCommand(f"No kit inside a kit: {command.sku} is a component of {kits}")
    if command.stocked:
        raise KitHasNoStock(command.sku, "it has stock events, so it cannot become a kit")
    if not kit.is_kit:
        return Decision(events=((stream, KitDefined(command.sku, command.components)),))
    if kit.components == command.components:
        return Decision()  # the same definition again: nothing to record
    return Decision(events=((stream, KitChanged(command.sku, command.components)),))


# -- what the other aggregates ask of kits ------------------------------------------------------


def kit_of(states: States, sku: str) -> KitState | None:
    """The kit `sku` is, when its kit stream was read and holds a definition."""
    state = states.get(kit_stream(sku))
    return state if isinstance(state, KitState) and state.is_kit else None


def require_not_kit(states: States, sku: str, action: str) -> None:
    """Nothing puts units on a kit SKU: its stock is its components'."""
    if kit_of(states, sku) is not None:
        raise KitHasNoStock(sku, f"{action} go to its components")


def expand(lines: Iterable[Line], states: States) -> tuple[tuple[Line, ...], tuple[KitLine, ...]]:
    """Reservation lines with every kit line replaced by its components (quantity x component
    quantity, at the line's warehouse), and the kit lines as they were reserved."""
    stock: list[Line] = []
    kits: dict[tuple[str, str], KitLine] = {}
    for line in lines:
        kit = kit_of(states, line.sku)
        if kit is None:
            stock.append(line)
            continue
        stock += [
            Line(x.sku, line.warehouse_id, line.quantity * x.quantity) for x in kit.components
        ]
        key = (line.sku, line.warehouse_id)
        before = kits[key].quantity if key in kits else 0
        kits[key] = KitLine(line.sku, line.warehouse_id, before + line.quantity, kit.components)
    return tuple(stock), tuple(kits.values())
