"""Domain events: frozen, past tense, each with an explicit wire type name and schema version.

One class per type name of the contract. Multi-stream facts (a reservation, a shipment, a
transfer) are appended to every stream they touch with the same shape: on a stock stream the
`lines` hold only that stream's line, on the reservation/transfer stream all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ConfigDict

from .catalog.events import (
    ItemActivated,
    ItemChanged,
    ItemDeactivated,
    ItemDefined,
    WarehouseChanged,
    WarehouseDeactivated,
    WarehouseDefined,
)
from .codec import WIRE, adapter, decode, encode
from .reorder.events import (
    LowStockDetected,
    LowStockResolved,
    ReorderRuleRemoved,
    ReorderRuleSet,
    StockOutDetected,
)
from .stock.events import (
    Line,
    StockAdjusted,
    StockCounted,
    StockReceived,
    StockReturned,
    StockShipped,
)
from .transfer.events import TransferDispatched, TransferReceived
from .upcasting import upcast

# Events are plain frozen dataclasses (cheap to create in `decide`); pydantic validates and
# encodes them only at the edges (`to_data` / `from_data`) through the codec (camelCase).


@dataclass(frozen=True, slots=True)
class StockReserved:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "StockReserved"
    reservation_id: str
    order_id: str
    expires_at: datetime
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class ReservationConfirmed:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReservationConfirmed"
    reservation_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class ReservationReleased:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReservationReleased"
    reservation_id: str
    order_id: str
    lines: tuple[Line, ...]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReservationExpired:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ReservationExpired"
    reservation_id: str
    order_id: str
    lines: tuple[Line, ...]


Event = (
    StockReceived
    | StockReserved
    | ReservationConfirmed
    | ReservationReleased
    | ReservationExpired
    | StockShipped
    | StockReturned
    | TransferDispatched
    | TransferReceived
    | StockAdjusted
    | StockCounted
    | ItemDefined
    | ItemChanged
    | ItemDeactivated
    | ItemActivated
    | WarehouseDefined
    | WarehouseChanged
    | WarehouseDeactivated
    | ReorderRuleSet
    | ReorderRuleRemoved
    | LowStockDetected
    | StockOutDetected
    | LowStockResolved
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        StockReceived,
        StockReserved,
        ReservationConfirmed,
        ReservationReleased,
        ReservationExpired,
        StockShipped,
        StockReturned,
        TransferDispatched,
        TransferReceived,
        StockAdjusted,
        StockCounted,
        ItemDefined,
        ItemChanged,
        ItemDeactivated,
        ItemActivated,
        WarehouseDefined,
        WarehouseChanged,
        WarehouseDeactivated,
        ReorderRuleSet,
        ReorderRuleRemoved,
        LowStockDetected,
        StockOutDetected,
        LowStockResolved,
    )
}
_SPARSE = frozenset({ItemChanged.TYPE, WarehouseChanged.TYPE})  # only what changed

# Each type's current schema version. Version 2 records what a movement cost (issue 13): the
# valuation method on a receipt, `cost` on shipment lines, returns, adjustments and transfers,
# and the cost layers a transfer carries. Stored events are never rewritten: older versions are
# read through `upcasting.upcast` into the current shape (their costs are derived in the fold).
VALUED = frozenset(
    {
        StockReceived.TYPE,
        StockShipped.TYPE,
        StockReturned.TYPE,
        TransferDispatched.TYPE,
        TransferReceived.TYPE,
        StockAdjusted.TYPE,
    }
)
SCHEMA_VERSIONS: dict[str, int] = {name: 2 if name in VALUED else 1 for name in EVENT_TYPES}

for _cls in EVENT_TYPES.values():
    adapter(_cls)  # built at import, not on the first event of each type


def to_data(event: Event) -> dict[str, Any]:
    """The event's `data` as it goes on the wire (camelCase, decimals and times as strings)."""
    return encode(event, sparse=event.TYPE in _SPARSE)


def from_data(type_name: str, data: dict[str, Any], schema_version: int | None = None) -> Event:
    """The event of stored or received `data`, read through the upcasters first when it was
    written in an older schema version (`None`: the current one)."""
    if schema_version is not None and schema_version != SCHEMA_VERSIONS[type_name]:
        data = upcast(type_name, schema_version, data)
    event: Event = decode(EVENT_TYPES[type_name], data)
    return event
