"""Wire schemas (camelCase), separate from the domain. Unknown fields are refused, so a client
can never set `causedBy`, a version or anything else the server decides."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from ..domain.catalog.events import ValuationMethod
from ..domain.events import EVENT_TYPES
from ..domain.stock.events import AdjustmentReason, ReturnCondition, ReturnReason
from ..domain.streams import ID_PATTERN

MAX_QUANTITY = 1_000_000_000

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN), Field(examples=["SKU-1"])]


def _integral(value: object) -> object:
    """JSON Schema's integer is any number without a fraction: 170.0 is one (2020-12, 6.3)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Counts of units are integers as JSON Schema has them (170 or 170.0), never "170" nor true:
# `Annotated[int, Field(strict=True, <bounds>), WHOLE]` (after the bounds, so that the document
# keeps them as minimum/maximum).
WHOLE = BeforeValidator(_integral)
Quantity = Annotated[
    int, Field(strict=True, gt=0, le=MAX_QUANTITY, description="units, > 0"), WHOLE
]


# Money: a positive decimal of up to 12 digits before the point and 6 after (18 in all).
# As a string, plain notation only: `Decimal()` alone would also take "1e3", " 1", "1_000" or
# Arabic-Indic digits, none of which the document could state.
MONEY_TEXT = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
_MONEY_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")


def _plain_decimal(value: object) -> object:
    if isinstance(value, str) and not _MONEY_TEXT.fullmatch(value):
        raise ValueError("a decimal string: up to 12 digits, optionally a point and up to 6")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_plain_decimal),
    Field(gt=0, max_digits=18, decimal_places=6, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 10**12,
                    "multipleOf": 0.000001,
                },
                {"type": "string", "pattern": MONEY_TEXT, "not": {"pattern": "^[0.]*$"}},
            ],
            "description": "decimal string or number > 0, up to 12 digits before the point and "
            "6 after, stored exactly",
            "examples": ["2.50"],
        }
    ),
]


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("must not be 0")
    return value


# An adjustment changes something: the document says `not: {const: 0}`, the model refuses 0.
QuantityChange = Annotated[
    int,
    Field(
        strict=True,
        ge=-MAX_QUANTITY,
        le=MAX_QUANTITY,
        description="units, ≠ 0",
        json_schema_extra={"not": {"const": 0}},
    ),
    WHOLE,
    AfterValidator(_not_zero),
]

# A query instant: an RFC 3339 date-time, which has an offset (the `date-time` format), less
# what datetime cannot hold (year 0000, the leap second :60). pydantic alone would also take
# "0.5" (Unix seconds), "2026-11-01" or a time without offset.
RFC3339 = (
    r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-[0-9]{2}-[0-9]{2}"
    r"[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(RFC3339)


def _rfc3339(value: object) -> object:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("an RFC 3339 date-time with an offset, e.g. 2026-11-01T09:30:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC. 0001-01-01T00:00:00+14:00 is before year 1 in UTC and
    9999-12-31T23:59:59-14:00 after 9999: no event is that old or that new, so the nearest
    instant datetime holds answers the same."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


Instant = Annotated[
    datetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_in_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339}),
]
# A period boundary of reports and exports: an RFC 3339 instant, or a UTC date (its 00:00 UTC).
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATE = re.compile(DATE)


def _instant_or_date(value: object) -> object:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()
        except ValueError:
            raise ValueError(f"{value} is not a date") from None
    return _rfc3339(value)


Boundary = Annotated[
    datetime,
    BeforeValidator(_instant_or_date),
    AfterValidator(_in_utc),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {"format": "date-time", "pattern": RFC3339},
                {"format": "date", "pattern": DATE},
            ],
            "description": "an RFC 3339 instant, or a UTC date (2026-11-01 = its 00:00 UTC)",
        }
    ),
]
StreamVersion = Annotated[int, Field(ge=1, le=2**31 - 1)]

# Time travel takes exactly one of `timestamp` and `version`. OpenAPI has no rule across two
# parameters, but one object parameter exploded as a form is the same query string
# (?timestamp=... or ?version=...), and its schema can say "exactly one". The route reads the two
# (hidden from the document) with these same types.
TIME_TRAVEL_PARAMETER: dict[str, Any] = {
    "name": "at",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": "exactly one of `timestamp` (RFC 3339 with offset: the levels then) and "
    "`version` (the levels right after that version)",
    "schema": {
        "type": "object",
        "properties": {
            "timestamp": TypeAdapter(Instant).json_schema(),
            "version": TypeAdapter(StreamVersion).json_schema(),
        },
        "oneOf": [{"required": ["timestamp"]}, {"required": ["version"]}],
    },
}
# Free text: no NUL (Postgres text and jsonb cannot hold U+0000, so it would never be stored).
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[^\x00]+$")]
# Correlation ids are ids, X-Correlation-Id values or UUIDs: visible ASCII.
CorrelationId = Annotated[
    str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$"), Field(examples=["ORDER-1001"])
]


