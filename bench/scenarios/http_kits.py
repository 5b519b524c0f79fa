"""K1: reserving a three-component kit vs a three-line reservation of the same SKUs, same run.

300 kits, each of three SKUs of its own (one unit each) in one warehouse; every component
received 1,000,000 units first. 64 keep-alive clients reserve, cycling over the kits, either one
kit (one line naming it: the write path reads the kit, then reserves its three components) or
the same three SKUs as three lines of one unit. Both run against the same server process with
the same load, in the order lines, kit, kit, lines (so a drift of the machine's load over the
run weighs on both alike); the figure is the kit runs' mean, the ceiling the line runs' mean.
"""

from __future__ import annotations

from bench.harness import SPLIT, harness, latency, load_note, per_second, statuses
from bench.loadgen import Stats
from bench.results import Result
from bench.runner import Context, scenario

KITS, PARTS, WAREHOUSE, CLIENTS = 300, 3, "WH-A", 64
UNITS = 1_000_000
WARMUP = 2.0


@scenario("K1", "reserve a three-component kit vs three lines of the same SKUs, same run")
async def reserve_kits(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    prefix = h.ids("K1")
    kits = {
        f"{prefix}-KIT{n:03d}": [f"{prefix}-{n:03d}-{p}" for p in range(PARTS)] for n in range(KITS)
    }
    async with h.server("K1") as server:
        streams = [(sku, WAREHOUSE) for parts in kits.values() for sku in parts]
        context.console.print(f"setup: receiving {len(streams):,} streams, defining {KITS} kits")
        await server.receive(streams, UNITS)
        puts = [
            server.raw(
                "PUT",
                f"/v1/kits/{kit}",
                "warehouse",
                {"components": [{"sku": s, "quantity": 1} for s in parts]},
            )
            for kit, parts in kits.items()
        ]
        defined = await h.load(server.spec(puts, connections=16, mode="once"))
        if defined.count(201) != KITS:
            raise RuntimeError(f"defining the kits failed: {statuses(defined)}")
        await server.wait_projected(streams, 1)  # the pipeline idle again before measuring

        def orders(kind: str) -> list[bytes]:
            def lines(kit: str, parts: list[str]) -> list[dict[str, object]]:
                named = [kit] if kind == "kit" else parts
                return [{"sku": s, "warehouseId": WAREHOUSE, "quantity": 1} for s in named]

            return [
                server.raw(
                    "POST",
                    "/v1/reservations",
                    "orders",
                    {"orderId": f"{prefix}-{kind}-{i}", "lines": lines(kit, parts)},
                )
                for i, (kit, parts) in enumerate(kits.items())
            ]

        runs: dict[str, list[Stats]] = {"lines": [], "kit": []}
        for kind in ("lines", "kit", "kit", "lines"):
            spec = server.spec(orders(kind), connections=CLIENTS, duration=seconds, warmup=WARMUP)
            stats = await server.drive(spec, f"K1-{kind}")
            context.console.print(f"{kind}: {stats.rate_of(201):,.0f}/s {statuses(stats)}")
            runs[kind].append(stats)
    return [_result(runs["kit"], runs["lines"], seconds)]


def _result(kits: list[Stats], lines: list[Stats], seconds: float) -> Result:
    rate = sum(x.rate_of(201) for x in kits) / len(kits)
    ceiling = sum(x.rate_of(201) for x in lines) / len(lines)
    ratio = rate / ceiling if ceiling else None
    failed = sum(x.completed - x.count(201) for x in kits)

    def runs(stats: list[Stats]) -> str:
        return " and ".join(
            f"{per_second(x.rate_of(201))} ({latency(x)}, {x.cpu_ms_per_response:.2f} ms server "
            "CPU per response)"
            for x in stats
        )

    return Result(
        scenario=f"K1 reserve one three-component kit over HTTP, {KITS} kits of their own SKUs, "
        f"{CLIENTS} clients, {seconds:.0f} s per run ({SPLIT})",
        figure=f"{per_second(rate)} kit reservations (mean of {runs(kits)}); {failed:,} not "
        f"201; {load_note(kits[-1])}",
        ceiling=f"three-line reservations of the same SKUs, first and last run: {runs(lines)}",
        ratio=ratio,
        goal=">= 0.8x three lines",
        met=(ratio or 0) >= 0.8 and failed == 0,
    )
