"""Continuous verification inside `serve`: a low-rate sample of projections against the store.

Every few seconds the elected verifier picks random stock streams, reads each one's Postgres row
and Redis hash, folds the store up to the version that row holds, and compares. A lagging row
is no drift (it is compared at its own version); a row whose levels differ from the fold at its
version is: counted in `stockledger_projection_drift_total{projection}`, logged, and reported
(pipeline/status.py), so `/ready` turns degraded until a replay repairs it. `verify` stays
the full check; this one finds drift within minutes on a live deployment for a few queries a
second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import structlog
from redis.exceptions import RedisError

from ..domain.stock.state import Levels, StockState
from ..metrics import PROJECTION_DRIFT
from ..pipeline.status import report
from ..store.rows import levels_of
from ..store.snapshots import StateLoader
from .redis_stock import RedisStock

log = structlog.get_logger()

_SAMPLE = """
SELECT stream_id, sku, warehouse_id, on_hand, reserved, in_transit, damaged, incoming,
       quality_control, expired, version
FROM stock_levels TABLESAMPLE BERNOULLI ($1) LIMIT $2
"""


async def _folded(loader: StateLoader, stream_id: str, version: int) -> Levels | None:
    state = (await loader.load([stream_id], version=version)).get(stream_id)
    if not isinstance(state, StockState) or state.version != version:
        return None  # the store has no such version: that is drift too
    return state.levels


async def sample_once(pool: asyncpg.Pool[Any], redis: RedisStock | None, streams: int) -> list[str]:
    """Compare `streams` random stock streams' projections with the store; the drifts found."""
    total: int = await pool.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE relname = 'stock_levels'"
    )
    percent = min(100.0, 100.0 * streams * 4 / max(total, 1))  # ~4x the rows, then LIMIT
    rows = await pool.fetch(_SAMPLE, percent, streams)
    loader = StateLoader(pool)
    drifts: list[str] = []
    for row in rows:
        stream_id = row["stream_id"]
        held = levels_of(row)
        if await _folded(loader, stream_id, row["version"]) != held:
            drifts.append(f"{stream_id} (postgres at v{row['version']})")
        if redis is None:
            continue
        try:
            projected = await redis.level(row["sku"], row["warehouse_id"])
            cached = projected.level if projected is not None else None
        except (RedisError, OSError):
            continue  # Redis away: /ready says so already
        if cached is not None and await _folded(loader, stream_id, cached.version) != (
            cached.levels
        ):
            drifts.append(f"{stream_id} (redis at v{cached.version})")
    for drift in drifts:
        PROJECTION_DRIFT.labels("redis" if "(redis" in drift else "postgres").inc()
        log.error("projection drift", stream=drift, hint="stockledger replay repairs it")
    return drifts


async def run_sampler(
    pool: asyncpg.Pool[Any], redis: RedisStock | None, *, every_seconds: float, streams: int
) -> None:
    while True:
        try:
            drifts = await sample_once(pool, redis, streams)
            problem = (
                f"drift in {len(drifts)} sampled stream(s): {', '.join(drifts[:5])}"
                if drifts
                else None
            )
            await report(pool, "verifier", problem=problem, details={"sampled": streams})
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("projection sample failed", error=repr(error))
        await asyncio.sleep(every_seconds)
