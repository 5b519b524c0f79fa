"""The catalog: one item or warehouse (now, or as it was at an instant), and keyset pages of
them by id prefix and active state, from the catalog read model when the pipeline runs, else
folded from the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ..domain.aggregates import State, initial_state
from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.streams import item_stream, like_prefix, warehouse_stream
from ..projections.rows import Catalog
from ..store.snapshots import fold
from .sources import Page, ReadSources, Source


async def _as_of(sources: ReadSources, stream: str, at: datetime | None) -> State:
    """The stream's state now (snapshot + tail), or folded from its events recorded by `at`."""
    if at is None:
        return await sources.state(stream)
    return fold(initial_state(stream), await sources.store.read_stream(stream, until=at))


async def item(sources: ReadSources, sku: str, at: datetime | None = None) -> ItemState | None:
    """The item now, or as it was `at`; None when it was never defined (by then)."""
    state = await _as_of(sources, item_stream(sku), at)
    return state if isinstance(state, ItemState) and state.version else None


async def warehouse(
    sources: ReadSources, warehouse_id: str, at: datetime | None = None
) -> WarehouseState | None:
    """The warehouse now, or as it was `at`; None when it was never defined (by then)."""
    state = await _as_of(sources, warehouse_stream(warehouse_id), at)
    return state if isinstance(state, WarehouseState) and state.version else None


async def item_page(
    sources: ReadSources, prefix: str | None, active: bool | None, after: str | None, limit: int
) -> tuple[Page[ItemState], Source]:
    """Up to `limit` defined items after the SKU `after`, in SKU order."""
    page, source = await _catalog_page(sources, "item", prefix, active, after, limit)
    return Page([x for x in page.rows if isinstance(x, ItemState)], page.more), source


async def warehouse_page(
    sources: ReadSources, prefix: str | None, active: bool | None, after: str | None, limit: int
) -> tuple[Page[WarehouseState], Source]:
    """Up to `limit` defined warehouses after the id `after`, in id order."""
    page, source = await _catalog_page(sources, "warehouse", prefix, active, after, limit)
    return Page([x for x in page.rows if isinstance(x, WarehouseState)], page.more), source


async def _catalog_page(
    sources: ReadSources,
    kind: Literal["item", "warehouse"],
    prefix: str | None,
    active: bool | None,
    after: str | None,
    limit: int,
) -> tuple[Page[Catalog], Source]:
    """A keyset page of the defined items or warehouses, by id prefix and active state."""

    def keep(state: Any) -> bool:
        return bool(state.version) and active in (None, state.active)

    cursor = f"{kind}:{after or ''}"
    if sources.projected is not None:  # the catalog read model
        found = await sources.projected.catalog(kind, prefix or "", active, cursor, limit)
        page = Page(found, len(found) == limit)
    else:
        pattern = like_prefix(f"{kind}:{prefix or ''}")
        page = await sources.states_after(pattern, cursor, limit, keep)
    return page, sources.listing_source
