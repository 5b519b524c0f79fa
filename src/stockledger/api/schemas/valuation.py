"""Finance's answers: one stream's value, the whole inventory's, the cost of goods sold."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from ...domain.catalog.events import ValuationMethod
from .wire import Out

# Money as the server writes it: a decimal string with at least 4 places ("12.3400").
Amount = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{4,}$", examples=["12.3400"])]


class LayerOut(Out):
    """FIFO: units received together at one unit cost, still on hand."""

    quantity: int
    unit_cost: Amount
    value: Amount
    received_at: datetime | None = Field(description="null when the receipt did not say")


class StreamValuationOut(Out):
    sku: str
    warehouse_id: str
    method: ValuationMethod
    at: datetime
    version: int = Field(description="the stream's version at `at`")
    on_hand: int
    value: Amount = Field(description="of the units on hand")
    unit_cost: Amount = Field(description="the average unit cost on hand")
    in_transit: int
    in_transit_value: Amount
    damaged: int
    damaged_value: Amount
    layers: list[LayerOut] = Field(description="FIFO cost layers on hand, oldest first")


class InventoryRowOut(Out):
    sku: str
    warehouse_id: str
    on_hand: int
    value: Amount
    unit_cost: Amount = Field(description="value / onHand (0 without units)")
    in_transit: int
    in_transit_value: Amount
    damaged: int
    damaged_value: Amount


class InventoryTotalsOut(Out):
    """Over every stream of the listing, not only this page (a later page repeats the first's)."""

    streams: int
    on_hand: int
    value: Amount
    in_transit_value: Amount
    damaged_value: Amount


class InventoryValuationOut(Out):
    at: datetime
    totals: InventoryTotalsOut
    as_of_position: int
    rows: list[InventoryRowOut]
    next: str | None = Field(description="`after` for the next page; null on the last")


class LossesOut(Out):
    """Losses at cost by reason, keyed as the reasons are spelled (a row lists the reasons it
    has; the totals every one)."""

    damage: Amount | None = None
    expiry: Amount | None = None
    theft: Amount | None = None
    physical_count: Amount | None = Field(default=None, alias="physical_count")
    system_correction: Amount | None = Field(default=None, alias="system_correction")
    lost_in_transit: Amount | None = Field(default=None, alias="lost_in_transit")
    disposed: Amount | None = None


class CogsRowOut(Out):
    sku: str
    warehouse_id: str
    units_shipped: int
    cost_of_goods_sold: Amount
    losses: LossesOut


class CogsTotalsOut(Out):
    units_shipped: int
    cost_of_goods_sold: Amount
    losses: LossesOut


class CogsReportOut(Out):
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    rows: list[CogsRowOut]
    totals: CogsTotalsOut
    as_of_position: int
