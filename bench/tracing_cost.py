"""What tracing at 10% sampling adds per request (API process CPU), against tracing off.

    .venv/bin/python -m bench.tracing_cost

Each request does what a command does for tracing, in process, on the machine's Postgres
(127.0.0.1:5432, or STOCKLEDGER_DATABASE_URL): the request span (`tracing.RequestSpan`, no
incoming traceparent), the trace context a command stores (`tracing.traceparent()`), the group
commit's span (`tracing.batch`) around one Postgres call (asyncpg, instrumented while tracing is
on), and one Postgres call outside any span (the relay's or the projector's). Spans go to a
BatchSpanProcessor with an exporter that drops them. Off and on alternately, best of
`ROUNDS`; process CPU, so Postgres's own work is not counted."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from stockledger import tracing

REQUESTS, ROUNDS = 5_000, 5
RATIO = float(os.environ.get("STOCKLEDGER_BENCH_RATIO", "0.1"))


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: Any) -> None:
    return None


async def _cpu_per_request(connection: asyncpg.Connection[Any]) -> float:
    async def command(scope: Any, receive: Any, send: Any) -> None:
        stored = tracing.traceparent()
        with tracing.batch("ledger.batch", [stored], commands=1):
            await connection.fetchval("SELECT 1")
        await connection.fetchval("SELECT 2")  # background work, outside any span
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app: Any = command
    if tracing._tracer is not None:
        app = tracing.RequestSpan(command, tracing._tracer)
    scope = {"type": "http", "method": "POST", "path": "/v1/reservations", "headers": []}
    start = time.process_time()
    for _ in range(REQUESTS):
        await app(scope, _receive, _send)
    return (time.process_time() - start) / REQUESTS


async def main() -> None:
    url = os.environ.get(
        "STOCKLEDGER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    connection = await asyncpg.connect(url)
    timings: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(ROUNDS):
        timings["off"].append(await _cpu_per_request(connection))
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(RATIO)))
        provider.add_span_processor(BatchSpanProcessor(_Drop()))
        tracing.install(provider)
        try:
            timings["on"].append(await _cpu_per_request(connection))
        finally:
            tracing.uninstall()
    await connection.close()
    off, on = min(timings["off"]), min(timings["on"])
    print(
        f"tracing off {off * 1e6:.1f} us, on at {RATIO:g} {on * 1e6:.1f} us of CPU a request: "
        f"tracing adds {(on - off) * 1e6:.1f} us (best of {ROUNDS} x {REQUESTS:,})"
    )


if __name__ == "__main__":
    asyncio.run(main())
