"""Tracing is off unless the standard OTEL_* settings ask for it, and off it changes nothing a
v1 client sees: no traceparent in the metadata, no span machinery on the write path."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stockledger import tracing
from stockledger.domain import commands as c
from stockledger.domain.aggregates import initial_state
from stockledger.write.record import Caller, record, streams_of


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_SERVICE_NAME": "stockledger", "OTEL_TRACES_SAMPLER": "always_on"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_only_an_exporter_setting_turns_tracing_on(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(environ) is wanted


def test_off_nothing_is_traced_and_the_metadata_is_as_in_v1() -> None:
    assert not tracing.on()
    assert tracing.traceparent() is None
    assert tracing.continue_from({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None
    with tracing.batch("ledger.batch", ["00-" + "1" * 32 + "-" + "2" * 16 + "-01"]) as span:
        assert span is None


def _receipt_metadata(caller: Caller) -> dict[str, object]:
    command = c.ReceiveStock(
        sku="SKU-1",
        warehouse_id="WH-1",
        quantity=1,
        purchase_order_id="PO-1",
        unit_cost=Decimal("1.00"),
        supplier="Acme",
    )
    states = {s: initial_state(s) for s in streams_of(command, initial_state)}
    recording = record(command, states, datetime.now(UTC), caller, uuid4)
    return dict(recording.events[0][1].metadata)


def test_a_traced_command_stores_its_trace_context_in_the_metadata() -> None:
    header = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    assert "traceparent" not in _receipt_metadata(Caller("svc"))
    assert _receipt_metadata(Caller("svc", traceparent=header))["traceparent"] == header


def test_work_on_a_stored_event_continues_the_commands_trace() -> None:
    """What a webhook delivery does with `follow`: its span is in the command's trace; an event
    whose command was not sampled (or not traced) gets no span at all."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id, span_id = "c" * 32, "d" * 16
    tracing.install(provider)
    try:
        with tracing.follow("webhook.deliver", f"00-{trace_id}-{span_id}-01") as span:
            assert span is not None
        with tracing.follow("webhook.deliver", f"00-{trace_id}-{span_id}-00") as span:
            assert span is None
        with tracing.follow("webhook.deliver", None) as span:  # an untraced event
            assert span is None
        assert tracing.continue_from({"causedBy": "svc"}) is None
    finally:
        tracing.uninstall()
    (traced,) = exporter.get_finished_spans()
    assert traced.context is not None
    assert f"{traced.context.trace_id:032x}" == trace_id
    assert traced.parent is not None
    assert f"{traced.parent.span_id:016x}" == span_id
    assert not tracing.on()
