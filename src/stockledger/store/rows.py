"""What goes into and comes out of the event store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ..domain.costing import Move
from ..domain.stock.state import Levels


@dataclass(frozen=True, slots=True)
class NewEvent:
    event_id: UUID
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    correlation_id: str
    order_id: str | None
    delta: Levels
    move: Move | None = None  # how it moved its stock stream's value (stock_values)

    @property
    def stock_values_row(self) -> bool:
        """Whether the event gets a stock_values row at append: it was valued (a v2 stock
        event). A v1 event's row is derived later (ops/value_backfill.py)."""
        return self.move is not None and worth_a_row(self.delta, self.move)


def worth_a_row(delta: Levels, move: Move) -> bool:
    """Whether an event moved units or value of its stock stream (a stock_values row)."""
    valued = delta.on_hand + delta.expired  # a lot past its date keeps its cost (units valued)
    return move.moves_value or bool(valued or delta.in_transit or delta.damaged)


@dataclass(frozen=True, slots=True)
class ValueRow:
    """One stock_values row: how the event at `position` moved its stream."""

    position: int
    stream_id: str
    recorded_at: datetime
    delta: Levels
    move: Move


# The stock_values columns, written by the append (with its events) and by the derivation of
# v1 events' rows (read/inventory_value.py).
VALUES_SQL = """
INSERT INTO stock_values (position, stream_id, recorded_at, d_on_hand, d_in_transit, d_damaged,
                          d_value, d_in_transit_value, d_damaged_value, cogs, loss,
                          units_shipped, loss_reason)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::int[], $5::int[],
                     $6::int[], $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[],
                     $11::numeric[], $12::int[], $13::text[])
"""


def level_columns(levels: Sequence[Levels]) -> list[list[int]]:
    """The on_hand, reserved, in_transit, damaged, incoming, quality_control and expired
    columns of these levels, in that order (LEVEL_NAMES), as the unnest() arguments of a
    batched insert."""
    return [
        [x.on_hand for x in levels],
        [x.reserved for x in levels],
        [x.in_transit for x in levels],
        [x.damaged for x in levels],
        [x.incoming for x in levels],
        [x.quality_control for x in levels],
        [x.expired for x in levels],
    ]


LEVEL_NAMES = (
    "on_hand",
    "reserved",
    "in_transit",
    "damaged",
    "incoming",
    "quality_control",
    "expired",
)


def levels_of(row: Any) -> Levels:
    """The levels a row holds in columns named as `Levels`' fields (sums, read models)."""
    return Levels(*(row[name] for name in LEVEL_NAMES))


def value_rows(rows: Sequence[ValueRow]) -> list[list[Any]]:
    """The stock_values columns of these rows: each event's quantity delta and how it moved
    its stream's value (costing.Move)."""
    return [
        [r.position for r in rows],
        [r.stream_id for r in rows],
        [r.recorded_at for r in rows],
        [r.delta.on_hand + r.delta.expired for r in rows],
        [r.delta.in_transit for r in rows],
        [r.delta.damaged for r in rows],
        [r.move.value for r in rows],
        [r.move.in_transit for r in rows],
        [r.move.damaged for r in rows],
        [r.move.cogs for r in rows],
        [r.move.loss for r in rows],
        [r.move.shipped for r in rows],
        [r.move.loss_reason for r in rows],
    ]


@dataclass(frozen=True, slots=True)
class StreamWrite:
    """Events for one stream; they land as versions expected_version+1, +2, ... or not at all."""

    stream_id: str
    expected_version: int
    events: tuple[NewEvent, ...]


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Rows of the due-reservation index written with an append: set or moved, and ended."""

    due: Mapping[str, datetime] = field(default_factory=dict)  # reservation id -> expires at
    ended: tuple[str, ...] = ()


NO_DEADLINES = Deadlines()


@dataclass(frozen=True, slots=True)
class OrderLineRow:
    """One purchase order line as its order stands after an append (purchase_order_lines)."""

    purchase_order_id: str
    sku: str
    warehouse_id: str
    line_no: int
    supplier: str
    status: str
    ordered: int
    received: int
    open: int
    unit_cost: Decimal
    expected_on: date
    placed_at: datetime
    version: int


# Written by the append transaction; never back in version (a replayed batch changes nothing).
ORDER_LINES_SQL = """
INSERT INTO purchase_order_lines AS p (purchase_order_id, sku, warehouse_id, line_no, supplier,
    status, ordered, received, open, unit_cost, expected_on, placed_at, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                     $7::int[], $8::int[], $9::int[], $10::numeric[], $11::date[],
                     $12::timestamptz[], $13::int[])
