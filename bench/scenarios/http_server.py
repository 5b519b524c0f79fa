"""H1: granian against uvicorn, the same app on the same loads, in the same run, alternating.

For each ASGI server, twice, in the order uvicorn, granian, granian, uvicorn (so neither always
runs first on a machine whose load drifts): one process (CPU 0, as every server here) runs P1's
load (reserve 1 unit, 3,000 streams, 64 clients) and P3's (GET a stock level from Redis, 32
clients); then `--workers 4` runs P10's many-SKU load (reserve, 3,000 streams, 64 clients). The
streams are received once, by the first server. uvicorn runs as `serve` does (uvloop,
httptools); granian with the nearest options (`--interface asgi --loop uvloop --http 1
--no-ws`). The figure is granian's rate over uvicorn's, per load, from the sums of both rounds.
Also timed: how long each server takes to stop on SIGTERM (its lifespan shutdown included).
"""

from __future__ import annotations

import time
from collections import defaultdict

from bench.harness import SPLIT, Server, harness, per_second, statuses
from bench.loadgen import Stats
from bench.results import Result
from bench.runner import Context, scenario

SKUS, WAREHOUSES, UNITS = 1_000, ("WH-A", "WH-B", "WH-C"), 1_000_000
ORDER = ("uvicorn", "granian", "granian", "uvicorn")
LOADS = ("P1 reserve", "P3 read", "P10 reserve, 4 workers")


@scenario("H1", "granian vs uvicorn on P1, P3 and P10's loads, alternating in one run")
async def servers(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 10.0
    prefix = h.ids("H1")
    streams = [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]
    runs: dict[tuple[str, str], list[Stats]] = defaultdict(list)
    stops: dict[str, list[float]] = defaultdict(list)
    received = False
    for turn, runner in enumerate(ORDER):
        async with h.server(f"H1-{runner}-{turn}", runner=runner) as server:
            if not received:
                await server.receive(streams, UNITS)
                await server.wait_projected(streams, 1)
                received = True
            runs[(runner, LOADS[0])].append(await _reserve(server, streams, seconds, turn))
            reads = [server.raw("GET", f"/v1/stock/{s}/{w}", "orders") for s, w in streams]
            spec = server.spec(
                reads,
                connections=32,
                duration=seconds,
                warmup=2.0,
                match_header="x-stock-source: redis",
            )
            runs[(runner, LOADS[1])].append(await server.drive(spec, f"H1-{runner}-read"))
            stops[runner].append(await _stop(server))
        async with h.server(f"H1-{runner}-{turn}-w4", runner=runner, workers=4) as server:
            runs[(runner, LOADS[2])].append(await _reserve(server, streams, seconds, turn))
            stops[runner].append(await _stop(server))
        for load in LOADS:
            stats = runs[(runner, load)][-1]
            ok = 200 if load.startswith("P3") else 201
            context.console.print(
                f"{runner} {load}: {stats.rate_of(ok):,.0f}/s, "
                f"{stats.cpu_ms_per_response:.2f} ms CPU each, {statuses(stats)}"
            )
    return [_result(load, runs, stops, seconds) for load in LOADS]


async def _reserve(
    server: Server, streams: list[tuple[str, str]], seconds: float, turn: int
) -> Stats:
    requests = [
        server.raw(
            "POST",
            "/v1/reservations",
            "orders",
            {"orderId": f"H1-{turn}-O{i}", "lines": [{"sku": s, "warehouseId": w, "quantity": 1}]},
        )
        for i, (s, w) in enumerate(streams)
    ]
    spec = server.spec(requests, connections=64, duration=seconds, warmup=2.0)
    return await server.drive(spec, f"H1-reserve-{turn}")


async def _stop(server: Server) -> float:
    started = time.monotonic()
    await server.stop()
    return time.monotonic() - started


def _result(
    load: str,
    runs: dict[tuple[str, str], list[Stats]],
    stops: dict[str, list[float]],
    seconds: float,
) -> Result:
    ok = 200 if load.startswith("P3") else 201

    def rate(runner: str) -> float:
        done = runs[(runner, load)]
        return sum(s.rate_of(ok) for s in done) / len(done)

    def p99(runner: str) -> float:
        return max(s.p99_ms for s in runs[(runner, load)])

    def failed(runner: str) -> int:
        return sum(s.completed - s.count(ok) for s in runs[(runner, load)])

    def cpu(runner: str) -> float:  # the server's CPU per response: its cost, whatever share
        done = runs[(runner, load)]
        return sum(s.cpu_ms_per_response for s in done) / len(done)

    uvicorn, granian = rate("uvicorn"), rate("granian")
    return Result(
        scenario=f"H1 {load} under granian vs uvicorn, {seconds:.0f} s x 2 each, alternating "
        f"({SPLIT})",
        figure=f"granian {per_second(granian)}, {cpu('granian'):.2f} ms server CPU per response "
        f"(p99 <= {p99('granian'):.1f} ms, "
        f"{failed('granian'):,} failed; stops in <= {max(stops['granian']):.1f} s)",
        ceiling=f"uvicorn {per_second(uvicorn)}, {cpu('uvicorn'):.2f} ms server CPU per response "
        f"(p99 <= {p99('uvicorn'):.1f} ms, "
        f"{failed('uvicorn'):,} failed; stops in <= {max(stops['uvicorn']):.1f} s)",
        ratio=granian / uvicorn if uvicorn else None,
        goal="adopt for `serve` only if clearly faster (>= 1.1x) and as correct",
        met=None,
    )
