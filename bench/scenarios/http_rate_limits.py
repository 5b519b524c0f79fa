"""P1L: P1's load with rate limits configured far above it, vs P1's load without, same run.

The same 3,000 streams (received once) and the same 64 clients reserving 1 unit each, driven
three times against fresh servers on the same database: without limits, with
`STOCKLEDGER_RATE_LIMITS=orders=1000000/s:1000000` (every request runs the limiter's Redis
script and carries the RateLimit-* headers, none is refused), and without limits again. The
figure is the limited run against the mean of the two unlimited ones (which brackets drift
from the growing event table and the machine's other work).
"""

from __future__ import annotations

from bench.harness import SPLIT, Server, harness, latency, load_note, per_second, statuses
from bench.loadgen import Spec, Stats
from bench.results import Result
from bench.runner import Context, scenario

SKUS, WAREHOUSES, CLIENTS = 1_000, ("WH-A", "WH-B", "WH-C"), 64
UNITS = 1_000_000
WARMUP = 2.0
FAR_ABOVE = "orders=1000000/s:1000000"


@scenario("P1L", "P1 with rate limits far above the load vs P1 without, same run")
async def reserve_rate_limited(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    prefix = h.ids("P1L")
    streams = [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]
    runs: dict[str, list[Stats]] = {"without": [], "with": []}
    for label, limits in (("without", ""), ("with", FAR_ABOVE), ("without", "")):
        async with h.server(f"P1L-{label}", rate_limits=limits) as server:
            if not runs["without"]:
                context.console.print(f"setup: receiving {len(streams):,} streams")
                await server.receive(streams, UNITS)
            stats = await server.drive(p1_spec(server, prefix, streams, seconds), f"P1L-{label}")
            context.console.print(
                f"{label} limits: {stats.rate_of(201):,.0f}/s {statuses(stats)}; {load_note(stats)}"
            )
            runs[label].append(stats)
    return [_result(runs["with"][0], runs["without"], seconds)]


def p1_spec(server: Server, prefix: str, streams: list[tuple[str, str]], seconds: float) -> Spec:
    """P1's load: one single-line reservation per stream, 64 clients."""
    reserve = [
        server.raw(
            "POST",
            "/v1/reservations",
            "orders",
            {"orderId": f"{prefix}-O{i}", "lines": [{"sku": s, "warehouseId": w, "quantity": 1}]},
        )
        for i, (s, w) in enumerate(streams)
    ]
    return server.spec(reserve, connections=CLIENTS, duration=seconds, warmup=WARMUP)


def _result(limited: Stats, plain: list[Stats], seconds: float) -> Result:
    rate = limited.rate_of(201)
    before = sum(s.rate_of(201) for s in plain) / len(plain)
    ratio = rate / before if before else None
    failed = limited.completed - limited.count(201)
    return Result(
        scenario=f"P1L reserve over HTTP with rate limits far above the load ({FAR_ABOVE}), "
        f"{SKUS:,} SKUs x 3 warehouses, {CLIENTS} clients, {seconds:.0f} s ({SPLIT})",
        figure=f"{per_second(rate)} reservations, {latency(limited)}; {failed:,} not 201; "
        f"{load_note(limited)}",
        ceiling=f"{per_second(before)} reservations without limits (mean of the runs before and "
        f"after: {', '.join(per_second(s.rate_of(201)) for s in plain)}), "
        f"{latency(plain[-1])}",
        ratio=ratio,
        goal=">= 0.95x P1 without limits",
        met=(ratio or 0) >= 0.95 and failed == 0,
    )
