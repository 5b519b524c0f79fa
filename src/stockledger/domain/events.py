"""Domain events: frozen, past tense, each with an explicit wire type name and schema version.

One class per type name of the contract. Multi-stream facts (a reservation, a shipment, a
transfer) are appended to every stream they touch with the same shape: on a stock stream the
`lines` hold only that stream's line, on the reservation/transfer stream all of them.
"""

from __future__ import annotations

from typing import Any

from .catalog.events import (
    ItemActivated,
    ItemChanged,
    ItemDeactivated,
    ItemDefined,
    WarehouseChanged,
    WarehouseDeactivated,
    WarehouseDefined,
)
from .codec import adapter, decode, encode
from .reorder.events import (
    LowStockDetected,
    LowStockResolved,
    ReorderRuleRemoved,
    ReorderRuleSet,
    StockOutDetected,
)
from .reservation.events import (
    ReservationConfirmed,
    ReservationExpired,
    ReservationReleased,
    StockReserved,
)
from .stock.events import (
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
