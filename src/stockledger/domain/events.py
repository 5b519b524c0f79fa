"""The contract's events: every type by its wire name, its current schema version, and
`to_data` / `from_data` between an event and the data stored and published for it.

Each event is defined by its aggregate (stock/events.py, ...): frozen, past tense, with an
explicit wire type name (`TYPE`), never a Python import path. Multi-stream facts (a
reservation, a shipment, a transfer) are appended to every stream they touch with the same
shape: on a stock stream the `lines` hold only that stream's line, on the reservation/transfer
stream all of them.
"""

from __future__ import annotations

from typing import Any, get_args

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
from .kit.events import KitChanged, KitDefined
from .purchase_order.events import (
    PurchaseOrderCancelled,
    PurchaseOrderPlaced,
    PurchaseOrderReceived,
    PurchaseOrderRescheduled,
    StockExpected,
)
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
    LotExpired,
    StockAdjusted,
    StockCounted,
    StockInspected,
    StockReceived,
    StockReturned,
    StockShipped,
)
from .transfer.events import TransferDispatched, TransferReceived
from .upcasting import upcast

# Every event type, in the contract's order (the AsyncAPI document lists them so): a new type
# goes at the end.
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
    | KitDefined
    | KitChanged
    | PurchaseOrderPlaced
    | StockExpected
    | PurchaseOrderRescheduled
    | PurchaseOrderReceived
    | PurchaseOrderCancelled
    | StockInspected
    | LotExpired
)

EVENT_TYPES: dict[str, type[Event]] = {cls.TYPE: cls for cls in get_args(Event)}
_SPARSE = frozenset({ItemChanged.TYPE, WarehouseChanged.TYPE})  # only what changed

# Each type's current schema version. Version 2 records what a movement cost: the
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
# Version 2 of a reservation records the lines that named a kit (`kits`) and, for lot-tracked
# items, the lots each line took (`lines[].lots`). Version 3 of a receipt records what it took
# off its purchase order's line (`expected`), what arrived beyond it (`overReceived`), whether
# it went into quality control (`inspect`) and, for tracked items, its lot (`lotId`,
# `expiresOn`) or its serials (`serials`).
# Tracked stock: items say how their units are told apart (`tracking`); the stock events of a
# lot-tracked item name their lots (`lotId`, `expiresOn`, `lots`). Untracked items hold null.
SCHEMA_VERSIONS |= {
    ItemDefined.TYPE: 2,
    ItemChanged.TYPE: 2,
    StockReceived.TYPE: 3,
    StockReserved.TYPE: 2,
    StockShipped.TYPE: 3,
    StockReturned.TYPE: 3,
    StockAdjusted.TYPE: 3,
    StockCounted.TYPE: 2,
    TransferDispatched.TYPE: 3,
    TransferReceived.TYPE: 3,
}

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
