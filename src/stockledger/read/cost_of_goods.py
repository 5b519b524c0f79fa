"""The cost of goods sold in a period and the losses at cost by reason, per stock stream: a
set-based sum of the costs the shipments and losses recorded in `stock_values`, up to an
`asOfPosition` like every valuation read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from ..domain.valuation import ZERO, text
from .inventory_value import stream_filter

LOSS_REASONS = (
    "damage",
    "expiry",
    "theft",
    "physical_count",
    "system_correction",
    "lost_in_transit",
    "disposed",
)

# The CSV columns of COGS rows, in the order of their fields.
COGS_COLUMNS = (
    "sku",
    "warehouseId",
    "unitsShipped",
    "costOfGoodsSold",
    *(f"losses.{reason}" for reason in LOSS_REASONS),
)


_COGS = """
SELECT stream_id, loss_reason, sum(units_shipped)::bigint AS units, sum(cogs) AS cogs,
       sum(loss) AS loss
FROM stock_values
WHERE recorded_at >= $1 AND recorded_at < $2 AND position <= $3 AND {streams}
  AND (units_shipped <> 0 OR cogs <> 0 OR loss <> 0)
GROUP BY stream_id, loss_reason
ORDER BY stream_id
"""


async def cogs(
    pool: asyncpg.Pool[Any],
    since: datetime,
    until: datetime,
    as_of: int,
    *,
    sku: str | None = None,
    warehouse_id: str | None = None,
) -> dict[str, Any]:
    """What the goods shipped in [since, until) cost, and the losses at cost by reason, per
    stock stream, with totals."""
    streams, args = stream_filter(sku, warehouse_id, "stream_id", 4)
    records = await pool.fetch(_COGS.format(streams=streams), since, until, as_of, *args)
    by_stream: dict[str, dict[str, Any]] = {}
    total_cogs, total_losses = ZERO, dict.fromkeys(LOSS_REASONS, ZERO)
    for r in records:
        _, row_sku, row_warehouse = r["stream_id"].split(":")
        row = by_stream.setdefault(
            r["stream_id"],
            {
                "sku": row_sku,
                "warehouseId": row_warehouse,
                "unitsShipped": 0,
                "cogs": ZERO,
                "losses": {},
            },
        )
        row["unitsShipped"] += r["units"]
        row["cogs"] += r["cogs"]
        total_cogs += r["cogs"]
        if r["loss_reason"] is not None and r["loss"]:
            reason = r["loss_reason"]
            row["losses"][reason] = row["losses"].get(reason, ZERO) + r["loss"]
            total_losses[reason] += r["loss"]
    rows = [
        {
            "sku": row["sku"],
            "warehouseId": row["warehouseId"],
            "unitsShipped": row["unitsShipped"],
            "costOfGoodsSold": text(row["cogs"]),
            "losses": {k: text(v) for k, v in sorted(row["losses"].items())},
        }
        for row in by_stream.values()
    ]
    return {
        "rows": rows,
        "totals": {
            "unitsShipped": sum(row["unitsShipped"] for row in rows),
            "costOfGoodsSold": text(total_cogs),
            "losses": {k: text(v) for k, v in total_losses.items()},
        },
    }
