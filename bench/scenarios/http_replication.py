"""P1S, F1, X1R: what a standby costs and buys, on Postgres pairs of the machine's binaries.

Each uses a primary with a streaming standby started for the run from the machine's Postgres
binaries (ops/local_services/replication.py: /usr/lib/postgresql/15/bin, or
STOCKLEDGER_PG_BIN), so both sides of a ratio run on the same Postgres build and settings:

- P1S: P1's load (3,000 streams, 64 clients) on a primary whose standby is synchronous (a
  commit waits for the standby's flush), against the same load on a primary whose standby is
  asynchronous. The cost of not losing anything in a failover.
- F1: P1's load on a synchronous pair; the primary's process group is killed mid-load and the
  standby promoted one second later (a manual failover: a failover manager adds its detection
  time). The figure: seconds from the kill to the first 201 on the new primary (a probe sends
  a reservation every 20 ms from the kill on), and the requests refused (503) meanwhile.
- X1R: P1's load with a whole-ledger export streamed from the standby in a loop
  (STOCKLEDGER_READ_DATABASE_URL), against P1 alone on the same server.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from bench.harness import SPLIT, Server, harness, latency, load_note, per_second, statuses
from bench.loadgen import Stats
from bench.results import Result
from bench.runner import Context, scenario
from bench.scenarios.http_rate_limits import p1_spec
from stockledger.ops.local_services import replication
from stockledger.ops.local_services.replication import ReplicatedPostgres
from stockledger.store.db import migrate

SKUS, WAREHOUSES, CLIENTS = 1_000, ("WH-A", "WH-B", "WH-C"), 64
UNITS = 1_000_000
WARMUP = 2.0
DATABASE = "stockledger"


async def _pair(root: Path, synchronous: bool) -> tuple[ReplicatedPostgres, str]:
    if not replication.available():
        raise RuntimeError(f"no Postgres binaries in {replication.PG_BIN} (STOCKLEDGER_PG_BIN)")
    pg = ReplicatedPostgres(root, synchronous=synchronous)
    await asyncio.to_thread(pg.start)
    conn = await asyncpg.connect(pg.primary.url())
    try:
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    url = pg.url(DATABASE)
    await asyncio.to_thread(migrate, url)
    await asyncio.to_thread(pg.wait_replayed)
    return pg, url


def _streams(prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]


@scenario("P1S", "P1 on a primary with a synchronous standby vs an asynchronous one")
async def reserve_with_synchronous_standby(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    runs: dict[bool, Stats] = {}
    for synchronous in (True, False):
        label = "sync" if synchronous else "async"
        with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as root:
            pg, url = await _pair(Path(root), synchronous)
            try:
                async with h.server(f"P1S-{label}", database_url=url) as server:
                    prefix = h.ids(f"P1S{label}")
                    streams = _streams(prefix)
                    context.console.print(f"{label}: receiving {len(streams):,} streams")
                    await server.receive(streams, UNITS)
                    stats = await server.drive(
                        p1_spec(server, prefix, streams, seconds), f"P1S-{label}"
                    )
                    context.console.print(f"{label}: {stats.rate_of(201):,.0f}/s {statuses(stats)}")
                    runs[synchronous] = stats
            finally:
                await asyncio.to_thread(pg.stop)
    sync, plain = runs[True], runs[False]
    ratio = sync.rate_of(201) / plain.rate_of(201) if plain.rate_of(201) else None
    failed = sync.completed - sync.count(201)
    return [
        Result(
            scenario=f"P1S reserve over HTTP on a primary with a synchronous standby, {SKUS:,} "
            f"SKUs x 3 warehouses, {CLIENTS} clients, {seconds:.0f} s ({SPLIT})",
            figure=f"{per_second(sync.rate_of(201))} reservations, {latency(sync)}; "
            f"{failed:,} not 201; {load_note(sync)}",
            ceiling=f"{per_second(plain.rate_of(201))} with an asynchronous standby, "
            f"{latency(plain)}",
            ratio=ratio,
            goal=">= 0.7x the asynchronous standby",
            met=(ratio or 0) >= 0.7 and failed == 0,
        )
    ]


@scenario("F1", "failover under P1 load: seconds to the first 201, requests refused")
async def failover_under_load(context: Context) -> list[Result]:
    h = await harness()
    seconds = 12.0 if context.quick else 30.0
    kill_after = WARMUP + 3.0
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as root:
        pg, url = await _pair(Path(root), synchronous=True)
        try:
            async with h.server("F1", database_url=url) as server:
                prefix = h.ids("F1")
                streams = _streams(prefix)
                context.console.print(f"setup: receiving {len(streams):,} streams")
                await server.receive(streams, UNITS)
                load = asyncio.create_task(
                    server.drive(p1_spec(server, prefix, streams, seconds), "F1")
                )
                await asyncio.sleep(kill_after)
                killed = time.monotonic()
                probe = asyncio.create_task(_first_201(server, prefix))
                await asyncio.to_thread(pg.kill_primary)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(pg.promote)
                back = await probe - killed
                stats = await load
        finally:
            await asyncio.to_thread(pg.stop)
    refused = stats.count(503)
    other = stats.completed - stats.count(201) - refused
    context.console.print(f"first 201 {back:.1f} s after the kill; {statuses(stats)}")
    return [
        Result(
            scenario=f"F1 failover under P1 load: primary killed (kill -9 of its process group) "
            f"{kill_after - WARMUP:.0f} s into the window, synchronous standby promoted 1 s "
            f"later, {CLIENTS} clients, {seconds:.0f} s ({SPLIT})",
            figure=f"first 201 {back:.1f} s after the kill; {refused:,} refused (503), {other:,} "
            f"other non-201; {per_second(stats.rate_of(201))} reservations over the window",
            ceiling="-",
            ratio=None,
            goal="<= 10 s, no answer but 201 and 503",
            met=back <= 10 and other == 0,
        )
    ]


async def _first_201(server: Server, prefix: str) -> float:
    """When a reservation first succeeds (tried every 20 ms)."""
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        while True:
            body = {
                "orderId": f"{prefix}-probe-{uuid.uuid4().hex[:8]}",
                "lines": [{"sku": f"{prefix}-0000", "warehouseId": "WH-A", "quantity": 1}],
            }
            try:
                got = await http.post("/v1/reservations", json=body, headers=server.auth("orders"))
                if got.status_code == 201:
                    return time.monotonic()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)


@scenario("X1R", "P1 with an export streamed from the read replica vs P1 alone")
async def export_from_replica(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    with tempfile.TemporaryDirectory(prefix="bench-replica-") as root:
        pg, url = await _pair(Path(root), synchronous=True)
        try:
            replica = pg.standby.url(DATABASE)
            async with h.server("X1", database_url=url, read_database_url=replica) as server:
                prefix = h.ids("X1")
                streams = _streams(prefix)
                context.console.print(f"setup: receiving {len(streams):,} streams")
                await server.receive(streams, UNITS)
                alone = await server.drive(p1_spec(server, prefix, streams, seconds), "X1-alone")
                exporting = asyncio.Event()
                exported = asyncio.create_task(_export_loop(server, exporting))
                try:
                    await exporting.wait()
                    shared = await server.drive(
                        p1_spec(server, f"{prefix}b", streams, seconds), "X1-exporting"
                    )
                finally:
                    exported.cancel()
                    await asyncio.gather(exported, return_exceptions=True)
                megabytes = _EXPORTED[0] / 1e6
        finally:
            await asyncio.to_thread(pg.stop)
    ratio = shared.rate_of(201) / alone.rate_of(201) if alone.rate_of(201) else None
    rates = f"{alone.rate_of(201):,.0f}/s alone, {shared.rate_of(201):,.0f}/s exporting"
    context.console.print(f"P1 {rates}")
    return [
        Result(
            scenario=f"X1R reserve over HTTP while a whole-ledger export streams from the read "
            f"replica in a loop, {CLIENTS} clients, {seconds:.0f} s ({SPLIT})",
            figure=f"{per_second(shared.rate_of(201))} reservations, {latency(shared)}; "
            f"{megabytes:,.1f} MB exported meanwhile; {load_note(shared)}",
            ceiling=f"{per_second(alone.rate_of(201))} reservations with no export, "
            f"{latency(alone)}",
            ratio=ratio,
            goal=">= 0.9x P1 alone",
            met=(ratio or 0) >= 0.9,
        )
    ]


_EXPORTED = [0]  # bytes the export loop read


async def _export_loop(server: Server, started: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=None) as http:
        while True:
            headers = server.auth("admin")
            async with http.stream("GET", "/v1/exports/events", headers=headers) as got:
                started.set()
                async for chunk in got.aiter_bytes():
                    _EXPORTED[0] += len(chunk)
