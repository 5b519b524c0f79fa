"""The commands' bodies and answers (POST /v1/receipts, /v1/reservations, /v1/shipments, ...)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from ...domain.stock.events import AdjustmentReason, ReturnCondition, ReturnReason
from .ledger import EventOut, ReservationOut, StockOut
from .wire import (
    MAX_QUANTITY,
    WHOLE,
    Body,
    Id,
    IsoDate,
    Money,
    Out,
    Quantity,
    QuantityChange,
    Text,
)

LotId = Annotated[
    Id, Field(description="lot-tracked items: the lot (required where the item is tracked by lot)")
]
Serials = Annotated[
    list[Id],
    Field(
        min_length=1,
        max_length=10_000,
        description="serial-tracked items: one distinct serial number per unit",
    ),
]


class LineIn(Body):
    """A line of a reservation or a shipment."""

    sku: Id
    warehouse_id: Id
    quantity: Quantity
    lot_id: LotId | None = Field(
        default=None, description="reservations of lot-tracked items: only this lot (else FEFO)"
    )
    min_expires_on: IsoDate | None = Field(
        default=None,
        description="reservations of lot-tracked items: only lots expiring on or after this "
        "date (lots without an expiry date always qualify)",
    )
    serials: Serials | None = Field(
        default=None,
        description="shipments of serial-tracked items: the serials shipped, exactly the "
        "line's quantity, each in stock in that warehouse (409 serial-not-in-stock)",
    )


class ReceiptIn(Body):
    sku: Id
    warehouse_id: Id
    quantity: Quantity
    purchase_order_id: Id
    unit_cost: Money | None = Field(
        default=None,
        description="required unless the purchase order has a line for this SKU and warehouse "
        "(then the line's by default)",
    )
    supplier: Text
    receipt_id: Id | None = Field(
        default=None, description="optional: a receipt id counts once per SKU and warehouse"
    )
    inspect: bool | None = Field(
        default=None,
        description="true: the units wait in qualityControl (on hand, not available) until "
        "POST /v1/inspections releases them (lot-tracked items: per lot; serial-tracked items "
        "skip quality control, 409)",
    )
    lot_id: LotId | None = None
    expires_on: IsoDate | None = Field(
        default=None,
        description="lot-tracked items: the lot's expiry date (YYYY-MM-DD), the first day it is "
        "expired; the same lot received again must say the same date (409 lot-expiry-mismatch)",
    )
    serials: Serials | None = Field(
        default=None,
        description="serial-tracked items: exactly `quantity` distinct serials; one in stock or "
        "in transit anywhere is refused (409 serial-in-stock, naming where)",
    )


class ReservationIn(Body):
    order_id: Id
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=100)]
    ttl_seconds: Annotated[int, Field(strict=True, gt=0, le=7 * 24 * 3600), WHOLE] | None = None


class ConfirmIn(Body):
    pass


class ReleaseIn(Body):
    reason: Text | None = None


Lines = Annotated[list[LineIn], Field(min_length=1, max_length=100)]


class ReservationShipmentIn(Body):
    """Ship a reservation: all its lines, or the `lines` given."""

    shipment_id: Id
    order_id: Id
    reservation_id: Id
    lines: Lines | None = None


class LinesShipmentIn(Body):
    """Ship `lines` from available stock (without a reservation)."""

    shipment_id: Id
    order_id: Id
    reservation_id: Id | None = None
    lines: Lines


class ShipmentIn(Body):
    """What the route reads; the document states it as the union of the two shapes it takes
    (a reservation, or lines: the domain refuses a shipment with neither, decide._ship_direct),
    each a whole object, so that a generated client cannot build a body without a shipmentId.
    A body may name both: it matches both shapes, hence `anyOf`."""

    shipment_id: Id
    order_id: Id
    reservation_id: Id | None = None
    lines: Lines | None = None

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # A union of the two models: its choices are generated as references to them.
        shapes: list[CoreSchema | tuple[CoreSchema, str]] = [
            shape.__pydantic_core_schema__ for shape in (ReservationShipmentIn, LinesShipmentIn)
        ]
        return {
            "title": cls.__name__,
            "description": "a shipment of a reservation, or of lines from available stock",
            **handler(cs.union_schema(shapes)),
        }


class ReturnIn(Body):
    return_id: Id
    order_id: Id
    sku: Id
    warehouse_id: Id
    quantity: Quantity
    reason: ReturnReason
    condition: ReturnCondition
    lot_id: LotId | None = None
    serials: Serials | None = Field(
        default=None,
        description="serial-tracked items (required): each shipped on that order and not back "
        "since (409 not-shipped-on-order)",
    )


class TransferIn(Body):
    transfer_id: Id
    sku: Id
    from_warehouse_id: Id
    to_warehouse_id: Id
    quantity: Quantity
    serials: Serials | None = Field(
        default=None, description="serial-tracked items (required): the serials moved"
    )
    lot_id: Id | None = Field(
        default=None,
        description="lot-tracked items: move only this lot (else FEFO); the lot, its expiry "
        "date and its cost travel with the units",
    )


class TransferReceiveIn(Body):
    received_quantity: Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY), WHOLE] | None = (
        None
    )
    received_serials: list[Id] | None = Field(
        default=None,
        max_length=10_000,
        description="serial-tracked items: the serials that arrived (default: all); the rest "
        "are lost in transit",
    )


class AdjustmentIn(Body):
    sku: Id
    warehouse_id: Id
    quantity_change: QuantityChange
    reason: AdjustmentReason
    notes: Text
    unit_cost: Money | None = Field(
        None, description="A gain's unit cost; without it a gain enters at the average cost"
    )
    lot_id: LotId | None = None
    serials: Serials | None = Field(
        default=None,
        description="serial-tracked items (required): the serials removed, or found for a gain",
    )


class CountIn(Body):
    sku: Id
    warehouse_id: Id
    counted_quantity: Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY), WHOLE]
    notes: Text | None = None
    lot_id: LotId | None = None
    counted_serials: list[Id] | None = Field(
        default=None,
        max_length=10_000,
        description="serial-tracked items (required): the serials counted, as many as "
        "countedQuantity; the missing and the found become adjustments naming them",
    )


class CommandOut(Out):
    events: list[EventOut]
    stock: list[StockOut]


class ReservationCommandOut(ReservationOut, CommandOut):
    pass


def _operation(path: str, method: str) -> str:
    """An OpenAPI link's operationRef: a JSON pointer into the document's paths."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


