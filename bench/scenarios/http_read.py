"""P3: GET a stock level (served from Redis) vs the same stack returning a constant.

3,000 streams (1,000 SKUs x 3 warehouses) are received and projected first; then 32 keep-alive
clients GET /v1/stock/{sku}/{warehouseId} over all of them for 20 s, and every answer must say
`X-Stock-Source: redis`. The ceiling, same server and load: GET /bench/constant/{sku}/{wh}
(same middleware, auth and parameter validation, a constant stock-shaped body, no I/O).
"""

from __future__ import annotations

from bench.harness import SPLIT, harness, latency, load_note, per_second, statuses
from bench.results import Result
from bench.runner import Context, scenario

SKUS, WAREHOUSES, CLIENTS = 1_000, ("WH-A", "WH-B", "WH-C"), 32


@scenario("P3", "GET stock level from Redis vs a constant route")
async def stock_read(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    prefix = h.ids("P3")
    streams = [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]
    async with h.server("P3") as server:
        await server.receive(streams, 100)
        await server.wait_projected(streams, 1)
        reads = [server.raw("GET", f"/v1/stock/{s}/{w}", "orders") for s, w in streams]
        spec = server.spec(
            reads,
            connections=CLIENTS,
            duration=seconds,
            warmup=2.0,
            match_header="x-stock-source: redis",
        )
        figure = await server.drive(spec, "P3-redis-read")
        spec.requests = [r.replace(b"/v1/stock/", b"/bench/constant/", 1) for r in reads]
        spec.match_header = None
        ceiling = await server.drive(spec, "P3-constant-ceiling")
    rate, top = figure.rate_of(200), ceiling.rate_of(200)
    ratio = rate / top if top else None
    from_redis = figure.header_matches / figure.completed if figure.completed else 0.0
    context.console.print(f"redis: {rate:,.0f}/s {statuses(figure)}; constant: {top:,.0f}/s")
    return [
        Result(
            scenario=f"P3 GET stock level (Redis), {len(streams):,} streams, {CLIENTS} clients, "
            f"{seconds:.0f} s ({SPLIT})",
            figure=f"{per_second(rate)} reads, {latency(figure)}; {from_redis:.1%} "
            f"X-Stock-Source: redis; {statuses(figure)}; {load_note(figure)}",
            ceiling=f"{per_second(top)} constant GETs, {latency(ceiling)}; {load_note(ceiling)}",
            ratio=ratio,
            goal=">= 70% of the ceiling (0.70x), p99 <= 15 ms",
            met=(ratio or 0) >= 0.7
            and figure.p99_ms <= 15
            and from_redis == 1.0
            and figure.count(200) == figure.completed,
        )
    ]
