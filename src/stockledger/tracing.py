"""OpenTelemetry traces, off unless the standard `OTEL_*` settings ask for them.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_TRACES_EXPORTER` is set (and not `none`); then
the SDK reads every other `OTEL_*` variable itself: `OTEL_SERVICE_NAME`,
`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (e.g. `parentbased_traceidratio` and `0.1`),
`OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`. Off, nothing of OpenTelemetry is imported and every hook
here returns at once: no SDK object is made on the request path.

The path of one command, as one trace (W3C trace context, README "Tracing"):
- the request span (`RequestSpan`, outermost ASGI middleware), continuing an incoming
  `traceparent`;
- `ledger.batch`: the group commit that appended it. A batch serves many requests, so its span
  is a child of the first traced request in it and links to every one (`batch()`); the
  Postgres spans of the append nest under it;
- the request's `traceparent` is stored in its events' `metadata.traceparent`
  (write/record.py) and the relay sends it as the Kafka header `traceparent`;
- `kafka.produce` in the relay and `projector.apply` in the projector continue it (`batch()`
  again: one span per batch of messages, linked to each event's trace).

Anything else that acts on stored events (webhook deliveries) continues the trace with
`with follow("webhook.deliver", event.metadata):`, or with `continue_from(event.metadata)` as
the parent context of a span of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

TRACEPARENT = "traceparent"
SERVICE = "stockledger"

_tracer: Tracer | None = None  # set while tracing is on (`install`)
_provider: TracerProvider | None = None
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
    global _tracer, _provider
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    _provider = provider
    _tracer = provider.get_tracer("stockledger")
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]


def uninstall() -> None:
    """Tracing off again: flush what is buffered, undo the Postgres instrumentation."""
    global _tracer, _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    _provider.shutdown()
    _tracer = _provider = None


def add_request_span(app: Any) -> None:
    """The request span as `app`'s outermost middleware when tracing is on (it continues an
    incoming `traceparent`)."""
    if _tracer is not None:
        app.add_middleware(RequestSpan, tracer=_tracer)


class RequestSpan:  # built only while tracing is on
    """One SERVER span per HTTP request, a child of the caller's `traceparent` if it sent one.

    Not opentelemetry-instrumentation-asgi: that one also makes a span around every receive
    and send and computes its attributes before sampling; at 10% sampling it cost the reserve
    route 0.9 ms of CPU per request against 1.2 ms untraced (`stockledger bench T1`). Here an
    unsampled request costs the sampling decision and a non-recording span; the attributes
    (semantic conventions: method, route, status) are set only on sampled ones."""

    def __init__(self, app: Any, tracer: Tracer) -> None:
        from opentelemetry.trace import INVALID_SPAN, SpanKind, set_span_in_context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.app = app
        self.tracer = tracer
        self.kind = SpanKind.SERVER
        self.propagator = TraceContextTextMapPropagator()
        self.root = set_span_in_context(INVALID_SPAN)  # no caller context: a new trace

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in (b"traceparent", b"tracestate")
        }
        parent = self.propagator.extract(carrier) if carrier else self.root
        method = scope["method"]
        with self.tracer.start_as_current_span(method, context=parent, kind=self.kind) as span:
            if not span.is_recording():
                await self.app(scope, receive, send)
                return

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


def follow(
    name: str, metadata: Mapping[str, Any] | None, **attributes: str | int
) -> AbstractContextManager[Any]:
    """A span for work done on one stored event (a webhook delivery), continuing the trace of
    the command that recorded it: `with tracing.follow("webhook.deliver", event.metadata):`.
    A root span if the event carries no trace context; a no-op when off."""
    if _tracer is None:
        return _OFF
    header = metadata.get(TRACEPARENT) if metadata else None
    return _batch(_tracer, name, [header if isinstance(header, str) else None], attributes)


def batch(
    name: str, traceparents: Iterable[str | None], **attributes: str | int
) -> AbstractContextManager[Any]:
    """A span for work done at once for many traced requests or events: a child of the first
    trace context among `traceparents` and linked to each of them. A no-op when off."""
    if _tracer is None:
        return _OFF
    return _batch(_tracer, name, traceparents, attributes)


@contextmanager
def _batch(
    tracer: Tracer, name: str, traceparents: Iterable[str | None], attributes: dict[str, str | int]
) -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    parent: Context | None = None
    parent_sampled = False
    links: list[trace.Link] = []
    seen: set[str] = set()
    for header in traceparents:
        if header is None or header in seen:
            continue
        seen.add(header)
        context = propagator.extract({TRACEPARENT: header})
        span_context = trace.get_current_span(context).get_span_context()
        if not span_context.is_valid:
            continue
        # The parent: the first sampled context (an unsampled first request must not keep the
        # batch out of a sampled request's trace), else the first.
        if parent is None or (span_context.trace_flags.sampled and not parent_sampled):
            parent, parent_sampled = context, span_context.trace_flags.sampled
        links.append(trace.Link(span_context))
    with tracer.start_as_current_span(
        name, context=parent or trace.set_span_in_context(trace.INVALID_SPAN), links=links
    ) as span:
        for key, value in attributes.items():
            span.set_attribute(key, value)
        yield span
