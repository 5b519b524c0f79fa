"""Low-stock alerts: when a stock stream's level crosses its reorder rule, pure.

`projected = available + inTransit`. At or below the reorder point an alert opens
(LowStockDetected); available at 0 makes it a stock-out (StockOutDetected); projected above the
point closes it (LowStockResolved). The events follow from the rule's state (is an alert open,
of which kind) and the level the stock stream is left at, so a crossing gives exactly one event
however the levels got there, and an open alert is never opened twice.
"""

from __future__ import annotations

from .events import Event, LowStockDetected, LowStockResolved, StockOutDetected
from .state import Levels, ReorderRule, ReorderState


def suggested(rule: ReorderRule, projected: int) -> int:
    """What to order: the rule's quantity, or enough to get back to point + safety stock."""
    return max(rule.reorder_quantity, rule.reorder_point + rule.safety_stock - projected)


def crossings(state: ReorderState, levels: Levels) -> tuple[Event, ...]:
    """The alert events the stream's new `levels` call for under the rule in `state`."""
    rule = state.rule
    available, projected = levels.available, levels.available + levels.in_transit
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
