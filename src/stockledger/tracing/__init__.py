"""OpenTelemetry traces, off unless the standard `OTEL_*` settings ask for them.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_TRACES_EXPORTER` is set (and not `none`); then
the SDK reads every other `OTEL_*` variable itself: `OTEL_SERVICE_NAME`,
`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (e.g. `parentbased_traceidratio` and `0.1`),
`OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`. Off, nothing of OpenTelemetry is imported and every hook
here returns at once: no SDK object is made on the request path.

Sampling is decided once, at the request edge, and what is not sampled costs next to nothing:
a request without a `traceparent` that the sampler drops (90% at `parentbased_traceidratio`
0.1) gets no span in its context at all, so it stores no trace context with its events, sends
none to Kafka, makes no batch span and no Postgres span downstream. The work done for many
requests or events (`batch`, `follow`) makes a span only when one of them was sampled, and the
Postgres instrumentation only records calls made inside a recording span (`install`). So the
background work (relay, projector, webhooks, expiry) never starts traces of its own.

The path of one command, as one trace (W3C trace context, README "Tracing"):
- the request span (`RequestSpan`, outermost ASGI middleware), continuing an incoming
  `traceparent` (an unsampled caller's context is passed on as it came, flag 00);
- `ledger.batch`: the group commit that appended it. A batch serves many requests, so its span
  is a child of the first traced request in it and links to every one (`batch()`); the
  Postgres spans of the append nest under it;
- the request's `traceparent` is stored in its events' `metadata.traceparent`
  (write/record.py) and the relay sends it as the Kafka header `traceparent`;
- `kafka.produce` in the relay and `projector.apply` in the projector continue it (`batch()`
  again: one span per batch of messages, linked to each event's trace).

Anything else that acts on stored events (webhook deliveries) continues the trace with
`with follow("webhook.deliver", event.metadata["traceparent"]):`, or with
`continue_from(event.metadata)` as the parent context of a span of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

TRACEPARENT = "traceparent"
SERVICE = "stockledger"

_tracer: Tracer | None = None  # set while tracing is on (`install`)
_provider: TracerProvider | None = None
_postgres: AsyncPGInstrumentor | None = None
_OFF: AbstractContextManager[None] = nullcontext()


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the `OTEL_*` settings ask for traces (README "Tracing")."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()) or exporter not in ("", "none")


def on() -> bool:
    return _tracer is not None


def install_from_environment() -> bool:
    """Turn tracing on when the environment asks for it (once per process); True if on."""
    if _tracer is not None:
        return True
    if not wanted():
        return False
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    # The sampler comes from OTEL_TRACES_SAMPLER(_ARG) (the SDK's default when none is passed).
    resource = Resource.create({"service.name": SERVICE}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    exporters: list[SpanExporter] = []
    for name in (os.environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(","):
        match name.strip().lower():
            case "otlp":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                exporters.append(OTLPSpanExporter())  # OTEL_EXPORTER_OTLP_* configure it
            case "console":
                from opentelemetry.sdk.trace.export import ConsoleSpanExporter

                exporters.append(ConsoleSpanExporter())
            case "none" | "":
                pass
            case other:
                raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {other!r}")
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    return True


def install(provider: TracerProvider) -> None:
    """Trace with `provider` from now on (the tests pass one with an in-memory exporter)."""
    global _tracer, _provider, _postgres
    from .postgres import instrumentor

    _provider = provider
    _tracer = provider.get_tracer("stockledger")
    _postgres = instrumentor()
    _postgres.instrument(tracer_provider=provider)


def uninstall() -> None:
    """Tracing off again: flush what is buffered, undo the Postgres instrumentation."""
    global _tracer, _provider, _postgres
    if _provider is None:
        return
    if _postgres is not None:
        _postgres.uninstrument()
    _provider.shutdown()
    _tracer = _provider = _postgres = None


def add_request_span(app: Any) -> None:
    """The request span as `app`'s outermost middleware when tracing is on (it continues an
    incoming `traceparent`)."""
    if _tracer is not None:
        app.add_middleware(RequestSpan, tracer=_tracer)


class RequestSpan:  # built only while tracing is on
    """One SERVER span per sampled HTTP request, a child of the caller's `traceparent` if it
    sent one.

    Not opentelemetry-instrumentation-asgi: that one also makes a span around every receive
    and send and computes its attributes before sampling; at 10% sampling it cost the reserve
    route 0.9 ms of CPU per request against 1.2 ms untraced (`stockledger bench T1`). Here a
    request without a caller context that the sampler drops costs the sampling decision and
    nothing else: its span is never made current, so nothing downstream traces it. Attributes
    (semantic conventions: method, route, status) are set only on sampled spans."""

    def __init__(self, app: Any, tracer: Tracer) -> None:
        from opentelemetry.trace import INVALID_SPAN, SpanKind, set_span_in_context, use_span
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.app = app
        self.tracer = tracer
        self.kind = SpanKind.SERVER
        self.propagator = TraceContextTextMapPropagator()
        self.root = set_span_in_context(INVALID_SPAN)  # no caller context: a new trace
        self.use_span = use_span

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier: dict[str, str] | None = None
        for k, v in scope["headers"]:
            if k == b"traceparent" or k == b"tracestate":
                carrier = carrier or {}
                carrier[k.decode("latin-1")] = v.decode("latin-1")
        method = scope["method"]
        if carrier is None:  # the sampler alone decides; dropped, the request is not traced
            span = self.tracer.start_span(method, context=self.root, kind=self.kind)
            if not span.is_recording():
                await self.app(scope, receive, send)
                return
            with self.use_span(span, end_on_exit=True):
                await self._traced(span, method, scope, receive, send)
            return
        parent = self.propagator.extract(carrier)
        with self.tracer.start_as_current_span(method, context=parent, kind=self.kind) as span:
            if span.is_recording():
                await self._traced(span, method, scope, receive, send)
            else:  # the caller's unsampled context, passed on (stored with its events)
                await self.app(scope, receive, send)

    async def _traced(self, span: Span, method: str, scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                span.set_attribute("http.response.status_code", message["status"])
                if message["status"] >= 500:
                    from opentelemetry.trace import StatusCode

                    span.set_status(StatusCode.ERROR)
            await send(message)

        span.set_attribute("http.request.method", method)
        span.set_attribute("url.path", scope["path"])
        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.set_attribute("http.route", route)
            span.update_name(f"{method} {route or scope['path']}")


def traceparent() -> str | None:
    """The current trace context as a W3C `traceparent`, None when off or outside a span."""
    if _tracer is None:
        return None
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def continue_from(metadata: Mapping[str, Any] | None) -> Context | None:
    """The trace context stored in an event's metadata (its `traceparent`), to pass as the
    parent `context` of a span that acts on the event (a projector, a webhook delivery):
    `tracer.start_as_current_span(name, context=tracing.continue_from(event.metadata))`.
    None when tracing is off or the event carries none."""
    if _tracer is None or not metadata or not isinstance(metadata.get(TRACEPARENT), str):
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({TRACEPARENT: metadata[TRACEPARENT]})


def sampled(header: object) -> TypeGuard[str]:
    """Whether `header` is a W3C `traceparent` of a sampled trace (`00-<32>-<16>-<flags>`)."""
    if not isinstance(header, str) or len(header) != 55:
        return False
    try:
        return bool(int(header[53:], 16) & 1)
    except ValueError:
        return False


def follow(
    name: str, header: str | None, *, client: bool = False, **attributes: str | int
) -> AbstractContextManager[Any]:
    """A span for work done on one stored event (a webhook delivery attempt), a child of the
    trace context `header` stored with it (`metadata.traceparent`): `with
    tracing.follow("webhook.deliver", delivery.traceparent) as span:` (`client`: a call to
    another service). No span (None) when off or when the event's trace was not sampled or
    carries none: the edge decided."""
    if _tracer is None or not sampled(header):
        return _OFF
    return _batch(_tracer, name, [header], attributes, client=client)


def outcome(span: Any, status_code: int | None, error: str | None) -> None:
    """Record how an outgoing HTTP call went on its span (None, off or unsampled: nothing)."""
    if span is None:
        return
    if status_code is not None:
        span.set_attribute("http.response.status_code", status_code)
    if error is not None:
        from opentelemetry.trace import StatusCode

        span.set_status(StatusCode.ERROR, error)


def batch(
    name: str, traceparents: Iterable[str | None], **attributes: str | int
) -> AbstractContextManager[Any]:
    """A span for work done at once for many requests or events: a child of the first sampled
    trace context among `traceparents` and linked to each sampled one. No span (None) when
    off or when none of them was sampled."""
    if _tracer is None:
        return _OFF
    chosen = [h for h in traceparents if sampled(h)]
    if not chosen:
        return _OFF
    return _batch(_tracer, name, chosen, attributes)


@contextmanager
def _batch(
    tracer: Tracer,
    name: str,
    traceparents: list[str],
    attributes: dict[str, str | int],
    *,
    client: bool = False,
) -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    parent: Context | None = None
    links: list[trace.Link] = []
    for header in dict.fromkeys(traceparents):  # sampled ones, each once, in order
        context = propagator.extract({TRACEPARENT: header})
        span_context = trace.get_current_span(context).get_span_context()
        if span_context.is_valid:
            parent = parent or context  # the first: the batch is a span of its trace
            links.append(trace.Link(span_context))
    if parent is None:
        yield None
        return
    kind = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
    with tracer.start_as_current_span(name, context=parent, links=links, kind=kind) as span:
        for key, value in attributes.items():
            span.set_attribute(key, value)
        yield span
