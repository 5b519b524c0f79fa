"""T1: P1's reservations with OpenTelemetry tracing on, sampled at 10%, vs tracing off.

Three servers one after the other in the same run, on the same streams (received once), with
the same load as P1 (64 clients cycling over 1,000 SKUs x 3 warehouses, 20 s, 2 s warm-up):
with no OTEL_* setting (tracing off: nothing of OpenTelemetry is imported), then with
`OTEL_TRACES_SAMPLER=parentbased_traceidratio`, `OTEL_TRACES_SAMPLER_ARG=0.1` and the OTLP/HTTP
exporter sending to a local sink in the bench driver (a minimal HTTP server answering 200 to
each POST /v1/traces and counting the bytes), then off again. The figure is the traced run
against the mean of the two untraced ones, which brackets the drift of a growing event table and
of the machine's other work (as P1L does). The load sends no traceparent, so 10% of the requests
start a sampled trace; every request still pays for the sampling decision at the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bench.harness import SPLIT, harness, latency, load_note, per_second, statuses
from bench.loadgen import Stats
from bench.results import Result
from bench.runner import Context, scenario

SKUS, WAREHOUSES, CLIENTS = 1_000, ("WH-A", "WH-B", "WH-C"), 64
UNITS = 1_000_000
WARMUP = 2.0
RATIO = "0.1"


@dataclass
class Sink:
    """What the OTLP/HTTP sink received."""

    url: str = ""
    exports: int = 0
    bytes: int = 0


@contextlib.asynccontextmanager
async def otlp_sink() -> AsyncIterator[Sink]:
    """An OTLP/HTTP endpoint on 127.0.0.1 that takes every export (keep-alive) and answers 200
    with an empty body (an empty ExportTraceServiceResponse)."""
    sink = Sink()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                sink.exports += 1
                sink.bytes += len(body)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sink.url = f"http://127.0.0.1:{port}"
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


@scenario("T1", "P1 with tracing on (10% sampled, OTLP to a local sink) vs tracing off")
async def traced_reserve(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    prefix = h.ids("T1")
    streams = [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]
    runs: dict[str, list[Stats]] = {"off": [], "on": []}
    async with otlp_sink() as sink:
        settings = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": RATIO,
            "OTEL_SERVICE_NAME": "stockledger-bench",
        }
        for label, otel in (("off", None), ("on", settings), ("off", None)):
            async with h.server(f"T1-{label}", otel=otel) as server:
                if not runs["off"]:
                    context.console.print(f"setup: receiving {len(streams):,} streams")
                    await server.receive(streams, UNITS)
                reserve = [
                    server.raw(
                        "POST",
                        "/v1/reservations",
                        "orders",
                        {
                            "orderId": f"{prefix}-{label}{len(runs[label])}-O{i}",
                            "lines": [{"sku": s, "warehouseId": w, "quantity": 1}],
                        },
                    )
                    for i, (s, w) in enumerate(streams)
                ]
                spec = server.spec(reserve, connections=CLIENTS, duration=seconds, warmup=WARMUP)
                stats = await server.drive(spec, f"T1-reserve-tracing-{label}")
                context.console.print(
                    f"tracing {label}: {stats.rate_of(201):,.0f}/s {statuses(stats)}; "
                    f"{load_note(stats)}"
                )
                runs[label].append(stats)
    (traced,), plain = runs["on"], runs["off"]
    rate = traced.rate_of(201)
    before = sum(s.rate_of(201) for s in plain) / len(plain)
    ratio = rate / before if before else None
    failed = sum(s.completed - s.count(201) for s in (traced, *plain))
    return [
        Result(
            scenario=f"T1 P1 with tracing on (parentbased_traceidratio {RATIO}, OTLP/HTTP to a "
            f"local sink), {CLIENTS} clients, {seconds:.0f} s ({SPLIT})",
            figure=f"{per_second(rate)} reservations, {latency(traced)}; {failed:,} not 201; "
            f"sink got {sink.exports:,} exports ({sink.bytes / 1e6:.1f} MB); {load_note(traced)}",
            ceiling=f"{per_second(before)} reservations with tracing off (mean of the runs before "
            f"and after: {', '.join(per_second(s.rate_of(201)) for s in plain)}), "
            f"{latency(plain[0])}; {'; '.join(load_note(s) for s in plain)}",
            ratio=ratio,
            goal=">= 0.95x tracing off",
            met=(ratio or 0) >= 0.95 and failed == 0 and sink.exports > 0,
        )
    ]
