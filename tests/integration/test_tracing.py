"""One trace from the HTTP request through the group commit, Postgres, the Kafka topic and the
projector (README "Tracing"), on real Postgres, Redis and Kafka; and an OTLP/HTTP export that
reaches a receiver of the test's own."""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from uuid import uuid4

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from stockledger import tracing
from stockledger.api.app import create_app
from stockledger.config import Settings
from stockledger.webhooks.queue import Due
from stockledger.webhooks.sender import Sender

from ..e2e.conftest import API_KEYS, Api
from ..support import eventually
from .kafka_reader import read_records
from .pipeline import Pipeline, start_pipeline


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # sampler from the environment: parent-based, always on
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.uninstall()


@pytest.fixture(scope="module")
async def pipe(
    spans: InMemorySpanExporter,
    new_database: Callable[[], str],
    kafka_broker: str,
    redis_server: str,
) -> AsyncIterator[Pipeline]:
    async with start_pipeline(new_database, kafka_broker, redis_server) as running:
        yield running


def incoming() -> tuple[str, str]:
    """A caller's W3C traceparent (sampled) and its trace id."""
    trace_id = secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01", trace_id


def of_trace(spans: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and f"{s.context.trace_id:032x}" == trace_id
    ]


async def test_one_trace_from_the_request_to_the_read_models(
    pipe: Pipeline,
    spans: InMemorySpanExporter,
    ids: Callable[[str], str],
    kafka_broker: str,
) -> None:
    header, trace_id = incoming()
    sku = ids("TRACED")
    answer = await pipe.api.post(
        "/v1/receipts",
        {"sku": sku, "warehouseId": "WH-T", "quantity": 4, "purchaseOrderId": "PO-T"}
        | {"unitCost": "1.00", "supplier": "Acme"},
        traceparent=header,
    )
    assert answer.status_code == 201, answer.text

    async def projected() -> list[ReadableSpan] | None:
        found = of_trace(spans, trace_id)
        return found if any(s.name == "projector.apply" for s in found) else None

    trace = await eventually(projected, within=30, what="the projector's span in the trace")
    by_id = {s.context.span_id: s for s in trace if s.context is not None}

    def chain(span: ReadableSpan) -> list[str]:
        """The names from `span` up to the root of the trace (within this service)."""
        names = [span.name]
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    (server,) = [s for s in trace if s.kind is SpanKind.SERVER]
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == header.split("-")[2]
    (commit,) = [s for s in trace if s.name == "ledger.batch"]
    assert chain(commit)[-1] == server.name
    assert any(
        s.attributes and s.attributes.get("db.system") in ("postgresql", "postgres")
        for s in trace
        if s.parent is not None and s.parent.span_id == commit.context.span_id
    ), "the append's Postgres calls are spans of the commit"
    produce = next(s for s in trace if s.name == "kafka.produce")
    apply = next(s for s in trace if s.name == "projector.apply")
    for span in (produce, apply):
        assert span.parent is not None
        assert span.parent.span_id == server.context.span_id

    # The context stored with the events and sent with their messages is the request's.
    stored = await pipe.pool.fetchval(
        "SELECT metadata->>'traceparent' FROM events WHERE stream_id = $1",
        f"stock:{sku}:WH-T",
    )
    assert stored is not None
    assert stored.split("-")[1] == trace_id
    records = await read_records(kafka_broker, pipe.settings.kafka_topic)
    (message,) = [r for r in records if r.key == f"stock:{sku}:WH-T".encode()]
    assert dict(message.headers)["traceparent"].decode() == stored
    envelope = orjson.loads(message.value or b"")
    assert envelope["metadata"]["traceparent"] == stored
    # ... and the message still matches its released schema (which allows further metadata).
    version = envelope["schemaVersion"]
    schema = (await pipe.api.http.get(f"/v1/schemas/events/StockReceived/{version}")).json()
    assert list(Draft202012Validator(schema).iter_errors(envelope)) == []


async def test_a_batch_serving_several_requests_links_each(
    pipe: Pipeline, spans: InMemorySpanExporter, ids: Callable[[str], str]
) -> None:
    sku = ids("LINKED")
    await pipe.api.receive(sku, "WH-L", 100)
    callers = [incoming() for _ in range(8)]
    for header, _ in callers:
        answer = await pipe.api.reserve(ids("ORD"), (sku, "WH-L", 1), traceparent=header)
        assert answer.status_code == 201, answer.text
    for _, trace_id in callers:
        (commit,) = [s for s in of_trace(spans, trace_id) if s.name == "ledger.batch"]
        linked = {f"{link.context.trace_id:032x}" for link in commit.links}
        assert trace_id in linked


