"""Webhooks end to end: the API, the elected dispatcher and a real HTTP receiver on 127.0.0.1.

The dispatcher runs on a clock the test moves (backoff, 24 h, 3 days without waiting) and
polls every 50 ms; endpoints answer within 0.5 s here (STOCKLEDGER_WEBHOOKS_TIMEOUT_SECONDS,
10 s by default). Signatures are verified with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings
from stockledger.store.db import create_pool
from stockledger.webhooks.deliveries import forget
from tests.databases import Ledgers, ledgers
from tests.integration.pipeline import start_pipeline

from ..support import eventually
from .conftest import API_KEYS, Api
from .test_errors import assert_problem
from .webhook_support import HANG, FakeClock, Received, Receiver, dispatching, receiving

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
        # A stream's event is never sent before every earlier one of that stream was taken
        # (a 2xx). A taken event may come again (at least once), never one sent ahead of it.
        versions: dict[str, list[int]] = defaultdict(list)
        for e in expected:
            versions[e["streamId"]].append(e["version"])
        taken: dict[str, set[int]] = defaultdict(set)
        for request in receiver.requests:
            stream, version = (
                by_id[request.event_id]["streamId"],
                by_id[request.event_id]["version"],
            )
            earlier = {v for v in versions[stream] if v < version}
            assert earlier <= taken[stream], f"{stream} v{version} sent before {earlier}"
            if request.status is not HANG and 200 <= request.status < 300:
                taken[stream].add(version)
        # So a receiver that drops what it saw before gets each stream in version order.
        for stream, seen in versions.items():
            arrived = [
                by_id[i]["version"] for i in receiver.delivered() if by_id[i]["streamId"] == stream
            ]
            assert arrived == sorted(seen), f"{stream}: {arrived}"
        assert any(r.status is HANG for r in receiver.requests)
        listed = await deliveries(pipeline.api, hook, limit=1000)
        assert {d["eventId"] for d in listed} == set(by_id)
        assert {d["status"] for d in listed} == {"delivered"}
        assert all(d["lastStatusCode"] == 204 for d in listed)
        assert all(receiver.seen[event_id] >= 2 for event_id in by_id)  # each failed first


# -- retries: backoff, 24 h, failed, counted, retried ---------------------------------------


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


async def _attempted(api: Api, hook: dict[str, Any], attempts: int, **params: Any) -> Any:
    """The deliveries once the first has been attempted `attempts` times (else None)."""
    listed = await deliveries(api, hook, **params)
    return listed if listed and listed[0]["attempts"] >= attempts else None


async def _metric(api: Api, name: str, webhook_id: str) -> float:
    text = (await api.http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'{name}{{webhook="{webhook_id}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_failing_delivery_backs_off_for_24_hours_then_fails_is_counted_and_retried(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    api, settings = deployment
    status = {"now": 500}
    prefix, clock = ids("BACKOFF"), FakeClock()
    async with (
        receiving(lambda _r, _n: status["now"]) as receiver,
        subscribed(api, receiver.url, skuPrefix=prefix) as hook,
        dispatching(settings, clock),
    ):
        await api.receive(f"{prefix}-1", "WH-A", 5)
        [first] = await eventually(lambda: _attempted(api, hook, 1), what="a first attempt")
        assert (first["status"], first["lastStatusCode"]) == ("pending", 500)
        assert first["lastError"] == "HTTP 500"
        started = _at(first["lastAttemptAt"])
        assert started == clock.now
        assert _at(first["nextAttemptAt"]) == clock.now + timedelta(seconds=5)
        for attempts, wait, then in ((2, 5, 10), (3, 10, 20), (4, 20, 40)):
            clock.advance(timedelta(seconds=wait))  # exactly when it is due
            [again] = await eventually(lambda n=attempts: _attempted(api, hook, n))  # type: ignore[misc]
            assert again["attempts"] == attempts
            assert _at(again["nextAttemptAt"]) == clock.now + timedelta(seconds=then)
        before = await _metric(
            api, "stockledger_webhook_deliveries_failed_total", hook["webhookId"]
        )
        clock.advance(timedelta(hours=24))  # the next attempt comes 24 h after the first
        [failed] = await eventually(lambda: _attempted(api, hook, 5))
        assert (failed["status"], failed["nextAttemptAt"]) == ("failed", None)
        after = await _metric(api, "stockledger_webhook_deliveries_failed_total", hook["webhookId"])
        assert after == before + 1
        assert [d["deliveryId"] for d in await deliveries(api, hook, status="failed")] == [
            failed["deliveryId"]
        ]
        assert await deliveries(api, hook, status="pending") == []
        assert len(receiver.requests) == 5

        status["now"] = 200  # the endpoint is fixed; the operator retries the failed delivery
        retry = f"/v1/webhooks/{hook['webhookId']}/deliveries/{failed['deliveryId']}/retry"
        retried = await api.post(retry, {})
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "pending"
        await eventually(lambda: _attempted(api, hook, 6), what="the retry sent at once")
        [done] = await deliveries(api, hook)
        assert (done["status"], done["lastStatusCode"], done["lastError"]) == (
            "delivered",
            200,
            None,
        )
        assert receiver.requests[-1].verified(hook["secret"])["eventId"] == done["eventId"]
        assert_problem(await api.post(retry, {}), 409, "conflict")  # delivered already
        unknown = f"/v1/webhooks/{hook['webhookId']}/deliveries/{uuid.uuid4()}/retry"
        assert_problem(await api.post(unknown, {}), 404, "not-found")


async def test_retrying_a_held_back_delivery_sends_its_stream_in_order_at_once(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    """A stream whose first delivery waits for its backoff holds its later ones back; retrying
    a later one sends the stream now, the earlier delivery first."""
    api, settings = deployment
    status = {"now": 503}
    prefix, clock = ids("HELD"), FakeClock()
    async with (
        receiving(lambda _r, _n: status["now"]) as receiver,
        subscribed(api, receiver.url, skuPrefix=prefix) as hook,
        dispatching(settings, clock),
    ):
        for _ in range(3):
            await api.receive(f"{prefix}-1", "WH-A", 5)

        async def held_back() -> Any:
            listed = await _attempted(api, hook, 1)
            return listed if listed and len(listed) == 3 else None

        listed = await eventually(held_back, what="three deliveries, the first one tried")
        assert [d["attempts"] for d in listed] == [1, 0, 0]  # the others wait behind the first
        assert [d["nextAttemptAt"] is None for d in listed] == [False, True, True]
        status["now"] = 200
        last = listed[-1]["deliveryId"]
        retried = await api.post(f"/v1/webhooks/{hook['webhookId']}/deliveries/{last}/retry", {})
        assert retried.status_code == 202, retried.text

        async def all_delivered() -> bool:
            return {d["status"] for d in await deliveries(api, hook)} == {"delivered"}

        await eventually(all_delivered, what="the stream sent in order")  # the clock stood still
        versions = [r.verified(hook["secret"])["version"] for r in receiver.requests]
        assert versions == [1, 1, 2, 3]


# -- 3 days of failures disable an endpoint ----------------------------------------------------


async def test_an_endpoint_failing_everything_for_3_days_is_disabled_until_enabled(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    api, settings = deployment
    status = {"now": 500}
    prefix, clock = ids("DEAD"), FakeClock()
    t0 = clock.now
    async with (
        receiving(lambda _r, _n: status["now"]) as receiver,
        receiving() as witness,  # a healthy webhook on the same events
        subscribed(api, receiver.url, skuPrefix=prefix) as hook,
        subscribed(api, witness.url, skuPrefix=prefix) as healthy,
        dispatching(settings, clock),
    ):
        sku = f"{prefix}-1"

        async def receive(warehouse: str) -> str:
            event_id: str = (await api.receive(sku, warehouse, 1)).json()["events"][0]["eventId"]
            await eventually(lambda: _has(witness, event_id), what="the witness served")
            return event_id

        async def recorded(event_id: str, status: str) -> bool:
            listed = {d["eventId"]: d for d in await deliveries(api, hook)}
            found = listed.get(event_id)
            return found is not None and found["attempts"] >= 1 and found["status"] == status

        a = await receive("WH-A")  # t0: the first failure
        await eventually(lambda: recorded(a, "pending"))
        clock.advance(timedelta(hours=25))
        await eventually(lambda: recorded(a, "failed"))  # tried at 25 h: given up
        b = await receive("WH-B")
        await eventually(lambda: recorded(b, "pending"))
        clock.advance(timedelta(hours=25))
        await eventually(lambda: recorded(b, "failed"))
        c = await receive("WH-C")
        await eventually(lambda: recorded(c, "pending"))
        hook_path = f"/v1/webhooks/{hook['webhookId']}"
        assert (await api.get(hook_path)).json()["active"] is True  # 50 h of failures
        clock.advance(timedelta(hours=23))  # c again, at 73 h: still within its 24 h

        async def disabled() -> Any:
            body = (await api.get(hook_path)).json()
            return body if body["active"] is False else None

        shown = await eventually(disabled, what="the endpoint disabled")
        assert _at(shown["failingSince"]) == t0
        assert _at(shown["disabledAt"]) == t0 + timedelta(hours=73)
        disables = "stockledger_webhook_endpoints_disabled_total"
        assert await _metric(api, disables, hook["webhookId"]) == 1
        by_event = {d["eventId"]: d["status"] for d in await deliveries(api, hook)}
        assert by_event == {a: "failed", b: "failed", c: "pending"}
        d = await receive("WH-D")  # while it is disabled: not matched to it
        assert d not in {x["eventId"] for x in await deliveries(api, hook)}

        status["now"] = 200
        enabled = await api.post(f"{hook_path}/enable", {})
        assert enabled.status_code == 200, enabled.text
        assert (enabled.json()["active"], enabled.json()["failingSince"]) == (True, None)

        async def c_delivered() -> bool:
            return c in receiver.delivered()

        await eventually(c_delivered, what="the pending delivery sent once enabled")
        e = await receive("WH-E")
        await eventually(lambda: _has(receiver, e), what="new events delivered again")
        assert d not in {r.event_id for r in receiver.requests}
        assert healthy["webhookId"] != hook["webhookId"]


async def _has(receiver: Receiver, event_id: str) -> bool:
    return event_id in receiver.delivered()


# -- an endpoint that is down does not slow the others ----------------------------------------


async def test_a_dead_endpoint_does_not_delay_a_healthy_one(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    """The dead endpoint accepts connections and never answers (the worst kind: every request
    holds a connection for the whole timeout, 30 s here); the healthy one gets every event
    while the dead one's requests are still hanging, and the dead one never has more than
    its concurrency in flight."""
    api, settings = deployment
    prefix, clock = ids("SPLIT"), FakeClock()
    async with (
        receiving(lambda _r, _n: HANG) as dead,
        receiving() as alive,
        subscribed(api, dead.url, skuPrefix=prefix),
        subscribed(api, alive.url, skuPrefix=prefix) as healthy,
        dispatching(settings, clock, webhooks_timeout_seconds=30, webhooks_concurrency=4),
    ):
        sent: list[str] = []
        for n in range(60):  # 60 streams, 2 events each
            for _ in range(2):
                answer = await api.receive(f"{prefix}-{n}", "WH-A", 1)
                sent += [e["eventId"] for e in answer.json()["events"]]

        async def all_served() -> bool:
            return set(alive.delivered()) >= set(sent)

        loop = asyncio.get_running_loop()
        started = loop.time()
        await eventually(all_served, within=20, what="the healthy endpoint served")
        took = loop.time() - started

        async def all_recorded() -> bool:
            listed = await deliveries(api, healthy, limit=1000)
            return {d["status"] for d in listed} == {"delivered"}

        await eventually(all_recorded, what="the healthy deliveries recorded")
        assert len(dead.requests) == 4  # its concurrency, all still hanging
        assert all(r.status is HANG for r in dead.requests)
        assert took < 10, f"the healthy endpoint took {took:.1f} s"


# -- the SSRF guard -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.7/",
        "http://192.168.1.20:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
    ],
)
async def test_a_private_address_is_refused_unless_allowed(
    deployment: tuple[Api, Settings], url: str
) -> None:
    _, settings = deployment
    strict = create_app(settings.model_copy(update={"webhooks_allow_private": False}))
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            refused = await Api(http).post("/v1/webhooks", {"url": url})
    problem = assert_problem(refused, 422, "validation-error")
    assert problem["errors"][0]["location"] == "body.url"
    assert "address" in problem["detail"]


async def test_only_http_urls_are_taken(deployment: tuple[Api, Settings]) -> None:
    api, _ = deployment
    for url in ("ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/"):
        assert_problem(await api.post("/v1/webhooks", {"url": url}), 422, "validation-error")


async def test_a_delivery_is_refused_when_its_host_resolves_to_a_private_address(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    """Registered while private addresses were allowed (or the name resolved elsewhere then:
    DNS rebinding): the dispatcher checks the address it connects to, at every delivery."""
    api, settings = deployment
    prefix, clock = ids("REBIND"), FakeClock()
    async with receiving() as receiver:
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        async with (
            subscribed(api, by_name, skuPrefix=prefix) as named,
            subscribed(api, receiver.url, skuPrefix=prefix) as literal,
            dispatching(settings, clock, webhooks_allow_private=False),
        ):
            await api.receive(f"{prefix}-1", "WH-A", 1)
            [first] = await eventually(lambda: _attempted(api, named, 1))
            [second] = await eventually(lambda: _attempted(api, literal, 1))
        assert receiver.requests == []
        assert first["lastError"].startswith("refused: localhost resolves to ")
        assert "loopback" in first["lastError"]
        assert second["lastError"] == "refused: 127.0.0.1 is a loopback address"
        assert first["status"] == second["status"] == "pending"


# -- the API: admin only, secrets shown once and stored sealed ----------------------------------


async def test_webhooks_are_managed_by_admin_and_their_secret_is_shown_once(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    api, settings = deployment
    body = {"url": "https://hooks.example.com/stock", "eventTypes": ["StockShipped"]}
    for role in ("orders", "warehouse", "auditor"):
        assert_problem(await api.post("/v1/webhooks", body, role=role), 403, "forbidden")
        assert_problem(await api.get("/v1/webhooks", role=role), 403, "forbidden")
    created = await api.post(
        "/v1/webhooks", {**body, "url": "http://127.0.0.1:9/x", "description": "ERP"}
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert (hook["eventTypes"], hook["skuPrefix"], hook["active"]) == (["StockShipped"], None, True)
    assert (hook["createdBy"], hook["description"]) == ("admin-svc", "ERP")
    path = f"/v1/webhooks/{hook['webhookId']}"
    shown = (await api.get(path)).json()
    assert shown == {k: v for k, v in hook.items() if k != "secret"}
    assert shown in (await api.get("/v1/webhooks")).json()["webhooks"]

    dump = await _dump(settings)  # what a dump of the database holds
    secret = hook["secret"]
    for fragment in (secret, secret.removeprefix("whsec_"), base64.b64decode(secret[6:]).hex()):
        assert fragment.encode() not in dump
    assert hook["webhookId"].encode() in dump  # the dump is of the right rows

    assert (await api.http.delete(path, headers=_admin())).status_code == 204
    assert_problem(await api.get(path), 404, "not-found")
    assert_problem(await api.http.delete(path, headers=_admin()), 404, "not-found")
    assert_problem(await api.post(f"{path}/enable", {}), 404, "not-found")
    assert_problem(await api.get(f"{path}/deliveries"), 404, "not-found")


async def _dump(settings: Settings) -> bytes:
    """Every row of the webhook tables as COPY writes them (what pg_dump writes)."""
    conn = await asyncpg.connect(settings.require_database_url())
    try:
        out = io.BytesIO()
        for table in ("webhooks", "webhook_deliveries", "webhook_queues", "webhook_cursor"):
            await conn.copy_from_table(table, output=out)
        return out.getvalue()
    finally:
        await conn.close()


async def test_without_a_key_to_seal_secrets_no_webhook_is_registered(
    deployment: tuple[Api, Settings],
) -> None:
    _, settings = deployment
    keyless = create_app(settings.model_copy(update={"webhooks_secret_key": None}))
    async with keyless.router.lifespan_context(keyless):
        transport = httpx.ASGITransport(app=keyless)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            refused = await Api(http).post("/v1/webhooks", {"url": "http://127.0.0.1:9/"})
    problem = assert_problem(refused, 503, "service-unavailable")
    assert "STOCKLEDGER_WEBHOOKS_SECRET_KEY" in problem["detail"]


async def test_deliveries_are_listed_in_pages_and_by_status(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    api, settings = deployment
    prefix, clock = ids("PAGES"), FakeClock()
    async with (
        receiving(lambda r, _n: 200 if r.event_id[-1] in "01234567" else 500) as receiver,
        subscribed(api, receiver.url, skuPrefix=prefix) as hook,
        dispatching(settings, clock),
    ):
        for n in range(7):  # a stream each: no delivery waits behind another
            await api.receive(f"{prefix}-{n}", "WH-A", 1)

        async def all_tried() -> bool:
            listed = await deliveries(api, hook)
            return len(listed) == 7 and all(d["attempts"] == 1 for d in listed)

        await eventually(all_tried)
        await _pages_and_statuses(api, hook)


async def _pages_and_statuses(api: Api, hook: dict[str, Any]) -> None:
    everything = await deliveries(api, hook)
    pages, after = [], 0
    while True:
        page = (
            await api.get(f"/v1/webhooks/{hook['webhookId']}/deliveries", limit=3, after=after)
        ).json()
        pages.append(page["deliveries"])
        if page["next"] is None:
            break
        after = page["next"]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [d for p in pages for d in p] == everything
    assert [d["position"] for d in everything] == sorted(d["position"] for d in everything)
    by_status = {
        s: {d["deliveryId"] for d in await deliveries(api, hook, status=s)}
        for s in ("pending", "delivered", "failed")
    }
    assert by_status["pending"] | by_status["delivered"] == {d["deliveryId"] for d in everything}
    assert by_status["failed"] == set()
    assert_problem(
        await api.get(f"/v1/webhooks/{hook['webhookId']}/deliveries", status="lost"),
        422,
        "validation-error",
    )


# -- a new leader, and the deliveries kept ------------------------------------------------------


async def test_a_new_leader_sends_again_what_the_old_one_left_in_flight(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    """The leading dispatcher stops while every request hangs (a crash, a lost session): its
    attempts were never recorded, so the next leader sends them all again: at least once."""
    api, settings = deployment
    prefix, clock = ids("FAILOVER"), FakeClock()
    async with (
        receiving(lambda _r, seen: HANG if seen == 1 else 200) as receiver,
        subscribed(api, receiver.url, skuPrefix=prefix) as hook,
    ):
        sent = [
            (await api.receive(f"{prefix}-{n}", "WH-A", 1)).json()["events"][0]["eventId"]
            for n in range(10)
        ]

        async def all_hanging() -> bool:
            return len(receiver.requests) == len(sent)

        async with dispatching(settings, clock, webhooks_timeout_seconds=30):
            await eventually(all_hanging, what="every first request hanging")
        assert {d["attempts"] for d in await deliveries(api, hook)} == {0}  # none recorded
        async with dispatching(settings, clock):

            async def all_delivered() -> bool:
                return {d["status"] for d in await deliveries(api, hook)} == {"delivered"}

            await eventually(all_delivered, what="the next leader sends them")
        assert set(receiver.delivered()) == set(sent)
        assert all(receiver.seen[event_id] >= 2 for event_id in sent)


async def test_delivered_deliveries_are_forgotten_after_7_days_failed_ones_after_30(
    deployment: tuple[Api, Settings], ids: Any
) -> None:
    api, settings = deployment
    prefix, clock = ids("KEPT"), FakeClock()
    failing = f"{prefix}-FAILING"
    async with (
        receiving(lambda r, _n: 500 if failing in r.body.decode() else 200) as receiver,
        subscribed(api, receiver.url, skuPrefix=prefix) as hook,
        dispatching(settings, clock),
    ):
        await api.receive(f"{prefix}-OK", "WH-A", 1)
        await api.receive(failing, "WH-A", 1)

        async def tried() -> bool:
            return {d["attempts"] for d in await deliveries(api, hook)} == {1}

        await eventually(tried)
        clock.advance(timedelta(hours=25))

        async def settled() -> bool:
            return {d["status"] for d in await deliveries(api, hook)} == {"delivered", "failed"}

        await eventually(settled)
        pool = await create_pool(settings.require_database_url(), 2)
        try:
            await forget(pool, clock.now + timedelta(days=5))  # matched 25 h ago
            assert len(await deliveries(api, hook)) == 2
            await forget(pool, clock.now + timedelta(days=8))
            assert [d["status"] for d in await deliveries(api, hook)] == ["failed"]
            await forget(pool, clock.now + timedelta(days=31))
            assert await deliveries(api, hook) == []
            queued = "SELECT count(*) FROM webhook_queues WHERE webhook_id = $1"
            assert await pool.fetchval(queued, uuid.UUID(hook["webhookId"])) == 0  # idle, gone
        finally:
            await pool.close()
        assert len(receiver.delivered()) == 1
