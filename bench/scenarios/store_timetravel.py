"""P6: time travel over HTTP to random timestamps on one stream of 100,000 events, one client.

The stream is one hot SKU's stock stream, written with its reservation streams and with
snapshots every 100 versions (what `Ledger._remember` saves). The server is a real
`stockledger serve` process (uvicorn, uvloop, httptools; no relay, projector or expiry worker:
the route reads only the event store). The client is one keep-alive connection
(`http.client`) in a thread of this process. Nothing is pinned to a core.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson

from bench.results import Result
from bench.runner import Context, scenario
from bench.storebench import (
    Timer,
    fresh_database,
    load_average,
    percentile,
    reusable_database,
    summary_ms,
    vacuum_analyze,
)
from bench.storedata import Shop, Snapshots, build, until_version
from stockledger.domain.stock.state import StockState
from stockledger.ops.local_services import free_port
from stockledger.store.db import create_pool
from stockledger.store.snapshots import StateLoader

GOAL_P99_MS = 10.0
KEY = "bench-timetravel-key"


async def stream_database(
    context: Context, name: str, prefix: str, versions: int, step: timedelta
) -> tuple[str, str]:
    """A database whose stream `stock:{prefix}SKU-000000:WH-0` has exactly `versions` events
    (plus its reservation streams) and snapshots every 100; built once, then reused."""
    shop = Shop(skus=1, warehouses=1, prefix=prefix, step=step)
    stream = shop.stock[0]

    async def ready(conn: asyncpg.Connection[Any]) -> bool:
        found = await conn.fetchval("SELECT max(version) FROM events WHERE stream_id = $1", stream)
        return bool(found == versions)

    if (url := await reusable_database(name, ready)) is not None:
        context.console.print(f"reusing {name} ({stream}: {versions:,} events)")
        return url, stream
    url = await fresh_database(name)
    with Timer() as took:
        written = await build(
            url,
            shop,
            until_version(0, versions),
            snapshots=Snapshots(100, lambda s: s.startswith("stock:")),
        )
        await vacuum_analyze(url)
    context.console.print(
        f"built {name}: {written:,} events ({stream}: {versions:,}) in {took.seconds:.0f} s"
    )
    return url, stream


@asynccontextmanager
async def serve(url: str) -> AsyncIterator[int]:
    """`stockledger serve` on a free port of 127.0.0.1, stopped afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "STOCKLEDGER_DATABASE_URL": url,
        "STOCKLEDGER_API_KEYS": f"{KEY}:bench:warehouse",
        "STOCKLEDGER_HOST": "127.0.0.1",
        "STOCKLEDGER_PORT": str(port),
        "STOCKLEDGER_LOG_LEVEL": "WARNING",
    }
    env.pop("STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS", None)
    cli = Path(sys.executable).with_name("stockledger")
    argv = [str(cli), "serve", "--no-expiry", "--no-relay", "--no-projector"]
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once; waited on in a thread)
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(_healthy, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise RuntimeError(f"stockledger serve did not come up: {err}")
            await asyncio.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def travel(port: int, path: str, moments: list[datetime]) -> tuple[list[float], list[Any]]:
    """GET `path?timestamp=` for each moment on ONE keep-alive connection; latencies in s."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {KEY}"}
    latencies, bodies = [], []
    try:
        for moment in moments:
            target = f"{path}?timestamp={quote(moment.isoformat())}"
            started = time.perf_counter()
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            body = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"GET {target}: {response.status} {body[:300]!r}")
            bodies.append(orjson.loads(body))
    finally:
        conn.close()
    return latencies, bodies


@scenario("P6", "time travel over HTTP, random timestamps, one stream of 100,000 events")
async def run(context: Context) -> list[Result]:
    versions = 100_000
    url, stream = await stream_database(
        context, "stockledger_bench_timetravel", "TT", versions, timedelta(seconds=60)
    )
    pool = await create_pool(url, 2)
    try:
        span_row = await pool.fetchrow(
            "SELECT min(recorded_at), max(recorded_at) FROM events WHERE stream_id = $1", stream
        )
        assert span_row is not None
        first, last = span_row.values()
        rng = random.Random(6)
        span = (last - first).total_seconds()
        count = 300 if context.quick else 3_000
        moments = [first + timedelta(seconds=rng.uniform(0, span)) for _ in range(count + 100)]
        _, sku, warehouse = stream.split(":")
        path = f"/v1/stock/{sku}/{warehouse}/at"
        async with serve(url) as port:
            load = load_average()
            latencies, bodies = await asyncio.to_thread(travel, port, path, moments)
        latencies, bodies, moments = latencies[100:], bodies[100:], moments[100:]  # warm-up
        # The answers are right: they match a fold of snapshot + events (StateLoader).
        loader = StateLoader(pool)
        for moment, body in list(zip(moments, bodies, strict=True))[:5]:
            state = (await loader.load([stream], until=moment))[stream]
            assert isinstance(state, StockState)
            assert (body["onHand"], body["reserved"]) == (
                state.levels.on_hand,
                state.levels.reserved,
            )
    finally:
        await pool.close()
    p99 = percentile(latencies, 99) * 1000
    return [
        Result(
            scenario=f"P6 time travel GET .../at?timestamp= on a {versions:,}-event stream, "
            "1 client",
            figure=f"{summary_ms(latencies)} ({len(latencies):,} requests; {load})",
            ceiling="-",
            ratio=None,
            goal=f"p99 <= {GOAL_P99_MS:.0f} ms",
            met=p99 <= GOAL_P99_MS,
        )
    ]
