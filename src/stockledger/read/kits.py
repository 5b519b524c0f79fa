"""A kit's definition, and what it makes in one warehouse: folded from its stream (a kit changes
rarely and its stream is short), with its components' levels read like any level."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..domain.kit.state import KitState
from ..domain.kit.views import kit_available
from ..domain.stock.state import StockLevel
from ..domain.streams import kit_stream
from .levels import level
from .sources import EVENT_STORE, Consistency, ReadSources, Source


@dataclass(frozen=True, slots=True)
class KitLevel:
    kit: KitState
    warehouse_id: str
    available: int  # whole kits the components' available units make
    components: tuple[StockLevel, ...]  # a component never stocked there: at zero, version 0
    source: Source  # the least fresh source a component was read from


async def kit(sources: ReadSources, sku: str) -> KitState | None:
    """The kit `sku` is now; None when it was never defined."""
    state = await sources.state(kit_stream(sku))
    return state if isinstance(state, KitState) and state.is_kit else None


async def kit_level(
    sources: ReadSources, kit: KitState, warehouse_id: str, consistency: Consistency = "eventual"
) -> KitLevel:
    """The kit's availability in one warehouse: the minimum over its components of
    floor(available / quantity), beside each component's level."""
    found = await asyncio.gather(
        *(level(sources, x.sku, warehouse_id, consistency) for x in kit.components)
    )
    levels = tuple(
        f[0] if f is not None else StockLevel(x.sku, warehouse_id)
        for x, f in zip(kit.components, found, strict=True)
    )
    available = kit_available(kit.components, {x.sku: x.levels for x in levels})
    read = [f[1] for f in found if f is not None]
    source = next((s for name in _STALEST for s in read if s.name == name), EVENT_STORE)
    return KitLevel(kit, warehouse_id, available, levels, source)


_STALEST = ("redis", "postgres")  # the projections trail the store; Redis may trail Postgres
