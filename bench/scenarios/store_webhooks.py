"""W1: webhook deliveries/s to a fast local receiver, vs the same HTTP client alone.

The ledger: 20,000 committed events of the bench shop (receipts, reservations, shipments on
3,000 stock streams and the reservation streams), built once and kept. One webhook subscribed
to every event, the matcher's cursor at 0: the dispatcher (`webhooks.dispatcher.Dispatcher`,
in this process, as `serve` runs it) matches the whole log, records the deliveries and sends
them, each stream's in version order, 16 in flight (STOCKLEDGER_WEBHOOKS_CONCURRENCY's
default); the figure is the events over the time until the last delivery is recorded
`delivered`. The receiver is a raw uvloop server answering every request at once (the load
generator's constant server), pinned to CPU 1.

The ceiling, same run, same receiver: the very same signed bodies posted by the same client
(`webhooks.sender.Sender`: its aiohttp pool, headers and standardwebhooks signature), 16 in
flight, with no database at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg

from bench.harness import LOAD_CPU, ROOT, pinned
from bench.results import Result
from bench.runner import Context, scenario
from bench.storebench import Timer, fresh_database, has_events, load_average, reusable_database
from bench.storedata import Shop, build
from stockledger.config import Settings
from stockledger.ops.local_services import free_port
from stockledger.store.db import head_revisions
from stockledger.store.rows import ENVELOPE_JOIN, envelope_sql
from stockledger.webhooks.dispatcher import Dispatcher
from stockledger.webhooks.queue import Due
from stockledger.webhooks.secret_box import SecretBox
from stockledger.webhooks.sender import Sender
from stockledger.webhooks.subscriptions import register
from stockledger.wiring import open_services

GOAL_RATE = 1_000
CONCURRENCY = 16
KEY = "bench-webhook-key"


async def _ready(conn: asyncpg.Connection[Any], total: int) -> bool:
    """Whether a kept database has the events and the schema of this checkout."""
    versions = {r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version")}
    return versions == head_revisions() and await has_events(conn, total)


async def ledger(context: Context, total: int) -> str:
    name = f"stockledger_bench_webhooks_{total // 1000}k"
    if (url := await reusable_database(name, lambda conn: _ready(conn, total))) is None:
        url = await fresh_database(name)
        with Timer() as took:
            await build(url, Shop(skus=1_000, prefix="WB"), lambda s: s.emitted >= total)
        context.console.print(f"built {name} in {took.seconds:.0f} s")
    return url


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[str]:
    """The URL of a constant server on CPU 1 (bench/loadgen.py --serve-constant)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.loadgen", "--serve-constant", str(port)]
    server = await asyncio.create_subprocess_exec(*pinned(LOAD_CPU, argv), cwd=ROOT)
    try:
        for _ in range(100):  # until it listens
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        server.terminate()
        await server.wait()


async def delivered(pool: asyncpg.Pool[Any], events: int) -> None:
    """Until every event's delivery is recorded `delivered` (polled every 250 ms)."""
    count = "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
    seen, since = 0, time.perf_counter()
    while (now := await pool.fetchval(count)) < events:
        if now > seen:
            seen, since = now, time.perf_counter()
        elif time.perf_counter() - since > 60:
            raise RuntimeError(f"no delivery recorded for 60 s ({now:,} of {events:,})")
        await asyncio.sleep(0.25)


async def ceiling(url: str, secret: str, bodies: list[tuple[str, bytes]]) -> float:
    """Seconds to POST every body with the dispatcher's client, CONCURRENCY in flight."""
    sender = Sender(url, secret, timeout=10, concurrency=CONCURRENCY, allow_private=True)
    work = iter(bodies)

    async def worker() -> None:
        for event_id, body in work:
            attempt = await sender.post(Due(uuid4(), "", 0, None, event_id, None, body))
            assert attempt.ok, attempt

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started
    finally:
        await sender.close()


@scenario("W1", "webhook deliveries/s to a fast local receiver, vs the same client alone")
async def run(context: Context) -> list[Result]:
    total = 5_000 if context.quick else 20_000
    url = await ledger(context, total)
    settings = Settings(
        database_url=url,
        webhooks_secret_key=KEY,
        webhooks_allow_private=True,
        webhooks_concurrency=CONCURRENCY,
        log_level="WARNING",
    )
    box = SecretBox([KEY])
    async with open_services(settings, pool_size=8) as services, receiver() as target:
        pool = services.pool
        await pool.execute("DELETE FROM webhooks")
        await pool.execute("UPDATE webhook_cursor SET position = 0")
        _, secret = await register(
            pool,
            box,
            url=target,
            event_types=None,
            sku_prefix=None,
            description="W1",
            principal="bench",
            now=datetime.now(UTC),
        )
        events = await pool.fetchval("SELECT count(*) FROM events")
        dispatcher = Dispatcher(services.store, settings, box)
        task = asyncio.create_task(dispatcher.run())
        started = time.perf_counter()
        try:
            await delivered(pool, events)
            took = time.perf_counter() - started
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        load = load_average()
        # The ceiling posts the same bodies, rendered as the sender reads them.
        rows = await pool.fetch(
            f"SELECT e.event_id::text, {envelope_sql()} FROM webhook_deliveries d "
            f"JOIN events e ON e.position = d.position {ENVELOPE_JOIN} ORDER BY d.position"
        )
        bodies = [(event_id, body.encode()) for event_id, body in rows]
        assert len(bodies) == events
        ceiling_s = await ceiling(target, secret, bodies)
        await pool.execute("DELETE FROM webhooks")
    rate, ceiling_rate = events / took, events / ceiling_s
    context.console.print(f"dispatcher {events:,} in {took:.1f} s; ceiling {ceiling_s:.1f} s")
    return [
        Result(
            scenario=f"W1 webhook deliveries of a {events:,}-event log to a fast local receiver "
            f"(dispatcher in the bench process, receiver on CPU {LOAD_CPU}, {CONCURRENCY} in "
            "flight)",
            figure=f"{rate:,.0f} deliveries/s ({events:,} in {took:.1f} s: matched, recorded, "
            f"sent, recorded delivered; {load})",
            ceiling=f"the same client posting the same signed bodies, no database: "
            f"{ceiling_rate:,.0f}/s",
            ratio=rate / ceiling_rate,
            goal=f">= {GOAL_RATE:,} deliveries/s",
            met=rate >= GOAL_RATE,
        )
    ]
