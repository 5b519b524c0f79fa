"""Commands over Kafka (API.md, "Commands over Kafka"): the same write path as HTTP, one answer
per key whichever way the command came, and messages that are not commands parked in the DLQ."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ..support import eventually
from .command_topic import PRINCIPALS, Answers, answers_of, command, produce
from .pipeline import Pipeline, start_pipeline


@pytest.fixture(scope="module")
async def pipe(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str
) -> AsyncIterator[Pipeline]:
    async with start_pipeline(
        new_database,
        kafka_broker,
        redis_server,
        kafka_command_topic=f"commands-{uuid.uuid4().hex[:8]}",
        kafka_command_group=f"commands-{uuid.uuid4().hex[:8]}",
        kafka_command_principals=PRINCIPALS,
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def answers(pipe: Pipeline, kafka_broker: str) -> AsyncIterator[Answers]:
    assert pipe.settings.kafka_command_topic is not None
    async with answers_of(kafka_broker, pipe.settings.kafka_command_topic) as read:
        yield read


def reservation(order: str, sku: str, quantity: int = 1) -> dict[str, Any]:
    return {"orderId": order, "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": quantity}]}


async def send(pipe: Pipeline, kafka: str, *messages: tuple[str | None, bytes]) -> None:
    assert pipe.settings.kafka_command_topic is not None
    await produce(kafka, pipe.settings.kafka_command_topic, messages)


async def reserved(pipe: Pipeline, sku: str) -> int:
    level = await pipe.api.stock(sku, "WH-A", consistency="strong")
    return int(level["reserved"])


async def test_one_key_by_http_and_by_the_topic_is_executed_once_with_one_answer(
    pipe: Pipeline, answers: Answers, kafka_broker: str, ids: Callable[[str], str]
) -> None:
    sku = ids("SKU")
    await pipe.api.receive(sku, "WH-A", 10)

    # HTTP first, then the same command on the topic under the same key.
    first, body = ids("key"), reservation(ids("ORDER"), sku, 3)
    http = await pipe.api.post("/v1/reservations", body, role="orders", Idempotency_Key=first)
    assert http.status_code == 201, http.text
    await send(pipe, kafka_broker, (first, command("reserve", body)))
    await answers.answered([first])
    assert answers.results[first] == [{"key": first, "status": 201, "body": http.json()}]

    # The topic first, then HTTP.
    second, body = ids("key"), reservation(ids("ORDER"), sku, 4)
    await send(pipe, kafka_broker, (second, command("reserve", body)))
    await answers.answered([second])
    [result] = answers.results[second]
    assert result["status"] == 201
    http = await pipe.api.post("/v1/reservations", body, role="orders", Idempotency_Key=second)
    assert http.status_code == 201, http.text
    assert http.headers["Idempotent-Replayed"] == "true"
    assert http.json() == result["body"]

    # Another request under a key the topic used: the HTTP answer to a reused key.
    other = await pipe.api.post(
        "/v1/reservations", reservation(ids("ORDER"), sku, 1), role="orders", Idempotency_Key=second
    )
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"

    assert await reserved(pipe, sku) == 7  # 3 + 4, each once


async def test_a_thousand_commands_produced_twice_are_each_executed_once(
    pipe: Pipeline, answers: Answers, kafka_broker: str, ids: Callable[[str], str]
) -> None:
    skus = [ids("SKU") for _ in range(20)]
    for sku in skus:
        await pipe.api.receive(sku, "WH-A", 100)
    orders = [ids("ORDER") for _ in range(1000)]
    keys = [ids("key") for _ in orders]
    messages = [
        (key, command("reserve", reservation(order, skus[n % len(skus)])))
        for n, (key, order) in enumerate(zip(keys, orders, strict=True))
    ]
    await send(pipe, kafka_broker, *messages)
    await send(pipe, kafka_broker, *messages)  # a producer's retry of everything

    await answers.answered(keys, copies=2, within=120)
    for key in keys:
        first, again = answers.results[key]
        assert first == again
        assert first["status"] == 201, first
    executions = await pipe.pool.fetch(
        "SELECT order_id, count(*) AS n FROM events WHERE type = 'StockReserved'"
        " AND stream_id LIKE 'reservation:%' AND order_id = ANY($1) GROUP BY order_id",
        orders,
    )
    assert len(executions) == 1000
    assert {row["n"] for row in executions} == {1}
    assert sum([await reserved(pipe, sku) for sku in skus]) == 1000


async def test_messages_that_are_not_commands_go_to_the_dlq_with_the_reason(
    pipe: Pipeline, answers: Answers, kafka_broker: str, ids: Callable[[str], str]
) -> None:
    assert pipe.settings.kafka_command_topic is not None
    sku = ids("SKU")
    await pipe.api.receive(sku, "WH-A", 5)
    malformed, unknown, stranger, keyless = ids("key"), ids("key"), ids("key"), ids("ORDER")
    parked = {
        malformed: (b'{"command": "reserve", ', "not JSON"),
        unknown: (command("teleport", reservation(ids("ORDER"), sku)), "unknown command"),
        stranger: (
            command("reserve", reservation(ids("ORDER"), sku), principal="mallory"),
            "unknown principal",
        ),
    }
    invalid, forbidden, valid = ids("key"), ids("key"), ids("key")
    await send(
        pipe,
        kafka_broker,
        *((key, value) for key, (value, _) in parked.items()),
        (None, command("reserve", reservation(keyless, sku))),
        (invalid, command("reserve", {"orderId": ids("ORDER"), "lines": []})),
        (forbidden, command("reserve", reservation(ids("ORDER"), sku), "warehouse-svc")),
        (valid, command("reserve", reservation(ids("ORDER"), sku, 2))),
    )

    # The consumer went on: the commands after the bad messages are answered, as HTTP would.
    await answers.answered([invalid, forbidden, valid])
    assert answers.results[valid][0]["status"] == 201
    [refused] = answers.results[invalid]
    assert refused["status"] == 422
    assert refused["body"]["type"] == "/problems/validation-error"
    assert refused["body"]["errors"][0]["location"] == "body.lines"
    assert answers.results[forbidden][0]["status"] == 403

    topic = pipe.settings.kafka_command_topic

    async def parked_all() -> bool:
        return len(answers.dead(topic)) >= 4

    await eventually(parked_all, within=30, what="four dead letters")
    dead = {(r.key or b"").decode(): r for r in answers.dead(topic)}
    for key, (value, reason) in parked.items():
        assert dead[key].value == value  # unchanged
        error = dict(dead[key].headers)["error"].decode()
        assert reason in error, error
    assert "key" in dict(dead[""].headers)["error"].decode()
    assert all(key not in answers.results for key in parked)
    assert await reserved(pipe, sku) == 2  # only the valid command reserved anything
