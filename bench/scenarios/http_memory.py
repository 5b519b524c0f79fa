"""M1: resident memory of the server after touching every stream of the shop.

A fresh server (the API with relay, projector and expiry worker, as `stockledger serve`) gets
a receipt on each of 15,000 SKUs x 3 warehouses = 45,000 stock streams, then a GET of each
(from Redis once projected); the figure is the process's VmRSS afterwards. The ledger's state
cache (STOCKLEDGER_STATE_CACHE_SIZE, default 100,000) then holds all 45,000 stream states.
"""

from __future__ import annotations

from bench.harness import harness, rss_mb, statuses
from bench.results import Result
from bench.runner import Context, scenario

WAREHOUSES = ("WH-A", "WH-B", "WH-C")
LIMIT_MB = 250


@scenario("M1", "RSS of the server after touching all 45,000 streams")
async def memory(context: Context) -> list[Result]:
    h = await harness()
    skus = 1_500 if context.quick else 15_000
    prefix = h.ids("M1")
    streams = [(f"{prefix}-{n:05d}", wh) for n in range(skus) for wh in WAREHOUSES]
    async with h.server("M1") as server:
        idle = rss_mb(server.pid)
        received = await server.receive(streams, 10)
        await server.wait_projected(streams, 1, within=300)
        reads = [server.raw("GET", f"/v1/stock/{s}/{w}", "orders") for s, w in streams]
        read = await h.load(server.spec(reads, connections=32, mode="once"))
        rss = rss_mb(server.pid)
    context.console.print(f"rss {idle:.0f} MB idle -> {rss:.0f} MB; reads {statuses(read)}")
    touched = received.count(201) + read.count(200)
    return [
        Result(
            scenario=f"M1 RSS of the server after touching all {len(streams):,} streams "
            f"({skus:,} SKUs x 3 warehouses: a receipt, then a GET each)",
            figure=f"{rss:.0f} MB (idle after start: {idle:.0f} MB); {touched:,} requests ok of "
            f"{2 * len(streams):,}",
            ceiling="-",
            ratio=None,
            goal=f"<= {LIMIT_MB} MB",
            met=rss <= LIMIT_MB and touched == 2 * len(streams),
        )
    ]