_RESERVATION_ID = "$response.body#/reservationId"

# What a new reservation's 201 leads to (OpenAPI links: clients and stateful tests follow them).
RESERVATION_LINKS: dict[str, Any] = {
    "GetReservation": {
        "operationRef": _operation("/v1/reservations/{reservation_id}", "get"),
        "parameters": {"path.reservation_id": _RESERVATION_ID},
    },
    "ConfirmReservation": {
        "operationRef": _operation("/v1/reservations/{reservation_id}/confirm", "post"),
        "parameters": {"path.reservation_id": _RESERVATION_ID},
    },
    "ReleaseReservation": {
        "operationRef": _operation("/v1/reservations/{reservation_id}/release", "post"),
        "parameters": {"path.reservation_id": _RESERVATION_ID},
    },
    "ShipReservation": {
        "operationRef": _operation("/v1/shipments", "post"),
        "description": "ship all its lines, with the reservation's id as the shipmentId (a "
        "retry then replays the shipment instead of shipping twice)",
        "requestBody": {
            "shipmentId": _RESERVATION_ID,
            "orderId": "$response.body#/orderId",
            "reservationId": _RESERVATION_ID,
        },
        # The whole body, as OpenAPI means it (schemathesis would otherwise merge it into a
        # generated one, with lines the reservation does not hold).
        "x-schemathesis": {"merge_body": False},
    },
}
