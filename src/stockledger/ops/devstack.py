"""The local stack behind `stockledger dev`: Postgres, Redis and a Kafka-protocol broker from
Python packages (no Docker), data under one folder, on the default ports when they are free."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
from rich.console import Console

from ..config import Settings
from ..store.db import migrate
from .jobs import backfill_read_models
from .local_services import pick_port, start_kafka, start_postgres, start_redis

DATABASE = "stockledger"


async def _ensure_database(server_url: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()


@contextmanager
def local_stack(data_dir: Path, settings: Settings, console: Console) -> Iterator[Settings]:
    """Start what the settings do not point at, migrate, and stop it all on the way out
    (every child runs in its own process group; a crashed run's children are reaped first)."""
    with ExitStack() as stack:
        update: dict[str, object] = {}
        if not settings.database_url:
            postgres = stack.enter_context(start_postgres(data_dir, pick_port(5432)))
            asyncio.run(_ensure_database(postgres.url))
            update["database_url"] = postgres.url.rsplit("/", 1)[0] + f"/{DATABASE}"
        if not settings.redis_url:
            update["redis_url"] = stack.enter_context(start_redis(data_dir, pick_port(6379))).url
        if not settings.kafka_bootstrap_servers:
            kafka = stack.enter_context(start_kafka(data_dir, pick_port(9092)))
            # The bundled broker (Tansu, in memory) has no idempotent-producer support.
            update |= {"kafka_bootstrap_servers": kafka.url, "kafka_idempotence": False}
        local = settings.model_copy(update=update)
        migrate(local.require_database_url())
        asyncio.run(backfill_read_models(local, console))
        console.print(f"postgres: {local.database_url}")
        console.print(f"redis:    {local.redis_url}")
        console.print(f"kafka:    {local.kafka_bootstrap_servers} (topic {local.kafka_topic})")
        yield local
