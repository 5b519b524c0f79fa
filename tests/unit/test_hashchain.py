"""The documented hash-chain encoding, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockledger.store.hashchain import canonical, canonical_time


def test_canonical_bytes_are_sorted_compact_utf8_with_a_fixed_time_format() -> None:
    body = canonical(
        event_id="0f8c5c2e-0000-4000-8000-000000000001",
        type="StockCounted",
        stream_id="stock:SKU-1:WH-A",
        version=2,
        recorded_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        schema_version=1,
        data={"notes": 'Zählung\n"ok"', "countedQuantity": 7},
        metadata={"correlationId": "c", "causedBy": "ops"},
    )
    assert (
        body
        == (
            '{"data":{"countedQuantity":7,"notes":"Zählung\\n\\"ok\\""},'
            '"eventId":"0f8c5c2e-0000-4000-8000-000000000001",'
            '"metadata":{"causedBy":"ops","correlationId":"c"},'
            '"recordedAt":"2026-03-01T12:00:00.000000Z","schemaVersion":1,'
            '"streamId":"stock:SKU-1:WH-A","type":"StockCounted","version":2}'
        ).encode()
    )
    offset = datetime.fromisoformat("2026-03-01T07:00:00.5-05:00")
    assert canonical_time(offset) == "2026-03-01T12:00:00.500000Z"
    with pytest.raises(TypeError, match="floats"):
        canonical(
            event_id="x",
            type="t",
            stream_id="s",
            version=1,
            recorded_at=offset,
            schema_version=1,
            data={"quantity": 1.5},
            metadata={},
        )
