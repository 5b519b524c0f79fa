"""Shared setup of the store scenarios (P5-P9): a Postgres server, named databases, timing.

Postgres: STOCKLEDGER_BENCH_POSTGRES_URL (a server's maintenance database) when set; else the
machine's at 127.0.0.1:5432 when it answers (as the tests do); else an embedded one kept in
`.stockledger/bench/postgres`, so generated databases survive between runs. The scenarios name
their databases `stockledger_bench_*`; a database that already holds what a scenario needs is
reused, anything else is dropped and built again.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from stockledger.ops.local_services import Service, pg_answers, start_postgres
from stockledger.store.db import LEDGER_TABLES, migrate, settle

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DATA_DIR = Path(__file__).resolve().parents[1] / ".stockledger" / "bench"
_server: list[str] = []
_services: list[Service] = []


def server_url() -> str:
    """The maintenance URL of the Postgres server every store scenario uses (started once)."""
    if not _server:
        if url := os.environ.get("STOCKLEDGER_BENCH_POSTGRES_URL"):
            _server.append(url)
        elif pg_answers(MACHINE_POSTGRES):
            _server.append(MACHINE_POSTGRES)
        else:
            service = start_postgres(DATA_DIR / "postgres")
            _services.append(service)  # stopped at exit by ops.local_services
            _server.append(service.url)
    return _server[0]


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(server_url())._replace(path="/" + name))


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(server_url())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fresh_database(name: str) -> str:
    """Drop `name` if it exists, create it and migrate it to every head."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{name}"')
    url = database_url(name)
    await asyncio.to_thread(migrate, url)
    return url


async def reusable_database(
    name: str, ready: Callable[[asyncpg.Connection[Any]], Awaitable[bool]]
) -> str | None:
    """The URL of `name` if it exists and `ready` says it holds what is needed, else None."""
    conn = await asyncpg.connect(server_url())
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await conn.close()
    if not exists:
        return None
    url = database_url(name)
    conn = await asyncpg.connect(url)
    try:
        return url if await ready(conn) else None
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


async def has_events(conn: asyncpg.Connection[Any], at_least: int) -> bool:
    total: int = await conn.fetchval("SELECT count(*) FROM events")
    return total >= at_least


@asynccontextmanager
async def connection(url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    """A plain asyncpg connection (no jsonb codec: `data` comes back as text)."""
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def vacuum_analyze(url: str) -> None:
    """What `seed` and `migrate`'s backfill leave behind (stockledger.store.db.settle), and the
    outbox the bench's loads fill."""
    async with connection(url) as conn:
        await settle(conn, (*LEDGER_TABLES, "outbox"))


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of samples, by the nearest-rank method."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(samples: list[float]) -> str:
    """`p50 0.81 ms, p99 1.52 ms` from samples in seconds."""
    return (
        f"p50 {statistics.median(samples) * 1000:.2f} ms, "
        f"p99 {percentile(samples, 99) * 1000:.2f} ms"
    )


class Timer:
    """Wall time of a block."""

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while generating data (millions of live rows make it crawl)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
