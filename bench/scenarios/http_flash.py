"""P2: a flash sale on ONE SKU over HTTP, vs the naive write path; then a sell-out.

Throughput: 200 keep-alive clients each reserve 1 unit, again and again, on one stock stream
that received 1,000,000 units, for 20 s; the figure is successful reservations (201) per
second. The baseline, same server, same load, on its own SKU with the same stock:
POST /bench/naive-reserve (bench/server.py: reload the streams from the store on every request,
decide, append with expected versions, retry a conflict up to 3 times).

Sell-out: 200 clients send 2,000 reservations of 1 unit for a SKU that has 500: exactly 500
must be answered 201, none 5xx, and a strong read (`?consistency=strong`, folded from the event
store) must show reserved 500, available 0.
"""

from __future__ import annotations

from bench.harness import (
    SPLIT,
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

CLIENTS, UNITS, SELL_OUT_UNITS, SELL_OUT_ATTEMPTS = 200, 1_000_000, 500, 2_000
WAREHOUSE = "WH-A"


@scenario("P2", "flash sale: 200 clients on ONE SKU, then a sell-out")
async def flash_sale(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    prefix = h.ids("P2")
    hot, naive, sell_out = f"{prefix}-HOT", f"{prefix}-NAIVE", f"{prefix}-SELLOUT"
    async with h.server("P2") as server:
        await server.receive([(hot, WAREHOUSE), (naive, WAREHOUSE)], UNITS)
        await server.receive([(sell_out, WAREHOUSE)], SELL_OUT_UNITS)

        def reservations(path: str, sku: str, count: int) -> list[bytes]:
            line = {"sku": sku, "warehouseId": WAREHOUSE, "quantity": 1}
            return [
                server.raw("POST", path, "orders", {"orderId": f"{sku}-O{i}", "lines": [line]})
                for i in range(count)
            ]

        spec = server.spec(
            reservations("/v1/reservations", hot, CLIENTS),
            connections=CLIENTS,
            duration=seconds,
            warmup=2.0,
        )
        before = await server.metrics()
        figure = await server.drive(spec, "P2-hot-sku")
        group_commit = batches(before, await server.metrics())
        context.console.print(f"ledger: {figure.rate_of(201):,.0f}/s {statuses(figure)}")
        spec.requests = reservations("/bench/naive-reserve", naive, CLIENTS)
        baseline = await server.drive(spec, "P2-naive")
        context.console.print(f"naive: {baseline.rate_of(201):,.0f}/s {statuses(baseline)}")
        spec = server.spec(
            reservations("/v1/reservations", sell_out, SELL_OUT_ATTEMPTS),
            connections=CLIENTS,
            mode="once",
        )
        sold = await h.load(spec)
        strong = await server.call(
            "GET", f"/v1/stock/{sell_out}/{WAREHOUSE}", "orders", params={"consistency": "strong"}
        )
    return [
        _throughput(figure, baseline, seconds, group_commit),
        _sell_out(sold, strong.json()),
    ]


def _throughput(figure: Stats, baseline: Stats, seconds: float, group_commit: str) -> Result:
    rate, naive = figure.rate_of(201), baseline.rate_of(201)
    ratio = rate / naive if naive else None
    return Result(
        scenario=f"P2 flash sale, ONE SKU, {CLIENTS} clients x 1 unit, {seconds:.0f} s ({SPLIT})",
        figure=f"{per_second(rate)} successful reservations, {latency(figure)}; "
        f"{statuses(figure)}; {group_commit}; {load_note(figure)}",
        ceiling=f"naive (reload, append, retry 3x): {per_second(naive)} successful, "
        f"{latency(baseline)}; {statuses(baseline)}; {load_note(baseline)}",
        ratio=ratio,
        goal=">= 2,000/s, >= 20x naive",
        met=rate >= 2000 and (ratio is None or ratio >= 20) and figure.server_errors == 0,
    )


def _sell_out(sold: Stats, strong: dict[str, int]) -> Result:
    reserved, errors = sold.count(201), sold.server_errors
    ok = (
        reserved == SELL_OUT_UNITS
        and errors == 0
        and strong.get("reserved") == SELL_OUT_UNITS
        and strong.get("available") == 0
    )
    return Result(
        scenario=f"P2 sell-out: {SELL_OUT_UNITS} units, {CLIENTS} clients, "
        f"{SELL_OUT_ATTEMPTS:,} attempts of 1 unit",
        figure=f"{reserved} reserved (201), {errors} 5xx, {statuses(sold)}; strong read: "
        f"reserved {strong.get('reserved')}, available {strong.get('available')}",
        ceiling="-",
        ratio=None,
        goal=f"exactly {SELL_OUT_UNITS} reserved, 0 5xx",
        met=ok,
    )