async def test_postgres_calls_are_spans_only_inside_a_sampled_span(
    pipe: Pipeline, spans: InMemorySpanExporter, ids: Callable[[str], str]
) -> None:
    """Background work (relay, projector, leases) and unsampled requests start no trace of
    their own through Postgres; a sampled one sees its calls."""
    inside, outside = ids("inside"), ids("outside")
    await pipe.pool.fetchval(f"SELECT 1 /* {outside} */")
    header, trace_id = incoming()
    with tracing.batch("ledger.batch", [header]):
        await pipe.pool.fetchval(f"SELECT 1 /* {inside} */")

    def mentions(marker: str) -> list[ReadableSpan]:
        return [
            s
            for s in spans.get_finished_spans()
            if any(marker in str(v) for v in (s.attributes or {}).values())
        ]

    (call,) = mentions(inside)
    assert call.context is not None
    assert f"{call.context.trace_id:032x}" == trace_id
    assert mentions(outside) == []


class _Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: answers each POST with the next status of `answers`."""

    answers: list[int]
    seen: list[dict[str, str]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append(dict(self.headers.items()))
        self.send_response(self.answers.pop(0))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[int], list[dict[str, str]]]]:
    """A webhook receiver of the test's own: its URL, the statuses it will answer, the
    headers it got."""
    answers: list[int] = []
    seen: list[dict[str, str]] = []
    handler = type("Hook", (_Hook,), {"answers": answers, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/stock?token=t0p", answers, seen
    server.shutdown()
    thread.join()


async def test_each_delivery_attempt_is_a_span_of_its_events_trace(
    spans: InMemorySpanExporter,
    hook: tuple[str, list[int], list[dict[str, str]]],
    ids: Callable[[str], str],
) -> None:
    url, answers, seen = hook
    stored, trace_id = incoming()  # what the command's request stored with the event
    sender = Sender(
        url, "whsec_" + "A" * 32, timeout=5, concurrency=1, allow_private=True, webhook_id="wh-1"
    )
    event_id = ids("EVT")

    def due(attempts: int, traceparent: str | None) -> Due:
        return Due(uuid4(), "stock:S:W", attempts, None, event_id, traceparent, b"{}")

    answers += [503, 204, 204]
    try:
        failed = await sender.post(due(0, stored))
        delivered = await sender.post(due(1, stored))
        untraced = await sender.post(due(0, None))
    finally:
        await sender.close()
    assert (failed.ok, delivered.ok, untraced.ok) == (False, True, True)

    attempts = sorted(
        (s for s in of_trace(spans, trace_id) if s.name == "webhook.deliver"),
        key=lambda s: s.start_time or 0,
    )
    assert len(attempts) == 2  # the untraced event's delivery started no trace
    for number, span, status in zip((1, 2), attempts, (503, 204), strict=True):
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == stored.split("-")[2]  # the event's context
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == status
        assert span.attributes["webhook.attempt"] == number
        assert span.attributes["webhook.id"] == "wh-1"
        assert span.attributes["webhook.event_id"] == event_id
        assert span.attributes["url.full"] == url.split("?")[0]  # never the query's token
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempts[1].status.status_code is StatusCode.UNSET

    # The receiver continues the attempt's span; an untraced event sends no trace context.
    sent = [h.get("traceparent") or h.get("Traceparent") for h in seen]
    assert sent[:2] == [
        f"00-{trace_id}-{s.context.span_id:016x}-01" for s in attempts if s.context is not None
    ]
    assert sent[2] is None


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        self.bodies.append(self.rfile.read(size) if self.path == "/v1/traces" else b"")
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """An OTLP/HTTP endpoint of the test's own: the protobuf bodies POSTed to /v1/traces."""
    bodies: list[bytes] = []
    handler = type("Receiver", (_Receiver,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()
    thread.join()


async def test_spans_are_exported_over_otlp_http(
    pipe: Pipeline,
    receiver: tuple[str, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    ids: Callable[[str], str],
) -> None:
    endpoint, bodies = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "stockledger-otlp-test")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    tracing.uninstall()  # the module's in-memory provider (this test runs last): now OTEL_*
    try:
        assert tracing.install_from_environment()
        app = create_app(Settings(database_url=database_url, api_keys=API_KEYS))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                await Api(http).receive(ids("OTLP"), "WH-O", 1)
    finally:
        tracing.uninstall()  # flushes the batch processor to the receiver

    names: set[str] = set()
    services: set[str] = set()
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope in resource_spans.scope_spans:
                names.update(span.name for span in scope.spans)
    assert "ledger.batch" in names
    assert any(name.startswith("POST") for name in names), names
    assert services == {"stockledger-otlp-test"}
