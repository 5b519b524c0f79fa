"""Every log line is one JSON object, the Kafka client's own lines included."""

from __future__ import annotations

import logging

import orjson
import pytest

from stockledger.logs import configure


def test_a_kafka_client_line_comes_out_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", json=True)
    logging.getLogger("aiokafka.consumer.fetcher").error(
        "Failed fetch messages from %s: %s", 111, "NodeNotReadyError"
    )
    (line,) = capsys.readouterr().err.strip().splitlines()
    record = orjson.loads(line)
    assert record["event"] == "Failed fetch messages from 111: NodeNotReadyError"
    assert record["level"] == "error"
    assert record["logger"] == "aiokafka.consumer.fetcher"
    assert "timestamp" in record
