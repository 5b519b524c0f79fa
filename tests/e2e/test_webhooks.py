"""Webhooks end to end: the API, the elected dispatcher and a real HTTP receiver on 127.0.0.1.

The dispatcher runs on a clock the test moves (backoff, 24 h, 3 days without waiting) and
polls every 50 ms; endpoints answer within 0.5 s here (STOCKLEDGER_WEBHOOKS_TIMEOUT_SECONDS,
10 s by default). Signatures are verified with the `standardwebhooks` package."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings
from tests.databases import Ledgers, ledgers
from tests.integration.pipeline import start_pipeline

from ..support import eventually
from .conftest import API_KEYS, Api
from .webhook_support import HANG, FakeClock, Received, dispatching, receiving

__all__ = ["ledgers"]  # the fixture

WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhooks_secret_key": "webhook-test-key",
    "webhooks_allow_private": True,  # the receiver is on 127.0.0.1
    "webhooks_timeout_seconds": 0.5,
    "run_webhooks": False,  # each test leads the role itself, on its own clock
}


@pytest.fixture(scope="module")
async def deployment(ledgers: Ledgers) -> AsyncIterator[tuple[Api, Settings]]:
    """The API on a ledger of its own, with webhooks configured."""
    settings = Settings(
        database_url=await ledgers.new(),
        api_keys=API_KEYS,
        run_expiry=False,
        log_level="WARNING",
        **WEBHOOK_SETTINGS,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Api(http), settings


@asynccontextmanager
async def subscribed(api: Api, url: str, **body: Any) -> AsyncIterator[dict[str, Any]]:
    """A webhook registered for the test (its answer, secret included), deleted after."""
    created = await api.post("/v1/webhooks", {"url": url, **body})
    assert created.status_code == 201, created.text
    hook: dict[str, Any] = created.json()
    assert created.headers["Location"] == f"/v1/webhooks/{hook['webhookId']}"
    try:
        yield hook
    finally:
        await api.http.delete(f"/v1/webhooks/{hook['webhookId']}", headers=_admin())


def _admin() -> dict[str, str]:
    return {"Authorization": "Bearer k-admin"}


async def deliveries(api: Api, hook: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/webhooks/{hook['webhookId']}/deliveries", **params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def shop(api: Api, prefix: str) -> list[dict[str, Any]]:
    """Receipts, a reservation over two streams, its shipment, an adjustment: the envelopes
    of every event appended, from the command answers."""
    events: list[dict[str, Any]] = []
    skus = [f"{prefix}-{n}" for n in range(3)]
    for sku, wh in itertools.product(skus, ("WH-A", "WH-B")):
        for _ in range(2):
            events += (await api.receive(sku, wh, 10)).json()["events"]
    reserved = await api.reserve(f"O-{prefix}", (skus[0], "WH-A", 2), (skus[1], "WH-B", 1))
    assert reserved.status_code == 201, reserved.text
    events += reserved.json()["events"]
    shipment = {
        "shipmentId": f"S-{prefix}",
        "orderId": f"O-{prefix}",
        "reservationId": reserved.json()["reservationId"],
    }
    shipped = await api.post("/v1/shipments", shipment, role="orders")
    assert shipped.status_code == 201, shipped.text
    events += shipped.json()["events"]
    adjusted = await api.post(
        "/v1/adjustments",
        {
            "sku": skus[2],
            "warehouseId": "WH-A",
            "quantityChange": -1,
            "reason": "damage",
            "notes": "dropped",
        },
    )
    assert adjusted.status_code == 201, adjusted.text
    events += adjusted.json()["events"]
    return events


# -- at least once, in order per stream, through failures, timeouts and a recovery -------------


async def test_every_event_reaches_a_receiver_that_fails_times_out_and_recovers(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    """A whole deployment (relay to Kafka, projectors to Redis); every event is first answered
    500, then some time out, then the receiver takes them: each arrives, signed, in version
    order per stream, and a stream never gets an event before the one before it was taken."""

    def flaky(request: Received, seen: int) -> int | None:
        if seen == 1:
            return 500
        if seen == 2 and int(request.event_id[-1], 16) % 2 == 0:
            return HANG  # the dispatcher gives up on it after 0.5 s
        return 204

    prefix, clock = ids("HOOK"), FakeClock()
    async with (
        start_pipeline(new_database, kafka_broker, redis_server, **WEBHOOK_SETTINGS) as pipeline,
        receiving(flaky) as receiver,
        subscribed(pipeline.api, receiver.url, skuPrefix=prefix) as hook,
    ):
        expected = await shop(pipeline.api, prefix)
        async with dispatching(pipeline.settings, clock):

            async def all_delivered() -> bool:
                clock.advance(timedelta(minutes=1))  # every backoff so far has passed
                return set(receiver.delivered()) >= {e["eventId"] for e in expected}

            await eventually(all_delivered, within=60, interval=0.05, what="every event taken")

        secret = hook["secret"]
        by_id = {e["eventId"]: e for e in expected}
        for request in receiver.requests:
            body = request.verified(secret)  # raises unless the signature verifies
            assert request.headers["content-type"] == "application/json"
            sent = by_id[body["eventId"]]
            assert body == {k: v for k, v in sent.items() if k != "hash"}  # the envelope
        assert receiver.requests[0].headers["webhook-id"] == receiver.requests[0].event_id
        versions: dict[str, list[int]] = defaultdict(list)
        for request in receiver.requests:
            envelope = by_id[request.event_id]
            versions[envelope["streamId"]].append(envelope["version"])
        for stream, seen in versions.items():
            assert seen == sorted(seen), f"{stream} got {seen}"  # never ahead of a failure
        assert any(r.status is HANG for r in receiver.requests)
        listed = await deliveries(pipeline.api, hook, limit=1000)
        assert {d["eventId"] for d in listed} == set(by_id)
        assert {d["status"] for d in listed} == {"delivered"}
        assert all(d["attempts"] in (2, 3) and d["lastStatusCode"] == 204 for d in listed)
