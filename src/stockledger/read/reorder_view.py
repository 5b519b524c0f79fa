"""Reorder rules and their alerts: one stream's rule, the rules in force, and the low-stock and
stock-out alerts (from the alerts read model when the pipeline runs, else folded from the
reorder streams' events)."""

from __future__ import annotations

from typing import Any

from ..domain.reorder.alerts import Alert, AlertQuery, live
from ..domain.reorder.state import ReorderState
from ..domain.stock.state import StockState
from ..domain.streams import reorder_stream, stock_stream
from .sources import EVENT_STORE, READ_MODEL, Page, ReadSources, Source


async def rule(sources: ReadSources, sku: str, warehouse_id: str) -> ReorderState | None:
    """The stream's rule and its open alert (folded from its stream); None without a rule."""
    state = await sources.state(reorder_stream(sku, warehouse_id))
    return state if isinstance(state, ReorderState) and state.rule is not None else None


async def rules_page(
    sources: ReadSources, warehouse_id: str | None, after: str | None, limit: int
) -> Page[ReorderState]:
    """The rules in force after the `sku:warehouseId` `after`, in that order (folded)."""

    def keep(state: Any) -> bool:  # a rule in force, in the warehouse asked for
        in_force = isinstance(state, ReorderState) and state.rule is not None
        return in_force and warehouse_id in (None, state.warehouse_id)

    return await sources.states_after("reorder:%", f"reorder:{after or ''}", limit, keep)


async def alerts(sources: ReadSources, query: AlertQuery) -> tuple[Page[Alert], Source]:
    """A page of alerts in (SKU, warehouse, opening) order: an open alert with the stream's
    current available and what to order now, a closed one with the values at closing."""
    if sources.projected is not None:
        found, source = await sources.projected.alerts(query), READ_MODEL
    else:
        found, source = await _store_alerts(sources, query), EVENT_STORE
    return Page(found, len(found) == query.limit), source


async def _store_alerts(sources: ReadSources, query: AlertQuery) -> list[Alert]:
    """The alert page folded from the reorder streams' events (no projections): streams by a
    loose index scan from the cursor's, each stream's alerts from its alert events, the open
    ones at their stream's current level."""
    found: list[Alert] = []
    cursor = (query.after_stream, query.after_version)
    streams = [query.after_stream] if query.after else []
    after = query.after_stream or "reorder:"
    while True:
        batch = await sources.stock.streams_after(query.pattern, after, query.limit)
        streams += batch
        for alert in await sources.stock.alert_history(streams):
            key = (reorder_stream(alert.sku, alert.warehouse_id), alert.opened_version)
            if key > cursor and query.keeps(alert):
                found.append(alert)
        if len(found) >= query.limit or len(batch) < query.limit:
            break
        after, streams = batch[-1], []
    found = found[: query.limit]
    open_ = [a for a in found if a.closed_at is None]
    wanted = [x for a in open_ for x in (stock_stream(a.sku, a.warehouse_id),
                                         reorder_stream(a.sku, a.warehouse_id))]  # fmt: skip
    states = await sources.loader.load(wanted) if wanted else {}
    now: dict[str, Alert] = {}
    for a in open_:
        stock = states[stock_stream(a.sku, a.warehouse_id)]
        reorder = states[reorder_stream(a.sku, a.warehouse_id)]
        if isinstance(stock, StockState) and isinstance(reorder, ReorderState):
            now[a.alert_id] = live(a, stock.level.levels, reorder.rule)
    return [now.get(a.alert_id, a) for a in found]
