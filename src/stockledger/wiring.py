"""The composition root: `open_services(settings)` builds the object graph of one process, the
same for the HTTP app, the CLI commands and the benchmarks, and closes what it opened.

Nothing else creates a pool, a Redis client or a ledger for the service's own work (the
benchmarks' store-level scenarios open bare pools on purpose: they measure the store alone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from . import tracing
from .config import Settings
from .projections.redis_stock import RedisStock, redis_client
from .read.projected import ProjectedReader
from .read.sources import ReadSources
from .read.stock import StockReader
from .store.db import create_pool
from .store.event_store import EventStore
from .store.snapshots import StateLoader
from .write.ledger import Ledger


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool[Any]
    store: EventStore
    loader: StateLoader
    ledger: Ledger
    reads: ReadSources  # what the read side (read/) answers from: the store, the projections
    redis: aioredis.Redis | None  # the client, prefixed keys live in redis_stock
    redis_stock: RedisStock | None
    replica: asyncpg.Pool[Any] | None = None  # STOCKLEDGER_READ_DATABASE_URL (api/pinned.py)
    replica_reads: ReadSources | None = None  # the same reads, on the replica

    @property
    def reservation_ttl_seconds(self) -> int:
        return self.settings.reservation_ttl_seconds

    @property
    def audit_key(self) -> str | None:
        key = self.settings.audit_key
        return key.get_secret_value() if key is not None else None


@asynccontextmanager
async def open_services(
    settings: Settings, *, pool_size: int | None = None
) -> AsyncIterator[Services]:
    """Connect to Postgres (and Redis when configured) and wire every service on top."""
    tracing.install_from_environment()  # before the pool: its connections get traced
    pool = await create_pool(settings.require_database_url(), pool_size or settings.db_pool_size)
    store, loader = EventStore(pool), StateLoader(pool)
    ledger = Ledger(
        store,
        loader,
        cache_size=settings.state_cache_size,
        snapshot_every=settings.snapshot_every,
        catalog_required=settings.catalog_required,
    )
    redis = redis_client(settings)
    redis_stock = RedisStock(redis, settings.redis_prefix) if redis is not None else None
    pipeline = settings.kafka_bootstrap_servers is not None  # else reads fold the store
    projected = ProjectedReader(pool, redis_stock) if pipeline else None
    reads = ReadSources(store, loader, StockReader(pool), projected)
    replica, replica_reads = None, None
    if settings.read_database_url:  # connects lazily: a standby that is down delays no start
        size = pool_size or settings.db_pool_size
        replica = await create_pool(settings.read_database_url, size, min_size=0)
        replica_reads = ReadSources(
            EventStore(replica), StateLoader(replica), StockReader(replica), None
        )
    try:
        yield Services(
            settings, pool, store, loader, ledger, reads, redis, redis_stock, replica, replica_reads
        )
    finally:
        if replica is not None:
            await replica.close()
        await ledger.close()
        if redis is not None:
            await redis.aclose()
        await pool.close()
