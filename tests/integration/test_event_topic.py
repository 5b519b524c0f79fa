"""A fresh deployment's event topic has the partitions its AsyncAPI document promises, whichever
of the relay and the projector reaches the broker first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from stockledger.api.app import create_app
from stockledger.config import Settings

from ..e2e.conftest import API_KEYS
from ..support import eventually


async def partitions_on_the_broker(bootstrap: str, topic: str) -> int | None:
    """The topic's partition count, None while it does not exist. Asks for every topic, none by
    name: a metadata request naming a topic may create it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics()}
    finally:
        await admin.close()
    return len(described[topic]["partitions"]) if topic in described else None


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param({"run_relay": False}, id="projector-alone"),  # subscribes, never produces
        pytest.param({}, id="relay-and-projector"),
    ],
)
async def test_a_fresh_deployments_topic_has_the_documented_partitions(
    new_database: Callable[[], str], kafka_broker: str, roles: dict[str, bool]
) -> None:
    settings = Settings(  # the partition count left at its default
        database_url=await asyncio.to_thread(new_database),
        kafka_bootstrap_servers=kafka_broker,
        kafka_topic=f"events-{uuid.uuid4().hex[:8]}",
        kafka_idempotence=False,
        kafka_consumer_group=f"projector-{uuid.uuid4().hex[:8]}",
        api_keys=API_KEYS,
        log_level="WARNING",
    )
    app = create_app(settings, run_expiry=False, **roles)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            document = (await http.get("/asyncapi.json")).raise_for_status().json()

        async def created() -> int | None:
            return await partitions_on_the_broker(kafka_broker, settings.kafka_topic)

        partitions = await eventually(created, within=30, interval=0.2, what="the topic")
    channel = document["channels"]["events"]
    assert channel["address"] == settings.kafka_topic
    assert partitions == channel["bindings"]["kafka"]["partitions"] == 6
