"""L0: the load generator's own ceiling, so no HTTP figure is the generator measuring itself.

The generator (CPU 1, 64 connections, as in P1) drives a raw uvloop server pinned to CPU 0 that
answers every request with the same 2-byte JSON: no framework, no I/O. Its rate bounds what the
generator can measure; the HTTP figures should sit far below it (their rows also show the
generator's CPU share, well below 100%).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from bench.harness import ROOT, SERVER_CPU, SPLIT, harness, latency, per_second, pinned
from bench.loadgen import Spec, request
from bench.results import Result
from bench.runner import Context, scenario
from stockledger.ops.local_services import free_port

CLIENTS = 64
CAPACITY_GOAL = 30_000


@scenario("L0", "the load generator's own ceiling (raw constant server)")
async def generator_ceiling(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 10.0
    port = free_port()
    argv = [sys.executable, "-m", "bench.loadgen", "--serve-constant", str(port)]
    server = await asyncio.create_subprocess_exec(*pinned(SERVER_CPU, argv), cwd=ROOT)
    try:
        for _ in range(100):  # until it listens
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        auth = {"Authorization": "Bearer x"}
        requests = [request("GET", f"/v1/stock/SKU-{n}/WH-A", auth) for n in range(100)]
        spec = Spec(port=port, requests=requests, connections=CLIENTS, duration=seconds)
        stats = await h.load(spec)
    finally:
        server.terminate()
        await server.wait()
    # Responses per CPU-second of the generator: what it could drive with all of CPU 1.
    capacity = stats.rate / stats.cpu_share if stats.cpu_share else 0.0
    context.console.print(f"generator: {stats.rate:,.0f}/s, capacity {capacity:,.0f}/s")
    return [
        Result(
            scenario=f"L0 load generator ceiling: {CLIENTS} connections to a raw constant "
            f"server, {seconds:.0f} s ({SPLIT})",
            figure=f"{per_second(stats.rate)} responses, {latency(stats)}; loadgen "
            f"{stats.cpu_share:.0%} of CPU 1, so its capacity is about {per_second(capacity)}; "
            f"load avg {os.getloadavg()[0]:.1f}",
            ceiling="-",
            ratio=None,
            goal=f">= {CAPACITY_GOAL:,} responses/s of generator capacity (10x the HTTP goals)",
            met=capacity >= CAPACITY_GOAL,
        )
    ]