# History's `types`: OpenAPI's comma-separated array (style form, explode false) of the event
# types, from the domain's registry. FastAPI can only declare repeated parameters, so the route
# reads the raw text (hidden from the document) and `event_types` splits it.
EVENT_TYPES_PARAMETER: dict[str, Any] = {
    "name": "types",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "description": "only these event types, comma-separated: `types=StockReserved,StockShipped`",
    "schema": {"type": "array", "minItems": 1, "items": {"enum": list(EVENT_TYPES)}},
}


def event_types(text: str) -> list[str]:
    """`StockReserved,StockShipped` -> both; ValueError naming what is not an event type."""
    wanted = text.split(",")
    unknown = [t for t in wanted if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"not event types: {', '.join(map(repr, unknown))}")
    return wanted


class Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True
    )


class LineIn(Body):
    sku: Id
    warehouse_id: Id
    quantity: Quantity


class ReceiptIn(Body):
    sku: Id
    warehouse_id: Id
    quantity: Quantity
    purchase_order_id: Id
    unit_cost: Money
    supplier: Text
    receipt_id: Id | None = Field(
        default=None, description="optional: a receipt id counts once per SKU and warehouse"
    )


class ReservationIn(Body):
    order_id: Id
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=100)]
    ttl_seconds: Annotated[int, Field(strict=True, gt=0, le=7 * 24 * 3600), WHOLE] | None = None


class ConfirmIn(Body):
    pass


class ReleaseIn(Body):
    reason: Text | None = None


class ShipmentIn(Body):
    # The domain refuses a shipment with neither (decide._ship_direct): say so in the document.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["reservationId"],
                    "properties": {"reservationId": {"type": "string"}},
                },
                {"required": ["lines"], "properties": {"lines": {"type": "array"}}},
            ]
        }
    )

    shipment_id: Id
    order_id: Id
    reservation_id: Id | None = None
    lines: Annotated[list[LineIn] | None, Field(min_length=1, max_length=100)] = None


class ReturnIn(Body):
    return_id: Id
    order_id: Id
    sku: Id
    warehouse_id: Id
    quantity: Quantity
    reason: ReturnReason
    condition: ReturnCondition


class TransferIn(Body):
    transfer_id: Id
    sku: Id
    from_warehouse_id: Id
    to_warehouse_id: Id
    quantity: Quantity


class TransferReceiveIn(Body):
    received_quantity: Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY), WHOLE] | None = (
        None
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


class CountIn(Body):
    sku: Id
    warehouse_id: Id
    counted_quantity: Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY), WHOLE]
    notes: Text | None = None


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


# -- responses (documentation of what the routes return) -----------------------------------


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EventMetadata(Out):
    caused_by: str
    correlation_id: str
    causation_id: str | None = None
    request_id: str | None = None


class EventOut(Out):
    event_id: str
    type: str
    stream_id: str
    version: int
    position: int
    recorded_at: datetime
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata
    hash: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="hex SHA-256 link of the stream's hash chain: sha256(previous event's hash "
        "|| canonical bytes of this event); README, 'Verifying the ledger yourself'",
    )


class LevelsOut(Out):
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    damaged: int


class StockOut(LevelsOut):
    sku: str
    warehouse_id: str
    version: int
    updated_at: datetime


class CommandOut(Out):
    events: list[EventOut]
    stock: list[StockOut]


class LineOut(Out):
    sku: str
    warehouse_id: str
    quantity: int


class ReservationOut(Out):
    reservation_id: str
    order_id: str
    status: Literal["active", "confirmed", "released", "expired", "shipped"]
    expires_at: datetime
    lines: list[LineOut]


class ReservationCommandOut(ReservationOut, CommandOut):
    pass


class SkuStockOut(Out):
    sku: str
    warehouses: list[StockOut]
    totals: LevelsOut


class HistoryEventOut(EventOut):
    balance: LevelsOut


class HistoryOut(Out):
    events: list[HistoryEventOut]
    next: str | None = Field(description="pass as `after` for the next page; null at the end")


