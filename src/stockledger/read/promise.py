"""Available to promise for one SKU: what is available now (one warehouse, or summed over every
warehouse that holds it) and the open purchase order lines by date, as a timeline.

`sku_timeline` is the read a kit combines: `promise_timeline` reads the timeline of each
component, then `domain.promise.kit_timeline` takes, per date, the fewest kits its components
allow. A kit holds no stock and has no purchase order lines of its own.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from ..domain.promise import Point, kit_timeline, timeline
from . import levels
from . import purchase_orders as orders
from .kits import kit
from .sources import ReadSources


async def sku_timeline(
    sources: ReadSources, sku: str, warehouse_id: str | None, today: date, horizon_days: int
) -> tuple[int, tuple[Point, ...]]:
    """(available now, the timeline up to today + `horizon_days`) of `sku`."""
    if warehouse_id is None:
        found, _ = await levels.sku_levels(sources, sku)
        available = sum(x.levels.available for x in found)
    else:
        one = await levels.level(sources, sku, warehouse_id)
        available = one[0].levels.available if one is not None else 0
    last = today + timedelta(days=horizon_days)
    lines = await orders.open_lines(sources.stock.pool, sku, warehouse_id, last, today)
    return available, timeline(available, lines, today, horizon_days)


async def promise_timeline(
    sources: ReadSources, sku: str, warehouse_id: str | None, today: date, horizon_days: int
) -> tuple[int, tuple[Point, ...]]:
    """`sku_timeline` of an SKU; for a kit, the fewest kits its components' timelines allow."""
    defined = await kit(sources, sku)
    if defined is None:
        return await sku_timeline(sources, sku, warehouse_id, today, horizon_days)
    parts = await asyncio.gather(
        *(
            sku_timeline(sources, x.sku, warehouse_id, today, horizon_days)
            for x in defined.components
        )
    )
    return kit_timeline(
        [
            (x.quantity, available, points)
            for x, (available, points) in zip(defined.components, parts, strict=True)
        ]
    )
