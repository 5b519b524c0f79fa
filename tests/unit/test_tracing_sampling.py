"""Sampling is decided once at the request edge: a request the sampler drops carries no trace
context past the edge (nothing stored, nothing sent, no span downstream), a sampled one does,
and a caller's own context is continued either way (README "Tracing")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler

from stockledger import tracing

CALLER_TRACE, CALLER_SPAN = "e" * 32, "f" * 16


def _traced(sampler: Sampler) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(sampler))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


@pytest.fixture
def dropping() -> Iterator[InMemorySpanExporter]:
    """Tracing on, with a sampler that drops every new trace (as 90% at ratio 0.1)."""
    yield from _traced(ALWAYS_OFF)


@pytest.fixture
def keeping() -> Iterator[InMemorySpanExporter]:
    yield from _traced(ALWAYS_ON)


async def _request(traceparent: str | None = None) -> tuple[str | None, bool]:
    """One request through the request span: the trace context a command of it would store,
    and whether a batch it joined would make a span."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["traceparent"] = tracing.traceparent()
        with tracing.batch("ledger.batch", [seen["traceparent"]]) as span:
            seen["batch"] = span is not None
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    headers = [(b"traceparent", traceparent.encode())] if traceparent else []
    scope = {"type": "http", "method": "POST", "path": "/v1/reservations", "headers": headers}
    assert tracing._tracer is not None
    await tracing.RequestSpan(app, tracing._tracer)(scope, receive, send)
    return seen["traceparent"], seen["batch"]


async def test_a_request_the_sampler_drops_carries_no_context_past_the_edge(
    dropping: InMemorySpanExporter,
) -> None:
    assert await _request() == (None, False)
    assert dropping.get_finished_spans() == ()


async def test_a_sampled_request_is_one_trace_to_its_batch(keeping: InMemorySpanExporter) -> None:
    stored, batched = await _request()
    assert stored is not None
    assert tracing.sampled(stored)
    assert batched
    batch, request = keeping.get_finished_spans()
    assert (batch.name, request.name) == ("ledger.batch", "POST /v1/reservations")
    assert batch.parent is not None
    assert request.context is not None
    assert batch.parent.span_id == request.context.span_id


async def test_a_callers_context_is_continued_whether_or_not_it_was_sampled(
    dropping: InMemorySpanExporter,
) -> None:
    stored, batched = await _request(f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
    assert stored is not None
    assert stored.split("-")[1] == CALLER_TRACE
    assert batched
    (request,) = [s for s in dropping.get_finished_spans() if s.name.startswith("POST")]
    assert request.parent is not None
    assert f"{request.parent.span_id:016x}" == CALLER_SPAN

    unsampled, batched = await _request(f"00-{CALLER_TRACE}-{CALLER_SPAN}-00")
    assert unsampled is not None
    assert unsampled.split("-")[1] == CALLER_TRACE
    assert unsampled.endswith("-00")
    assert not batched


@pytest.mark.parametrize(
    ("header", "sampled"),
    [
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", True),
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-03", True),
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-00", False),
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-zz", False),
        ("00-short-01", False),
        (None, False),
    ],
)
def test_only_a_sampled_traceparent_counts_as_sampled(header: str | None, sampled: bool) -> None:
    assert tracing.sampled(header) is sampled
