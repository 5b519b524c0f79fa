"""Low-stock alerts: when a stock stream's level crosses its reorder rule, pure.

`projected = available + inTransit + incoming` (what open purchase orders still bring). At or
below the reorder point an alert opens (LowStockDetected); available at 0 makes it a stock-out
(StockOutDetected); projected above the point closes it (LowStockResolved). The events follow
from the rule's state (is an alert open, of which kind) and the level the stock stream is left
at, so a crossing gives exactly one event however the levels got there, and an open alert is
never opened twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from ..events import Event
from ..stock.state import Levels
from ..streams import like_prefix
from .events import LowStockDetected, LowStockResolved, StockOutDetected
from .state import AlertKind, ReorderRule, ReorderState, evolve_reorder


def projected_of(levels: Levels) -> int:
    """What the stream will have once what is on its way arrives."""
    return levels.available + levels.in_transit + levels.incoming


def suggested(rule: ReorderRule, projected: int) -> int:
    """What to order: the rule's quantity, or enough to get back to point + safety stock."""
    return max(rule.reorder_quantity, rule.reorder_point + rule.safety_stock - projected)


def crossings(state: ReorderState, levels: Levels) -> tuple[Event, ...]:
    """The alert events the stream's new `levels` call for under the rule in `state`."""
    rule = state.rule
    available, projected = levels.available, projected_of(levels)
    if rule is None:  # no rule: an alert still open (the rule just went) closes
        if state.alert_id is None:
            return ()
        return (LowStockResolved(state.alert_id, state.sku, state.warehouse_id, available,
                                 projected, 0),)  # fmt: skip
    where = (state.sku, state.warehouse_id)
    order = suggested(rule, projected)
    if state.alert_id is None:
        if projected > rule.reorder_point:
            return ()
        alert = f"{state.sku}:{state.warehouse_id}:{state.version + 1}"
        opened = LowStockDetected(alert, *where, available, projected, rule.reorder_point, order)
        if available > 0:
            return (opened,)
        out = StockOutDetected(alert, *where, available, projected, rule.reorder_point, order)
        return opened, out
    if projected > rule.reorder_point:
        return (LowStockResolved(state.alert_id, *where, available, projected, rule.reorder_point),)
    if state.alert_kind == "low_stock" and available == 0:
        alert = state.alert_id
        return (StockOutDetected(alert, *where, available, projected, rule.reorder_point, order),)
    return ()


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert from opening to closing, as its events tell it. `available` is the value at
    the last alert event (the readers show the stream's current available while it is open)."""

    alert_id: str
    sku: str
    warehouse_id: str
    kind: AlertKind
    opened_version: int
    opened_at: datetime
    available: int
    reorder_point: int
    suggested_order_quantity: int
    closed_at: datetime | None = None

    @property
    def status(self) -> str:
        return "open" if self.closed_at is None else "closed"


ALERT_EVENTS = frozenset({"LowStockDetected", "StockOutDetected", "LowStockResolved"})


def alert_after(alert: Alert | None, event: Event, version: int, at: datetime) -> Alert | None:
    """The alert an alert event (at `version` of its reorder stream, recorded `at`) leaves:
    opened, turned into a stock-out, or closed. Any other event leaves it as it is."""
    match event:
        case LowStockDetected():
            where = (event.alert_id, event.sku, event.warehouse_id)
            point, order = event.reorder_point, event.suggested_order_quantity
            return Alert(*where, "low_stock", version, at, event.available, point, order)
        case StockOutDetected() if alert is not None:
            return replace(alert, kind="stock_out", available=event.available,
                           suggested_order_quantity=event.suggested_order_quantity)  # fmt: skip
        case LowStockResolved() if alert is not None:
            return replace(alert, available=event.available, closed_at=at)
    return alert


def fold_reorder(
    state: ReorderState, open_alert: Alert | None, steps: Iterable[tuple[Event, int, datetime]]
) -> tuple[ReorderState, dict[str, Alert]]:
    """A reorder stream after the (event, version, recordedAt) `steps`, and every alert they
    opened, changed or closed (the last shape of each), from the alert open before them."""
    alerts: dict[str, Alert] = {}
    alert = open_alert
    for event, version, at in steps:
        state = evolve_reorder(state, event, at)
        if event.TYPE in ALERT_EVENTS:
            alert = alert_after(alert, event, version, at)
            if alert is not None:
                alerts[alert.alert_id] = alert
    return state, alerts


def live(alert: Alert, levels: Levels, rule: ReorderRule | None) -> Alert:
    """An open alert as it stands at the stream's current `levels`: its available now, and the
    reorder point and what to order now under the rule in force."""
    if alert.closed_at is not None:
        return alert
    if rule is None:  # the rule went: the alert closes with the next event; as it was
        return replace(alert, available=levels.available)
    projected = projected_of(levels)
    return replace(
        alert,
        available=levels.available,
        reorder_point=rule.reorder_point,
        suggested_order_quantity=suggested(rule, projected),
    )


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """GET /v1/alerts: a keyset page in (reorder stream, opening version) order."""

    status: str | None = None  # "open" | "closed"
    warehouse_id: str | None = None
    sku: str | None = None
    after: str | None = None  # an alert id, `SKU:WH:version`
    limit: int = 100

    @property
    def after_stream(self) -> str:
        if self.after is None:
            return ""
        sku, warehouse_id, _ = self.after.split(":")
        return f"reorder:{sku}:{warehouse_id}"

    @property
    def after_version(self) -> int:
        return int(self.after.split(":")[2]) if self.after else 0

    def keeps(self, alert: Alert) -> bool:
        """The status and warehouse filters (the SKU one is the stream pattern)."""
        return self.status in (None, alert.status) and self.warehouse_id in (
            None,
            alert.warehouse_id,
        )

    @property
    def pattern(self) -> str:
        """The LIKE pattern of the reorder streams asked for."""
        return like_prefix(f"reorder:{self.sku}:" if self.sku else "reorder:")
