"""P1: reservations over HTTP across many SKUs, vs one INSERT per request; P4: commit -> Redis.

P1: 1,000 SKUs x 3 warehouses, each received 1,000,000 units first; 64 keep-alive clients
reserve 1 unit of a stream each (cycling over the 3,000 streams) for 20 s. The ceiling, in the
same server process with the same load: POST /bench/insert (same middleware, auth and body
validation, then exactly one INSERT of one event row per request, autocommit).

P4 is measured during P1's load, two ways:
- hash fields (the figure): every 0.5 s the driver reads `version, updatedAt, projectedAt` of
  all 3,000 Redis hashes; each new (stream, version) seen gives projectedAt - updatedAt.
  updatedAt is the event's recordedAt, stamped when the writer decided it, before its commit;
  projectedAt is stamped by the projector right before its Redis write. So the figure covers
  decide -> commit -> relay -> Kafka -> projector -> Redis write, minus that last write's own
  round trip (about a millisecond): commit -> visible, slightly overstated.
- probes (cross-check): every 100 ms the driver reserves 1 unit on a probe stream and polls
  Redis every 2 ms until that version shows; lag = visible - the 201 reaching the driver (the
  commit is earlier still, so this one is slightly understated).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from bench.harness import (
    SPLIT,
    Server,
    batches,
    harness,
    latency,
    load_note,
    per_second,
    statuses,
)
from bench.loadgen import Stats
from bench.results import Result
from bench.runner import Context, scenario
from stockledger.projections.redis_stock import DEFAULT_PREFIX, level_key

SKUS, WAREHOUSES, CLIENTS = 1_000, ("WH-A", "WH-B", "WH-C"), 64
UNITS = 1_000_000
WARMUP = 2.0


@dataclass
class ReserveRun:
    p1: list[Result]
    p4: Result
    with_rules: Result
    rate: float  # P1's reservations/s (P11 states its figure against it)


_DONE: dict[bool, ReserveRun] = {}


@scenario("P1", "reserve over HTTP, 1,000 SKUs x 3 warehouses, 64 clients")
async def reserve_many(context: Context) -> list[Result]:
    return (await _run(context)).p1


@scenario("P1R", "P1 again with a reorder rule on every stream, vs P1 of the same run")
async def reserve_with_rules(context: Context) -> list[Result]:
    return [(await _run(context)).with_rules]


@scenario("P4", "commit -> visible in Redis, during P1")
async def freshness(context: Context) -> list[Result]:
    return [(await _run(context)).p4]


async def p1_run(context: Context) -> ReserveRun:
    """P1 of this run (measured now if no scenario asked for it yet)."""
    return await _run(context)


async def _run(context: Context) -> ReserveRun:
    """P1 and P4 come from one run (whichever is asked for first runs it)."""
    if context.quick not in _DONE:
        _DONE[context.quick] = await _measure(context)
    return _DONE[context.quick]


async def _measure(context: Context) -> ReserveRun:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    prefix = h.ids("P1")
    streams = [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]
    probe = (f"{prefix}-PROBE", "WH-A")
    async with h.server("P1") as server:
        context.console.print(f"setup: receiving {len(streams) + 1:,} streams")
        await server.receive([*streams, probe], UNITS)
        await server.wait_projected([*streams, probe], 1)
        reserve = [
            server.raw(
                "POST",
                "/v1/reservations",
                "orders",
                {
                    "orderId": f"{prefix}-O{i}",
                    "lines": [{"sku": s, "warehouseId": w, "quantity": 1}],
                },
            )
            for i, (s, w) in enumerate(streams)
        ]
        spec = server.spec(reserve, connections=CLIENTS, duration=seconds, warmup=WARMUP)
        sampler = LagSampler(server, streams, probe)
        window = time.time() + WARMUP
        before = await server.metrics()
        figure, lags, probes = await sampler.during(
            server.drive(spec, "P1-reserve"), window, window + seconds
        )
        group_commit = batches(before, await server.metrics())
        context.console.print(f"reserve: {figure.rate_of(201):,.0f}/s {statuses(figure)}")
        inserts = [r.replace(b"/v1/reservations", b"/bench/insert", 1) for r in reserve]
        spec = server.spec(inserts, connections=CLIENTS, duration=seconds, warmup=WARMUP)
        ceiling = await server.drive(spec, "P1-insert-ceiling")
        context.console.print(f"one-INSERT ceiling: {ceiling.rate_of(201):,.0f}/s")
        # A rule on every stream that the load never crosses (1,000,000 units, point 100):
        # each reservation now also reads and read-checks its reorder stream and evaluates it.
        rule = {"reorderPoint": 100, "reorderQuantity": 500}
        rules = [
            server.raw("PUT", f"/v1/reorder-rules/{s}/{w}", "warehouse", rule) for s, w in streams
        ]
        set_rules = await h.load(server.spec(rules, connections=32, mode="once"))
        if set_rules.count(201) != len(streams):
            raise RuntimeError(f"setting the rules failed: {statuses(set_rules)}")
        spec = server.spec(reserve, connections=CLIENTS, duration=seconds, warmup=WARMUP)
        ruled = await server.drive(spec, "P1-reserve-with-rules")
        context.console.print(f"reserve with rules: {ruled.rate_of(201):,.0f}/s")
    return ReserveRun(
        _p1(figure, ceiling, seconds, group_commit),
        _p4(lags, probes, seconds),
        _with_rules(ruled, figure, seconds),
        figure.rate_of(201),
    )


def _with_rules(ruled: Stats, plain: Stats, seconds: float) -> Result:
    rate, before = ruled.rate_of(201), plain.rate_of(201)
    ratio = rate / before if before else None
    failed = ruled.completed - ruled.count(201)
    return Result(
        scenario=f"P1R reserve over HTTP with a reorder rule on each of the {SKUS * 3:,} streams "
        f"(never crossed), {CLIENTS} clients, {seconds:.0f} s ({SPLIT})",
        figure=f"{per_second(rate)} reservations, {latency(ruled)}; {failed:,} not 201; "
        f"{load_note(ruled)}",
        ceiling=f"{per_second(before)} reservations without rules (P1 of this run, measured "
        f"first), {latency(plain)}",
        ratio=ratio,
        goal=">= 0.9x P1 without rules",
        met=(ratio or 0) >= 0.9 and failed == 0,
    )


def _p1(figure: Stats, ceiling: Stats, seconds: float, group_commit: str) -> list[Result]:
    rate, top = figure.rate_of(201), ceiling.rate_of(201)
    ratio = rate / top if top else None
    failed = figure.completed - figure.count(201)
    return [
        Result(
            scenario=f"P1 reserve over HTTP, {SKUS:,} SKUs x 3 warehouses, {CLIENTS} clients, "
            f"{seconds:.0f} s ({SPLIT})",
            figure=f"{per_second(rate)} reservations, {latency(figure)}; "
            f"{failed:,} not 201; {group_commit}; {load_note(figure)}",
            ceiling=f"{per_second(top)} one-INSERT POSTs, {latency(ceiling)}; {load_note(ceiling)}",
            ratio=ratio,
            goal=">= 3,000/s, >= 1.5x, p99 <= 50 ms",
            met=rate >= 3000 and (ratio or 0) >= 1.5 and figure.p99_ms <= 50 and failed == 0,
        )
    ]


def _p4(lags: list[float], probes: list[float], seconds: float) -> Result:
    p50, p99 = _quantile(lags, 0.5), _quantile(lags, 0.99)
    return Result(
        scenario=f"P4 commit -> visible in Redis during P1 ({seconds:.0f} s; hash fields "
        "projectedAt - updatedAt, and probes)",
        figure=f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(lags, default=0):.0f} ms over "
        f"{len(lags):,} writes; probes p50 {_quantile(probes, 0.5):.0f} ms, "
        f"p99 {_quantile(probes, 0.99):.0f} ms (n={len(probes)})",
        ceiling="-",
        ratio=None,
        goal="p99 <= 100 ms",
        met=bool(lags) and p99 <= 100,
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class LagSampler:
    """Reads projection lag from the Redis hashes, and probes it, while a load runs."""

    def __init__(self, server: Server, streams: list[tuple[str, str]], probe: tuple[str, str]):
        self.server = server
        self.keys = [level_key(DEFAULT_PREFIX, s, w) for s, w in streams]
        self.probe = probe

    async def during(
        self, load: Awaitable[Stats], start: float, end: float
    ) -> tuple[Stats, list[float], list[float]]:
        stop = asyncio.Event()
        lags: list[float] = []
        probes: list[float] = []
        tasks = [
            asyncio.create_task(self._sample(stop, lags, start, end)),
            asyncio.create_task(self._probe(stop, probes, start, end)),
        ]
        try:
            stats = await load
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        return stats, lags, probes

    async def _sample(
        self, stop: asyncio.Event, lags: list[float], start: float, end: float
    ) -> None:
        client = self.server.harness.redis()
        seen: dict[str, bytes] = {}
        try:
            while not stop.is_set():
                async with client.pipeline(transaction=False) as pipe:
                    for key in self.keys:
                        pipe.hmget(key, "version", "updatedAt", "projectedAt")
                    rows = await pipe.execute()
                for key, (version, updated, projected) in zip(self.keys, rows, strict=True):
                    if version is None or seen.get(key) == version:
                        continue
                    seen[key] = version
                    at = datetime.fromisoformat(updated.decode()).timestamp()
                    if start <= at <= end:
                        done = datetime.fromisoformat(projected.decode()).timestamp()
                        lags.append((done - at) * 1000)
                await _sleep(stop, 0.5)
        finally:
            await client.aclose()

    async def _probe(
        self, stop: asyncio.Event, lags: list[float], start: float, end: float
    ) -> None:
        import httpx

        sku, wh = self.probe
        key = level_key(DEFAULT_PREFIX, sku, wh)
        redis = self.server.harness.redis()
        body = {"orderId": "PROBE", "lines": [{"sku": sku, "warehouseId": wh, "quantity": 1}]}
        headers = self.server.auth("orders")
        try:
            async with httpx.AsyncClient(base_url=self.server.base, timeout=10) as client:
                while not stop.is_set():
                    tick = time.time()
                    answer = await client.post("/v1/reservations", json=body, headers=headers)
                    acked = time.time()
                    if answer.status_code != 201:
                        await _sleep(stop, 0.1)
                        continue
                    version = answer.json()["stock"][0]["version"]
                    while not stop.is_set() and time.time() - acked < 10:
                        shown = await redis.hget(key, "version")
                        if shown is not None and int(shown) >= version:
                            if start <= acked <= end:
                                lags.append((time.time() - acked) * 1000)
                            break
                        await asyncio.sleep(0.002)
                    await _sleep(stop, max(0.0, 0.1 - (time.time() - tick)))
        finally:
            await redis.aclose()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
