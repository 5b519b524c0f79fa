"""What the command topic takes as a command, and why it parks the rest (API.md, "Commands over
Kafka"): the reason each dead letter carries in its `error` header."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import ConsumerRecord

from stockledger.api.commands import OPERATIONS
from stockledger.config import Role, parse_principals
from stockledger.pipeline.commands import Message, NotACommand, parse

PRINCIPALS = parse_principals("orders-svc:orders,wms:warehouse")
RESERVE = {"orderId": "O-1", "lines": [{"sku": "S-1", "warehouseId": "WH-A", "quantity": 1}]}


def record(key: bytes | None, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="inventory.commands",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=[],
    )


def test_a_command_names_its_operation_principal_role_and_key() -> None:
    value = {"command": "confirm", "principal": "orders-svc", "path": {"reservationId": "R-1"}}
    message = parse(record(b"key-1", orjson.dumps(value)), PRINCIPALS)
    assert message == Message(
        "key-1", "orders-svc", Role.ORDERS, OPERATIONS["confirm"], {"reservationId": "R-1"}, None
    )


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"k", b'{"command": "reserve", ', "the value is not JSON"),
        (b"k", b"[1, 2]", "the value is not a JSON object"),
        (b"k", orjson.dumps({"command": "teleport", "principal": "orders-svc"}), "unknown command"),
        (b"k", orjson.dumps({"principal": "orders-svc", "body": RESERVE}), "unknown command"),
        (b"k", orjson.dumps({"command": "reserve", "principal": "mallory"}), "unknown principal"),
        (b"k", orjson.dumps({"command": "reserve", "body": RESERVE}), "unknown principal"),
        (None, orjson.dumps({"command": "reserve", "principal": "orders-svc"}), "the key"),
        (b"a key", orjson.dumps({"command": "reserve", "principal": "orders-svc"}), "the key"),
        (b"\xff", orjson.dumps({"command": "reserve", "principal": "orders-svc"}), "UTF-8"),
    ],
)
def test_a_message_that_is_not_a_command_says_why(
    key: bytes | None, value: bytes, reason: str
) -> None:
    with pytest.raises(NotACommand) as refused:
        parse(record(key, value), PRINCIPALS)
    assert reason in refused.value.reason


def test_every_documented_command_is_taken() -> None:
    documented = {
        "reserve", "confirm", "release", "ship", "receive",
        "return", "transfer", "receive-transfer", "adjust", "count",
    }  # fmt: skip
    assert set(OPERATIONS) == documented
    assert OPERATIONS["confirm"].ids == OPERATIONS["release"].ids == ("reservationId",)
    assert OPERATIONS["receive-transfer"].ids == ("transferId",)


def test_principals_are_principal_colon_role() -> None:
    assert parse_principals(" a:orders , b:c:warehouse ") == {
        "a": Role.ORDERS,
        "b:c": Role.WAREHOUSE,
    }
    with pytest.raises(ValueError, match="principal:role"):
        parse_principals("orders")
    with pytest.raises(ValueError, match="one of"):
        parse_principals("a:root")