class EventsOut(Out):
    events: list[EventOut]
    next: str | None = None


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def problem_answers(*answers: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem+json answers, each (status, when it happens)."""
    return {
        code: {
            "description": text,
            "model": ProblemOut,
            "content": {"application/problem+json": {}},
        }
        for code, text in answers
    }


class BreakOut(Out):
    kind: Literal["hash-mismatch", "missing-version", "checkpoint-mismatch", "checkpoint-signature"]
    stream_id: str | None = Field(description="the broken stream (chain breaks)")
    version: int | None = Field(description="the first version of that stream that fails")
    checkpoint_id: int | None = Field(description="the failing checkpoint (checkpoint breaks)")
    detail: str


class AuditReportOut(Out):
    ok: bool = Field(description="true when every chain and every checkpoint verified")
    events_checked: int
    streams_checked: int
    checkpoints_checked: int
    break_count: int
    breaks: list[BreakOut] = Field(description="the first break of each broken stream (≤ 100)")


class CheckpointOut(Out):
    id: int
    position: int = Field(description="covers every event with position ≤ this, and no other")
    event_count: int
    stream_count: int
    digest: str = Field(description="hex sha256 over the sorted streamId:version:hash lines")
    created_at: datetime
    signature: str = Field(description="hex HMAC-SHA256 with the audit key")


class CheckpointsOut(Out):
    checkpoints: list[CheckpointOut]
    next: str | None = Field(description="pass as `after` for the next page; null at the end")


# -- catalog ----------------------------------------------------------------------------------

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Optional = Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")]


class ItemIn(Body):
    name: Name
    description: Optional = ""
    unit_of_measure: Annotated[
        str, StringConstraints(min_length=1, max_length=32, pattern=r"^[^\x00]+$")
    ] = "each"
    valuation_method: ValuationMethod = "fifo"


class WarehouseIn(Body):
    name: Name
    address: Optional = ""


class DeactivateIn(Body):
    reason: Text


class ActivateIn(Body):
    pass


class ItemOut(Out):
    sku: str
    name: str
    description: str
    unit_of_measure: str
    valuation_method: ValuationMethod
    active: bool
    version: int
    updated_at: datetime | None


class WarehouseOut(Out):
    warehouse_id: str
    name: str
    address: str
    active: bool
    version: int
    updated_at: datetime | None


class ItemCommandOut(ItemOut):
    events: list[EventOut]


class WarehouseCommandOut(WarehouseOut):
    events: list[EventOut]


class ItemsOut(Out):
    items: list[ItemOut]
    next: str | None = Field(description="`after` for the next page; null on the last")


class WarehousesOut(Out):
    warehouses: list[WarehouseOut]
    next: str | None = Field(description="`after` for the next page; null on the last")


class StockListOut(Out):
    levels: list[StockOut]
    next: str | None = Field(description="`after` for the next page (`sku:warehouseId`)")


Units = Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY, description="units, >= 0"), WHOLE]


class ReorderRuleIn(Body):
    reorder_point: Units
    reorder_quantity: Quantity
    safety_stock: Units = 0


class ReorderRuleOut(Out):
    sku: str
    warehouse_id: str
    reorder_point: int | None = Field(description="null once the rule was removed")
    reorder_quantity: int | None
    safety_stock: int | None
    alert_id: str | None = Field(description="the open alert, if any")
    alert_kind: Literal["low_stock", "stock_out"] | None
    version: int
    updated_at: datetime | None


class ReorderRuleCommandOut(ReorderRuleOut):
    events: list[EventOut]


class ReorderRulesOut(Out):
    rules: list[ReorderRuleOut]
    next: str | None = Field(description="`after` for the next page (`sku:warehouseId`)")


class AlertOut(Out):
    alert_id: str = Field(description="kept from opening to closing (`SKU:WH:version`)")
    sku: str
    warehouse_id: str
    kind: Literal["low_stock", "stock_out"]
    status: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None = Field(description="null while open")
    available: int = Field(
        description="the stream's current available while open; at closing after"
    )
    reorder_point: int
    suggested_order_quantity: int = Field(
        description="max(reorderQuantity, reorderPoint + safetyStock - projected)"
    )


class AlertsOut(Out):
    alerts: list[AlertOut]
    next: str | None = Field(description="`after` for the next page (an alertId)")


class ExportManifestOut(Out):
    count: int = Field(description="events in the export")
    first_position: int | None = Field(description="null when nothing matched")
    last_position: int | None
    sha256: str = Field(description="hex SHA-256 of the exact bytes of the export")
    as_of_position: int = Field(description="the export holds matching events up to this")
    created_at: datetime
    signature: str | None = Field(
        description="hex HMAC-SHA256 with the audit key over `stockledger-export:<asOfPosition>:"
        "<count>:<firstPosition>:<lastPosition>:<sha256>:<createdAt UTC>` (null: no key set)"
    )
