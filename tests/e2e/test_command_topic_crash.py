"""A `serve` process taking commands from Kafka, SIGKILLed while it answers them: the process
that takes its partitions over loses no command, executes none twice and answers every one."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from ..integration.command_topic import PRINCIPALS, answers_of, command, produce
from ..support import eventually
from .conftest import auth
from .processes import serving

COMMANDS = 4000
SKUS = 40


async def test_a_consumer_killed_mid_batch_loses_nothing_and_executes_nothing_twice(
    new_database: Any, kafka_broker: str, tmp_path: Path, ids: Any
) -> None:
    database = await asyncio.to_thread(new_database)
    topic = ids("commands")
    env = {
        "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
        "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",
        "STOCKLEDGER_KAFKA_TOPIC": ids("topic"),
        "STOCKLEDGER_KAFKA_CONSUMER_GROUP": ids("group"),
        "STOCKLEDGER_KAFKA_PARTITIONS": "3",
        "STOCKLEDGER_KAFKA_COMMAND_TOPIC": topic,
        "STOCKLEDGER_KAFKA_COMMAND_GROUP": ids("commands-group"),
        "STOCKLEDGER_KAFKA_COMMAND_PRINCIPALS": PRINCIPALS,
    }
    skus = [ids("SKU") for _ in range(SKUS)]
    orders = [ids("ORDER") for _ in range(COMMANDS)]
    keys = [ids("key") for _ in orders]
    messages = [
        (key, command("reserve", _reservation(order, skus[n % SKUS])))
        for n, (key, order) in enumerate(zip(keys, orders, strict=True))
    ]
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
    with serving(database, tmp_path / "first", 1, **env) as [first]:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as http:
            for sku in skus:
                receipt = {
                    "sku": sku,
                    "warehouseId": "WH-A",
                    "quantity": COMMANDS,
                    "purchaseOrderId": "PO-1",
                    "unitCost": "1.00",
                    "supplier": "Acme",
                }
                response = await http.post("/v1/receipts", json=receipt, headers=auth("warehouse"))
                assert response.status_code == 201, response.text
        async with answers_of(kafka_broker, topic) as answers:
            await produce(kafka_broker, topic, messages)

            async def answering() -> bool:  # some answered, not all: it is mid-work
                return len(answers.results) >= 200

            await eventually(answering, within=60, interval=0.005, what="the first answers")
            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(10)
            answered_by_the_first = len(answers.results)
            assert answered_by_the_first < COMMANDS, "killed too late to be mid-work"

            with serving(database, tmp_path / "second", 1, **env):
                await answers.answered(keys, within=180)
            for key in keys:
                copies = answers.results[key]
                assert all(copy == copies[0] for copy in copies), key
                assert copies[0]["status"] == 201, copies[0]

    conn = await asyncpg.connect(database)
    try:
        executions = await conn.fetch(
            "SELECT order_id, count(*) AS n FROM events WHERE type = 'StockReserved'"
            " AND stream_id LIKE 'reservation:%' GROUP BY order_id"
        )
        reserved = await conn.fetch(
            "SELECT stream_id, sum(d_reserved) AS r FROM events"
            " WHERE stream_id LIKE 'stock:%' GROUP BY stream_id"
        )
    finally:
        await conn.close()
    assert {row["order_id"] for row in executions} == set(orders)  # none lost
    assert {row["n"] for row in executions} == {1}  # none twice
    assert sum(row["r"] for row in reserved) == COMMANDS


def _reservation(order: str, sku: str) -> dict[str, Any]:
    return {"orderId": order, "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 1}]}
