"""A whole stockledger (API, relay, projector, expiry) on real Postgres, Redis and Kafka."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

from stockledger.api.app import create_app
from stockledger.config import Settings
from stockledger.store.db import create_pool

from ..e2e.conftest import API_KEYS, Api
from ..support import TcpProxy, eventually


@dataclass
class Pipeline:
    settings: Settings
    api: Api
    pool: asyncpg.Pool[Any]
    redis: aioredis.Redis  # direct, not through the proxy
    redis_proxy: TcpProxy

    async def caught_up(self) -> bool:
        """Outbox empty and every stock, reorder and catalog stream projected at its latest
        version."""
        behind = await self.pool.fetchval(
            "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM ("
            "  SELECT e.stream_id FROM events e"
            "  LEFT JOIN stock_levels s ON s.stream_id = e.stream_id"
            "  LEFT JOIN reorder_views r ON r.stream_id = e.stream_id"
            "  LEFT JOIN catalog_views c ON c.stream_id = e.stream_id"
            "  WHERE split_part(e.stream_id, ':', 1) IN ('stock', 'reorder', 'item', 'warehouse')"
            "  GROUP BY e.stream_id, s.version, r.version, c.version"
            "  HAVING max(e.version) IS DISTINCT FROM COALESCE(s.version, r.version, c.version)"
            ") lagging)"
        )
        return bool(behind == 0)

    async def wait_caught_up(self, within: float = 30) -> None:
        await eventually(self.caught_up, within=within, interval=0.05, what="projections caught up")


def pipeline_settings(
    database_url: str, kafka: str, redis_url: str | None, **overrides: Any
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=kafka,
        kafka_topic=f"events-{uuid.uuid4().hex[:8]}",
        kafka_idempotence=False,
        kafka_consumer_group=f"projector-{uuid.uuid4().hex[:8]}",
        kafka_partitions=3,
        api_keys=API_KEYS,
        expiry_interval_seconds=0.2,
        log_level="WARNING",
        **overrides,
    )


_REDIS_DBS_IN_USE: set[int] = set()


@asynccontextmanager
async def start_pipeline(
    new_database: Callable[[], str],
    kafka: str,
    redis_server: str,
    *,
    redis_db: int | None = None,
    **overrides: Any,
) -> AsyncIterator[Pipeline]:
    """A whole deployment on a database of its own. `redis_db`: share that Redis database
    with other deployments (not flushed; give each its own `redis_prefix`)."""
    parts = urlsplit(redis_server)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    # A Redis database of its own: never one another running deployment of this process uses
    # (a pipeline started inside a test while the module's pipeline runs would flush it).
    free = sorted(set(range(1, 16)) - _REDIS_DBS_IN_USE)
    db_number = random.choice(free) if redis_db is None else redis_db
    _REDIS_DBS_IN_USE.add(db_number)
    direct = aioredis.Redis(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=db_number
    )
    if redis_db is None:
        await direct.flushdb()
    database = await asyncio.to_thread(new_database)  # it runs its own event loop
    redis_url = f"redis://127.0.0.1:{proxy.port}/{db_number}"
    settings = pipeline_settings(database, kafka, redis_url, **overrides)
    app = create_app(settings)
    pool = await create_pool(settings.require_database_url())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            running = Pipeline(settings, Api(http), pool, direct, proxy)
            # Warm up: the relay elects itself and creates the topic, the projector joins its
            # group; the first event through proves the whole path before any test measures it.
            await running.api.receive(f"WARMUP-{uuid.uuid4().hex[:8]}", "WH-A", 1)
            await running.wait_caught_up(within=60)
            yield running
    await pool.close()
    if redis_db is None:
        await direct.flushdb()
    _REDIS_DBS_IN_USE.discard(db_number)
    await direct.aclose()
    await proxy.cut()