ON CONFLICT (purchase_order_id, sku, warehouse_id) DO UPDATE SET
    status = EXCLUDED.status, received = EXCLUDED.received, open = EXCLUDED.open,
    expected_on = EXCLUDED.expected_on, version = EXCLUDED.version
WHERE p.version < EXCLUDED.version
"""


def order_line_columns(rows: Sequence[OrderLineRow]) -> list[list[Any]]:
    return [[getattr(r, name) for r in rows] for name in OrderLineRow.__slots__]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    position: int
    event_id: UUID
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    hash: bytes | None = None  # the hash chain link (store/hashchain.py); None if not read

    def envelope(self) -> dict[str, Any]:
        """The contract's event envelope (HTTP and Kafka alike), with `hash` in hex if read."""
        envelope = {
            "eventId": str(self.event_id),
            "type": self.type,
            "streamId": self.stream_id,
            "version": self.version,
            "position": self.position,
            "recordedAt": self.recorded_at.isoformat(),
            "schemaVersion": self.schema_version,
            "data": self.data,
            "metadata": self.metadata,
        }
        if self.hash is not None:
            envelope["hash"] = self.hash.hex()
        return envelope

    @staticmethod
    def from_envelope(envelope: dict[str, Any]) -> RecordedEvent:
        """The event an `envelope()` was made of."""
        digest = envelope.get("hash")
        return RecordedEvent(
            envelope["position"],
            UUID(envelope["eventId"]),
            envelope["streamId"],
            envelope["version"],
            envelope["type"],
            envelope["schemaVersion"],
            envelope["data"],
            envelope["metadata"],
            datetime.fromisoformat(envelope["recordedAt"]),
            bytes.fromhex(digest) if digest is not None else None,
        )


class ConcurrencyConflict(Exception):
    """An append whose expected version is not the stream's version; nothing was written."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        shown = "unknown" if actual is None else str(actual)
        super().__init__(
            f"Wrong expected version: {expected} (Stream: {stream_id}, Stream Version: {shown})"
        )


class IdempotencyKeyTaken(Exception):
    """Other requests recorded some of these idempotency keys first; nothing was written.

    `keys` holds every (principal, key) of the transaction that was taken, found at once."""

    def __init__(self, keys: frozenset[tuple[str, str]]) -> None:
        self.keys = keys
        shown = ", ".join(f"{key!r} of {principal}" for principal, key in sorted(keys))
        super().__init__(f"idempotency keys recorded concurrently: {shown}")


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    principal: str
    key: str
    request_hash: str
    # What answers every later copy of the request: an outcome or refusal, `receipt()` in
    # write/receipts.py. Records written before receipts hold the HTTP answer, with its status here.
    status_code: int | None
    response: dict[str, Any]


# Postgres renders the envelope of an `events` row `e` as JSON text, keys in the order of
# RecordedEvent.envelope(): data and metadata as their stored JSON text, never decoded and
# encoded again, and recordedAt spelled as the API spells it (Python's isoformat in UTC: six
# fraction digits, none on a whole second) from Postgres' ISO text of the UTC timestamp, which
# trims the fraction's trailing zeros (the pool pins DateStyle ISO). Per row on this machine:
# json_build_object with to_char cost 4.6 us of Postgres CPU, this concatenation 2.4 us. The
# query joins ENVELOPE_JOIN (the timestamp's text, computed once per row).
ENVELOPE_JOIN = "CROSS JOIN LATERAL (SELECT (e.recorded_at AT TIME ZONE 'UTC')::text AS t) r"
RECORDED_AT_SQL = (
    "replace(rpad(r.t, CASE WHEN strpos(r.t, '.') > 0 THEN 26 ELSE 19 END, '0'), ' ', 'T') "
    "|| '+00:00'"
)


def envelope_sql(*, hashed: bool = False) -> str:
    """The envelope (with `hash` in hex if asked) as one text column: the relay, republish and
    the exports move Postgres' bytes without decoding them."""
    tail = " || ',\"hash\":\"' || encode(e.hash, 'hex') || '\"'" if hashed else ""
    return (
        '\'{"eventId":"\' || e.event_id || \'","type":\' || to_json(e.type) '
        "|| ',\"streamId\":' || to_json(e.stream_id) || ',\"version\":' || e.version "
        f'|| \',"position":\' || e.position || \',"recordedAt":"\' || {RECORDED_AT_SQL} '
        '|| \'","schemaVersion":\' || e.schema_version || \',"data":\' || e.data::text '
        f"|| ',\"metadata\":' || e.metadata::text{tail} || '}}'"
    )
