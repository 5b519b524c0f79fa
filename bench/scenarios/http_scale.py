"""P10: scale-out, 1, 2 and 4 API processes (`serve --workers N`) on one database.

(a) ONE hot SKU holding 1,000,000 units, 200 keep-alive clients reserving 1 unit each, again
and again; (b) 3,000 SKUs (1,000 x 3 warehouses), 64 clients, each on streams of its own in
turn. Every N runs the same load for the same time, in the same run: the figure is accepted
reservations/s (201), with the refused ones (409 version-conflict: must be 0), p99 and the
Postgres CPU per accepted command (utime + stime of every `postgres` process from /proc over
the measured window, so it includes the WAL writer and checkpointer). The ratio is N processes
over 1 process. CPU split as everywhere (bench/README.md): all the server's processes on CPU 0,
the load generator on CPU 1, Postgres unpinned.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.harness import SPLIT, Server, harness, latency, per_second, statuses
from bench.loadgen import Stats
from bench.results import Result
from bench.runner import Context, scenario

PROCESSES = (1, 2, 4)
UNITS = 1_000_000
MANY_SKUS, WAREHOUSES = 1_000, ("WH-A", "WH-B", "WH-C")


def postgres_cpu_seconds() -> float:
    """CPU time of every process named postgres on this machine so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name.startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


@scenario("P10", "scale-out: 1, 2 and 4 API processes, one hot SKU and 3,000 SKUs")
async def scale_out(context: Context) -> list[Result]:
    h = await harness()
    seconds = 3.0 if context.quick else 10.0
    runs: dict[str, dict[int, tuple[Stats, float]]] = {"hot": {}, "many": {}}
    for n in PROCESSES:
        prefix = h.ids(f"P10-{n}")
        hot = [(f"{prefix}-HOT", "WH-A")]
        many = [(f"{prefix}-{i:04d}", wh) for i in range(MANY_SKUS) for wh in WAREHOUSES]
        async with h.server(f"P10-{n}", workers=n) as server:
            await server.receive(hot + many, UNITS)
            for case, streams, clients in (("hot", hot, 200), ("many", many, 64)):
                runs[case][n] = await _drive(server, streams, clients, seconds, f"{case}-{n}")
                stats = runs[case][n][0]
                context.console.print(f"{case} x{n}: {stats.rate_of(201):,.0f}/s {statuses(stats)}")
    return [_result(case, by_n, seconds) for case, by_n in runs.items()]


async def _drive(
    server: Server, streams: list[tuple[str, str]], clients: int, seconds: float, label: str
) -> tuple[Stats, float]:
    requests = [
        server.raw(
            "POST",
            "/v1/reservations",
            "orders",
            {"orderId": f"{label}-O{i}", "lines": [{"sku": s, "warehouseId": w, "quantity": 1}]},
        )
        for i, (s, w) in enumerate(streams * max(1, clients // len(streams)))
    ]
    spec = server.spec(requests, connections=clients, duration=seconds, warmup=1.0)
    before = postgres_cpu_seconds()
    stats = await server.drive(spec, f"P10-{label}")
    used = postgres_cpu_seconds() - before
    accepted = stats.count(201)
    return stats, (used * 1000 / accepted if accepted else 0.0)


def _result(case: str, by_n: dict[int, tuple[Stats, float]], seconds: float) -> Result:
    one = by_n[1][0].rate_of(201)
    parts, refused = [], 0
    for n, (stats, pg_ms) in by_n.items():
        rate = stats.rate_of(201)
        refused += stats.count(409)
        parts.append(
            f"{n} proc: {per_second(rate)} ({rate / one if one else 0:.2f}x), {latency(stats)}, "
            f"Postgres {pg_ms:.2f} ms CPU/command, {statuses(stats)}"
        )
    four = by_n[max(by_n)][0].rate_of(201)
    title = "ONE hot SKU, 200 clients" if case == "hot" else "3,000 SKUs, 64 clients"
    return Result(
        scenario=f"P10 scale-out, {title}, {seconds:.0f} s per N ({SPLIT})",
        figure="; ".join(parts),
        ceiling=f"1 process: {per_second(one)}",
        ratio=four / one if one else None,
        goal="0 refused at every N" + ("; 4 processes >= 1.0x 1 process" if case == "hot" else ""),
        met=refused == 0 and (case != "hot" or (one > 0 and four / one >= 1.0)),
    )
