"""The reports' answers (GET /v1/reports/movements and /turnover)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ...reports.periods import Granularity
from .wire import Out


class MovementLevelsOut(Out):
    """A stream's levels at a period's start or end (available is not a movement's concern)."""

    on_hand: int
    reserved: int
    in_transit: int
    damaged: int
    incoming: int
    quality_control: int
    expired: int = 0


class MovementRowOut(Out):
    period_start: datetime
    period_end: datetime
    sku: str
    warehouse_id: str
    opening: MovementLevelsOut = Field(description="the levels at periodStart")
    received: int
    shipped: int
    returned_resellable: int
    returned_damaged: int
    returned_disposed: int
    transferred_out: int = Field(description="on the source's row")
    transferred_in: int = Field(description="what arrived, on the destination's row")
    lost_in_transit: int = Field(description="the shortfall, on the destination's row")
    adjusted_up: int = Field(description="positive adjustments, counts above included")
    adjusted_down: int = Field(description="negative adjustments, counts below included")
    expected: int = Field(description="put on order by purchase orders (incoming)")
    inspected_accepted: int = Field(description="released from quality control as available")
    inspected_rejected: int = Field(description="rejected at inspection: onHand to damaged")
    lots_expired: int = Field(
        default=0, description="lot-tracked items: onHand moved to expired (LotExpired)"
    )
    closing: MovementLevelsOut = Field(description="the levels at periodEnd (events before it)")


class MovementReportOut(Out):
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    granularity: Granularity
    as_of_position: int
    rows: list[MovementRowOut]
    next: str | None


class TurnoverRowOut(Out):
    sku: str
    warehouse_id: str | None = Field(description="the warehouse asked for; null: all of them")
    units_shipped: int = Field(description="units shipped in the window (returns not netted)")
    average_on_hand: str = Field(description="onHand averaged over the window's time")
    turnover: str | None = Field(description="unitsShipped / averageOnHand; null when 0 held")
    days_of_inventory: str | None = Field(
        description="days / turnover: how long the average stock lasts; null when none shipped"
    )
    cost_of_goods_sold: str = Field(description="the costs the shipments recorded")
    average_inventory_value: str = Field(description="the value on hand averaged over time")
    value_turnover: str | None = Field(
        description="costOfGoodsSold / averageInventoryValue; null when no value held"
    )


class TurnoverReportOut(Out):
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to", description="the window's end: `to`, or now if earlier")
    days: str = Field(description="the window's length in days")
    warehouse_id: str | None
    as_of_position: int
    rows: list[TurnoverRowOut]
    next: str | None
