"""Events flow store -> outbox -> Kafka -> Redis/Postgres read models, under outages."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from jsonschema import Draft202012Validator
from rich.console import Console

from stockledger.ops.jobs import replay
from stockledger.projections.consumer import Projector
from stockledger.projections.drift import find_drift
from stockledger.projections.rebuild import rebuild_stock_levels
from stockledger.projections.redis_stock import RedisStock

from ..e2e.conftest import auth
from ..support import eventually
from .kafka_reader import read_records
from .pipeline import Pipeline, start_pipeline

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
async def pipe(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str
) -> AsyncIterator[Pipeline]:
    async with start_pipeline(new_database, kafka_broker, redis_server) as running:
        yield running


async def clean_verify(pipe: Pipeline) -> None:
    await pipe.wait_caught_up()
    redis = RedisStock(pipe.redis, pipe.settings.redis_prefix)
    report = await find_drift(pipe.pool, redis, lambda _: None)
    assert report.findings == []
    assert report.complete, report.missing
    assert report.compared["postgres"] > 0
    assert report.compared["redis"] > 0


async def test_a_command_is_visible_through_redis_within_one_second(
    pipe: Pipeline, ids: Any
) -> None:
    sku = ids("SKU")
    for attempt in range(5):
        response = await pipe.api.receive(sku, "WH-A", 3)
        committed = time.perf_counter()
        version = response.json()["stock"][0]["version"]
        await eventually(
            functools.partial(_in_redis, pipe, sku, version),
            within=1,
            interval=0.01,
            what=f"attempt {attempt} in redis",
        )
        assert time.perf_counter() - committed < 1


async def _in_redis(pipe: Pipeline, sku: str, version: int) -> bool:
    got = await pipe.api.http.get(f"/v1/stock/{sku}/WH-A", headers={"X-API-Key": "k-orders"})
    return bool(got.headers.get("X-Stock-Source") == "redis" and got.json()["version"] == version)


async def test_a_kafka_message_is_the_api_envelope_keyed_by_stream_with_headers(
    pipe: Pipeline, kafka_broker: str, ids: Any
) -> None:
    sku = ids("SKU")
    response = await pipe.api.receive(sku, "WH-A", 3)
    (sent,) = response.json()["events"]
    await pipe.wait_caught_up()
    key = f"stock:{sku}:WH-A".encode()
    records = [
        r for r in await read_records(kafka_broker, pipe.settings.kafka_topic) if r.key == key
    ]
    assert records, "the event reached the topic under its stream's key"
    record = records[0]
    assert dict(record.headers) == {
        "type": b"StockReceived",
        "schemaVersion": str(sent["schemaVersion"]).encode(),
        "correlationId": sent["metadata"]["correlationId"].encode(),
    }
    published = orjson.loads(record.value or b"")
    assert datetime.fromisoformat(published["recordedAt"]).utcoffset() is not None
    sent.pop("hash", None)
    assert published == sent  # recordedAt spelled as the API spells it, too


async def test_redis_down_reads_postgres_and_recovers(pipe: Pipeline, ids: Any) -> None:
    sku = ids("SKU")
    await pipe.api.receive(sku, "WH-A", 5)
    await pipe.wait_caught_up()
    await pipe.redis_proxy.cut()
    try:
        await pipe.api.receive(sku, "WH-A", 2)  # commands keep landing
        await pipe.wait_caught_up()
        got = await pipe.api.http.get(f"/v1/stock/{sku}/WH-A", headers={"X-API-Key": "k-admin"})
        assert got.headers["X-Stock-Source"] == "postgres"
        assert got.json()["onHand"] == 7
        ready = await pipe.api.http.get("/ready")
        assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    finally:
        await pipe.redis_proxy.start()

    async def back_in_redis() -> bool:
        got = await pipe.api.http.get(f"/v1/stock/{sku}/WH-A", headers={"X-API-Key": "k-admin"})
        return got.headers["X-Stock-Source"] == "redis" and got.json()["onHand"] == 7

    await eventually(back_in_redis, within=10, what="redis caught up after the outage")


async def _reservation(pipe: Pipeline, rid: str, **params: str) -> httpx.Response:
    got = await pipe.api.get(f"/v1/reservations/{rid}", role="orders", **params)
    assert got.status_code == 200, got.text
    return got


async def _in_view(pipe: Pipeline, rid: str, status: str) -> bool:
    got = await _reservation(pipe, rid)
    return bool(
        got.headers["X-Reservation-Source"] == "postgres" and got.json()["status"] == status
    )


async def test_a_reservation_is_read_from_its_view_and_strong_reads_fold_the_store(
    pipe: Pipeline, ids: Any
) -> None:
    sku = ids("SKU")
    await pipe.api.receive(sku, "WH-A", 10)
    rid = (await pipe.api.reserve(ids("ORDER"), (sku, "WH-A", 2))).json()["reservationId"]
    await pipe.api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")
    await eventually(functools.partial(_in_view, pipe, rid, "confirmed"), what="view confirmed")
    got = await _reservation(pipe, rid)
    row = await pipe.pool.fetchrow(
        "SELECT projected_at FROM reservation_views WHERE reservation_id = $1", rid
    )
    assert row is not None
    assert datetime.fromisoformat(got.headers["X-Projected-At"]) == row["projected_at"]
    assert got.headers["ETag"] == '"2"'

    # The view lagging one event behind (as if the projector had not reached the confirmation):
    # the default read serves it as it is; the strong read folds the store.
    await pipe.pool.execute(
        "UPDATE reservation_views SET status = 'active', version = 1 WHERE reservation_id = $1",
        rid,
    )
    lagging = await _reservation(pipe, rid)
    assert lagging.headers["X-Reservation-Source"] == "postgres"
    assert (lagging.json()["status"], lagging.headers["ETag"]) == ("active", '"1"')
    strong = await _reservation(pipe, rid, consistency="strong")
    assert strong.headers["X-Reservation-Source"] == "event-store"
    assert "X-Projected-At" not in strong.headers
    assert (strong.json()["status"], strong.headers["ETag"]) == ("confirmed", '"2"')
    assert {**strong.json(), "status": "active"} == lagging.json()

    shipped = await pipe.api.post(
        "/v1/shipments",
        {"shipmentId": ids("SHIP"), "orderId": got.json()["orderId"], "reservationId": rid},
        role="orders",
    )
    assert shipped.status_code == 201, shipped.text
    await eventually(functools.partial(_in_view, pipe, rid, "shipped"), what="view caught up")


async def test_a_reservation_without_a_view_row_yet_is_folded_from_the_store(
    pipe: Pipeline, ids: Any
) -> None:
    sku, order = ids("SKU"), ids("ORDER")
    await pipe.api.receive(sku, "WH-A", 10)
    made = (await pipe.api.reserve(order, (sku, "WH-A", 3))).json()
    rid = made["reservationId"]
    await eventually(functools.partial(_in_view, pipe, rid, "active"), what="view row")
    await pipe.pool.execute("DELETE FROM reservation_views WHERE reservation_id = $1", rid)

    folded = await _reservation(pipe, rid)
    assert folded.headers["X-Reservation-Source"] == "event-store"
    assert "X-Projected-At" not in folded.headers
    assert folded.headers["ETag"] == '"1"'
    assert folded.json() == {
        "reservationId": rid,
        "orderId": order,
        "status": "active",
        "expiresAt": made["expiresAt"],
        "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 3}],
    }
    missing = await pipe.api.get(f"/v1/reservations/{ids('R')}", role="orders")
    assert missing.status_code == 404

    # The next event of the stream brings the row back (the projector fills the gap).
    await pipe.api.post(f"/v1/reservations/{rid}/release", {}, role="orders")
    await eventually(functools.partial(_in_view, pipe, rid, "released"), what="row rebuilt")


async def test_flushed_redis_is_restored_by_replay_and_verify_is_clean(
    pipe: Pipeline, ids: Any
) -> None:
    sku = ids("SKU")
    await pipe.api.receive(sku, "WH-B", 4)
    await pipe.wait_caught_up()
    await pipe.redis.flushdb()
    got = await pipe.api.http.get(f"/v1/stock/{sku}/WH-B", headers={"X-API-Key": "k-admin"})
    # Postgres, unless the projector already refilled Redis (it checks every second)
    assert got.headers["X-Stock-Source"] in ("postgres", "redis")
    assert got.json()["onHand"] == 4
    await replay(pipe.settings, "redis", QUIET)
    got = await pipe.api.http.get(f"/v1/stock/{sku}/WH-B", headers={"X-API-Key": "k-admin"})
    assert got.headers["X-Stock-Source"] == "redis"
    assert got.json()["onHand"] == 4
    await clean_verify(pipe)


async def test_replay_of_postgres_models_while_serving_changes_nothing(
    pipe: Pipeline, ids: Any
) -> None:
    sku = ids("SKU")
    await pipe.api.receive(sku, "WH-A", 9)
    rid = (await pipe.api.reserve(ids("ORDER"), (sku, "WH-A", 2))).json()["reservationId"]
    await pipe.wait_caught_up()
    before = await pipe.pool.fetch(
        "SELECT stream_id, on_hand, reserved, version FROM stock_levels ORDER BY stream_id"
    )
    writes = asyncio.create_task(pipe.api.receive(sku, "WH-A", 1))  # a write during the swap
    await replay(pipe.settings, "all", QUIET)
    await writes
    await pipe.wait_caught_up()
    after = {r["stream_id"]: r for r in await pipe.pool.fetch("SELECT * FROM stock_levels")}
    for row in before:  # nothing else moved, so the rebuilt rows equal the live ones
        if row["stream_id"] != f"stock:{sku}:WH-A":
            now = after[row["stream_id"]]
            assert (now["on_hand"], now["reserved"], now["version"]) == tuple(row)[1:]
    assert after[f"stock:{sku}:WH-A"]["on_hand"] == 10
    view = await pipe.pool.fetchrow(
        "SELECT status FROM reservation_views WHERE reservation_id = $1", rid
    )
    assert view is not None
    assert view["status"] == "active"
    await clean_verify(pipe)


async def test_offsets_reset_to_the_beginning_leave_projections_unchanged(
    pipe: Pipeline, ids: Any
) -> None:
    sku = ids("SKU")
    for qty in (1, 2, 3):
        await pipe.api.receive(sku, "WH-A", qty)
    await pipe.wait_caught_up()
    query = (
        "SELECT stream_id, on_hand, reserved, in_transit, damaged, version FROM stock_levels "
        "ORDER BY stream_id"
    )
    before = [tuple(r) for r in await pipe.pool.fetch(query)]
    # A consumer of a fresh group starts at offset 0: everything is delivered a second time,
    # through the projector's own batch path, while the live projector keeps running.
    consumer = AIOKafkaConsumer(
        pipe.settings.kafka_topic,
        bootstrap_servers=pipe.settings.kafka_bootstrap_servers,
        group_id=ids("from-the-start"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    projector = Projector(
        pipe.pool, pipe.settings, RedisStock(pipe.redis, pipe.settings.redis_prefix)
    )
    replayed = 0
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)  # joins the group; nothing is consumed yet
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            records = [r for batch in batches.values() for r in batch]
            await projector.handle(records)
            replayed += len(records)
    finally:
        await consumer.stop()
    stock_events = await pipe.pool.fetchval(
        "SELECT count(*) FROM events WHERE stream_id LIKE 'stock:%'"
    )
    assert replayed >= stock_events
    assert [tuple(r) for r in await pipe.pool.fetch(query)] == before
    await clean_verify(pipe)


async def test_randomized_workload_of_ten_thousand_events_has_no_drift(
    pipe: Pipeline, ids: Any
) -> None:
    rng = random.Random(7)
    skus = [ids("MIX") for _ in range(30)]
    warehouses = ["WH-A", "WH-B", "WH-C"]
    start = await pipe.pool.fetchval("SELECT count(*) FROM events")
    for sku in skus:
        for wh in warehouses:
            await pipe.api.receive(sku, wh, 200)
    sem = asyncio.Semaphore(24)

    async def one() -> None:
        async with sem:
            await _random_command(pipe, rng, skus, warehouses, ids)

    while await pipe.pool.fetchval("SELECT count(*) FROM events") - start < 10_000:
        await asyncio.gather(*(one() for _ in range(400)))
    await clean_verify(pipe)


async def _random_command(
    pipe: Pipeline, rng: random.Random, skus: list[str], warehouses: list[str], ids: Any
) -> None:
    api = pipe.api
    sku, wh = rng.choice(skus), rng.choice(warehouses)
    roll = rng.random()
    if roll < 0.45:
        lines = [
            (rng.choice(skus), rng.choice(warehouses), rng.randint(1, 3))
            for _ in range(rng.randint(1, 3))
        ]
        reserved = await api.reserve(ids("O"), *lines)
        if reserved.status_code != 201:
            return
        body = reserved.json()
        rid, order = body["reservationId"], body["orderId"]
        follow = rng.random()
        if follow < 0.5:
            await api.post(
                "/v1/shipments",
                {"shipmentId": ids("S"), "orderId": order, "reservationId": rid},
                role="orders",
            )
        elif follow < 0.75:
            await api.post(f"/v1/reservations/{rid}/release", {}, role="orders")
        elif follow < 0.9:
            await api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")
    elif roll < 0.6:
        await api.receive(sku, wh, rng.randint(1, 20))
    elif roll < 0.7:
        await api.post(
            "/v1/returns",
            {
                "returnId": ids("R"),
                "orderId": ids("O"),
                "sku": sku,
                "warehouseId": wh,
                "quantity": rng.randint(1, 3),
                "reason": "defective",
                "condition": rng.choice(["resellable", "damaged", "dispose"]),
            },
            role="warehouse",
        )
    elif roll < 0.82:
        target = rng.choice([w for w in warehouses if w != wh])
        transfer = ids("T")
        sent = await api.post(
            "/v1/transfers",
            {
                "transferId": transfer,
                "sku": sku,
                "fromWarehouseId": wh,
                "toWarehouseId": target,
                "quantity": rng.randint(1, 5),
            },
            role="warehouse",
        )
        if sent.status_code == 201 and rng.random() < 0.8:
            received = max(0, sent.json()["events"][0]["data"]["quantity"] - rng.choice([0, 0, 1]))
            await api.post(
                f"/v1/transfers/{transfer}/receive",
                {"receivedQuantity": received},
                role="warehouse",
            )
    elif roll < 0.92:
        await api.post(
            "/v1/adjustments",
            {
                "sku": sku,
                "warehouseId": wh,
                "quantityChange": rng.choice([-2, -1, 1, 3]),
                "reason": "damage",
                "notes": "random",
            },
            role="warehouse",
        )
    else:
        level = await api.stock(sku, wh, consistency="strong")
        await api.post(
            "/v1/counts",
            {
                "sku": sku,
                "warehouseId": wh,
                "countedQuantity": level["onHand"] + rng.choice([-1, 0, 2]),
            },
            role="warehouse",
        )


async def test_two_deployments_share_one_redis_through_their_prefixes(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    shared = 0  # one Redis database for both deployments, nothing flushed
    first, second = ids("east") + ":", ids("west") + ":"
    async with (
        start_pipeline(
            new_database, kafka_broker, redis_server, redis_db=shared, redis_prefix=first
        ) as a,
        start_pipeline(
            new_database, kafka_broker, redis_server, redis_db=shared, redis_prefix=second
        ) as b,
    ):
        sku = ids("SHARED")  # the same SKU in both: each deployment keeps its own level
        await a.api.receive(sku, "WH-A", 3)
        await b.api.receive(sku, "WH-A", 7)
        await clean_verify(a)
        await clean_verify(b)
        assert (await a.api.stock(sku, "WH-A"))["onHand"] == 3
        assert (await b.api.stock(sku, "WH-A"))["onHand"] == 7
        keys = {k.decode() async for k in a.redis.scan_iter(match=f"*{sku}*")}
        assert keys == {
            f"{first}stock:{sku}:WH-A",
            f"{first}sku:{sku}",
            f"{second}stock:{sku}:WH-A",
            f"{second}sku:{sku}",
        }
    cleanup = aioredis.Redis.from_url(redis_server)
    for prefix in (first, second):
        async for key in cleanup.scan_iter(match=f"{prefix}*"):
            await cleanup.delete(key)
    await cleanup.aclose()


async def test_the_sampler_finds_drift_and_ready_says_so_until_a_replay(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    async with start_pipeline(
        new_database, kafka_broker, redis_server, verify_sample_seconds=0.2
    ) as pipe:
        sku = ids("DRIFT")
        await pipe.api.receive(sku, "WH-A", 4)
        await pipe.wait_caught_up()

        async def projections_check() -> str:
            response = await pipe.api.http.get("/ready")
            return str(response.json()["checks"]["projections"])

        assert await projections_check() == "ok"
        await pipe.pool.execute(  # a read model edited behind the projector's back
            "UPDATE stock_levels SET on_hand = on_hand + 1 WHERE stream_id = $1",
            f"stock:{sku}:WH-A",
        )

        async def drift_reported() -> str | None:
            check = await projections_check()
            return check if "drift" in check else None

        found = await eventually(drift_reported, within=10, what="drift in /ready")
        assert f"stock:{sku}:WH-A (postgres" in found
        metrics = (await pipe.api.http.get("/metrics")).text
        assert 'stockledger_projection_drift_total{projection="postgres"}' in metrics
        await rebuild_stock_levels(pipe.pool, lambda _: None)

        async def healthy() -> bool:
            return await projections_check() == "ok"

        await eventually(healthy, within=10, what="ok after the replay")


async def test_the_stock_listing_pages_the_postgres_read_model(pipe: Pipeline, ids: Any) -> None:
    family = ids("LISTED")
    skus = [f"{family}-{n}" for n in range(5)]
    for sku in skus:
        await pipe.api.receive(sku, "WH-L", 3)

    async def projected() -> bool:
        got = await pipe.api.get("/v1/stock", skuPrefix=family, limit=100)
        return len(got.json()["levels"]) == len(skus)

    await eventually(projected, what="five rows in stock_levels")
    first = await pipe.api.get("/v1/stock", skuPrefix=family, warehouseId="WH-L", limit=2)
    assert first.headers["X-Stock-Source"] == "postgres"
    assert [x["sku"] for x in first.json()["levels"]] == skus[:2]
    assert first.json()["next"] == f"{skus[1]}:WH-L"
    rest = await pipe.api.get("/v1/stock", skuPrefix=family, after=first.json()["next"])
    assert [(x["sku"], x["onHand"]) for x in rest.json()["levels"]] == [(s, 3) for s in skus[2:]]


async def test_alerts_reach_kafka_and_the_alerts_read_model_and_replay_keeps_them(
    pipe: Pipeline, kafka_broker: str, ids: Any
) -> None:
    sku, wh = ids("ALERT"), "WH-R"
    await pipe.api.receive(sku, wh, 12)
    rule = {"reorderPoint": 10, "reorderQuantity": 25}
    put = await pipe.api.http.put(
        f"/v1/reorder-rules/{sku}/{wh}", json=rule, headers={"X-API-Key": "k-warehouse"}
    )
    assert put.status_code == 201, put.text
    reserved = await pipe.api.reserve(ids("ORDER"), (sku, wh, 4))  # 8 <= 10: opens
    assert reserved.status_code == 201, reserved.text
    await pipe.api.reserve(ids("ORDER"), (sku, wh, 8))  # 0: a stock-out
    await pipe.api.receive(sku, wh, 40)  # 40 > 10: closes
    await pipe.api.reserve(ids("ORDER"), (sku, wh, 35))  # 5: a second alert, open

    async def two_alerts() -> bool:
        got = await pipe.api.get("/v1/alerts", sku=sku)
        return len(got.json()["alerts"]) == 2

    await eventually(two_alerts, what="both alerts in the read model")
    got = await pipe.api.get("/v1/alerts", sku=sku)
    assert got.headers["X-Stock-Source"] == "postgres"
    first, second = got.json()["alerts"]
    assert (first["kind"], first["status"], first["available"]) == ("stock_out", "closed", 40)
    assert (second["kind"], second["status"], second["available"]) == ("low_stock", "open", 5)
    assert second["suggestedOrderQuantity"] == 25
    low = await pipe.api.get("/v1/stock", lowStock="true", skuPrefix=sku)
    assert [x["onHand"] for x in low.json()["levels"]] == [52]

    key = f"reorder:{sku}:{wh}".encode()
    records = [
        r for r in await read_records(kafka_broker, pipe.settings.kafka_topic) if r.key == key
    ]
    assert [dict(r.headers)["type"] for r in records] == [
        b"ReorderRuleSet",
        b"LowStockDetected",
        b"StockOutDetected",
        b"LowStockResolved",
        b"LowStockDetected",
    ]
    await clean_verify(pipe)
    before = await pipe.pool.fetch("SELECT * FROM alerts ORDER BY stream_id, opened_version")
    await replay(pipe.settings, "alerts", QUIET)
    after = await pipe.pool.fetch("SELECT * FROM alerts ORDER BY stream_id, opened_version")
    assert [tuple(r)[:-1] for r in after] == [tuple(r)[:-1] for r in before]  # but projected_at
    await clean_verify(pipe)
    # an alert row edited behind the projector is drift, and a replay repairs it
    await pipe.pool.execute(
        "UPDATE alerts SET closed_at = NULL WHERE stream_id = $1 AND opened_version = $2",
        f"reorder:{sku}:{wh}",
        int(first["alertId"].rsplit(":", 1)[1]),
    )
    report = await find_drift(pipe.pool, None, lambda _: None)
    assert [(f.check, f.subject) for f in report.findings] == [("alerts drift", key.decode())]
    await replay(pipe.settings, "alerts", QUIET)
    await clean_verify(pipe)


async def test_the_catalog_is_listed_from_its_read_model_and_replay_repairs_it(
    pipe: Pipeline, ids: Any
) -> None:
    family = ids("CAT")
    skus = [f"{family}-{n}" for n in range(3)]
    for n, sku in enumerate(skus):
        put = await pipe.api.http.put(
            f"/v1/items/{sku}", json={"name": f"Item {n}"}, headers={"X-API-Key": "k-admin"}
        )
        assert put.status_code == 201, put.text
    await pipe.api.post(f"/v1/items/{skus[1]}/deactivate", {"reason": "discontinued"})

    async def listed() -> bool:
        got = await pipe.api.get("/v1/items", prefix=family, active="true")
        return [x["sku"] for x in got.json()["items"]] == [skus[0], skus[2]]

    await eventually(listed, what="the catalog read model")
    first = await pipe.api.get("/v1/items", prefix=family, limit=2)
    assert first.headers["X-Stock-Source"] == "postgres"
    assert [x["sku"] for x in first.json()["items"]] == skus[:2]
    rest = await pipe.api.get("/v1/items", prefix=family, after=first.json()["next"])
    assert [(x["sku"], x["name"]) for x in rest.json()["items"]] == [(skus[2], "Item 2")]
    await clean_verify(pipe)
    await pipe.pool.execute(
        "UPDATE catalog_views SET active = NOT active WHERE stream_id = $1", f"item:{skus[0]}"
    )
    report = await find_drift(pipe.pool, None, lambda _: None)
    assert [(f.check, f.subject) for f in report.findings] == [
        ("catalog drift", f"item:{skus[0]}@1")
    ]
    await replay(pipe.settings, "catalog", QUIET)
    await clean_verify(pipe)


async def test_a_kit_reservation_reaches_its_view_with_the_kit_line_and_verify_is_clean(
    pipe: Pipeline, ids: Any
) -> None:
    kit, part = ids("KIT"), ids("PART")
    await pipe.api.receive(part, "WH-K", 6)
    for quantity in (2, 3):  # KitDefined, then KitChanged
        put = await pipe.api.http.put(
            f"/v1/kits/{kit}",
            json={"components": [{"sku": part, "quantity": quantity}]},
            headers={"X-API-Key": "k-admin"},
        )
        assert put.status_code in (200, 201), put.text
    held = await pipe.api.reserve(ids("ORDER"), (kit, "WH-K", 2))
    assert held.status_code == 201, held.text
    rid = held.json()["reservationId"]
    await eventually(functools.partial(_in_view, pipe, rid, "active"), what="the view")
    got = await _reservation(pipe, rid)
    assert got.headers["X-Reservation-Source"] == "postgres"
    assert got.json()["lines"] == held.json()["lines"]
    assert got.json()["lines"][0]["components"] == [{"sku": part, "perKit": 3, "quantity": 6}]
    await clean_verify(pipe)


async def test_every_message_on_the_topic_validates_against_its_published_schema(
    pipe: Pipeline, kafka_broker: str, ids: Any
) -> None:
    """Last in the module: the topic then holds what every test above wrote (stock, catalog,
    rules and alerts, a purchase order's life, tracked stock), each message held to
    /v1/schemas/events/{type}/{schemaVersion}."""
    sku, po, other = ids("SCHEMA"), ids("PO"), ids("PO")
    await pipe.api.receive(sku, "WH-S", 1)
    line = {"sku": sku, "warehouseId": "WH-S", "quantity": 8, "unitCost": "1.25",
            "expectedOn": "2026-12-14"}  # fmt: skip
    for order in (po, other):
        placed = await pipe.api.http.put(f"/v1/purchase-orders/{order}", headers=auth("warehouse"),
                                         json={"supplier": "Acme", "lines": [line]})  # fmt: skip
        assert placed.status_code == 201, placed.text
    moved = {
        "lines": [{**{k: line[k] for k in ("sku", "warehouseId")}, "expectedOn": "2026-12-20"}]
    }
    for path, body in (
        (f"/v1/purchase-orders/{po}/reschedule", moved),
        ("/v1/receipts", {"sku": sku, "warehouseId": "WH-S", "quantity": 5, "purchaseOrderId": po,
                          "supplier": "Acme", "inspect": True}),
        ("/v1/inspections", {"inspectionId": ids("INS"), "sku": sku, "warehouseId": "WH-S",
                             "accepted": 4, "rejected": 1}),
        (f"/v1/purchase-orders/{other}/cancel", {"reason": "twice"}),
    ):  # fmt: skip
        reply = await pipe.api.post(path, body, role="warehouse")
        assert reply.status_code in (200, 201), reply.text
    lot, serial = ids("LOT"), ids("SERIAL")  # tracked stock: lots and serials on the wire
    for item, tracking in ((lot, "lot"), (serial, "serial")):
        defined = await pipe.api.http.put(
            f"/v1/items/{item}",
            json={"name": "Tracked", "tracking": tracking},
            headers=auth("admin"),
        )
        assert defined.status_code == 201, defined.text
    await pipe.api.receive(lot, "WH-S", 4, lotId="L-1", expiresOn="2099-01-01")
    await pipe.api.receive(serial, "WH-S", 2, serials=["SN-1", "SN-2"])
    held = await pipe.api.reserve(ids("O"), (lot, "WH-S", 2))
    assert held.status_code == 201, held.text
    shipment = {"shipmentId": ids("S"), "orderId": held.json()["orderId"]}
    shipment |= {"reservationId": held.json()["reservationId"]}
    assert (await pipe.api.post("/v1/shipments", shipment)).status_code == 201
    shipped = {"sku": serial, "warehouseId": "WH-S", "quantity": 1, "serials": ["SN-1"]}
    direct = {"shipmentId": ids("S"), "orderId": ids("O"), "lines": [shipped]}
    assert (await pipe.api.post("/v1/shipments", direct)).status_code == 201
    await pipe.wait_caught_up()
    records = await read_records(kafka_broker, pipe.settings.kafka_topic)
    validators: dict[tuple[str, int], Draft202012Validator] = {}
    seen: set[str] = set()
    for record in records:
        headers = dict(record.headers)
        kind, version = headers["type"].decode(), int(headers["schemaVersion"])
        schema = (await pipe.api.http.get(f"/v1/schemas/events/{kind}/{version}")).json()
        validator = validators.setdefault(
            (kind, version),
            Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER),
        )
        message = orjson.loads(record.value or b"")
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(message)]
        assert errors == [], (kind, message, errors)
        assert record.key == message["streamId"].encode()
        seen.add(kind)
    assert {"StockReceived", "StockReserved", "LowStockDetected", "ItemDefined"} <= seen
    assert {"KitDefined", "KitChanged"} <= seen
    purchasing = {"PurchaseOrderPlaced", "StockExpected", "PurchaseOrderRescheduled",
                  "PurchaseOrderReceived", "StockInspected", "PurchaseOrderCancelled"}  # fmt: skip
    assert purchasing <= seen
    lots = [
        orjson.loads(r.value or b"")["data"]
        for r in records
        if r.key == f"stock:{lot}:WH-S".encode()
    ]
    assert [x.get("lotId") for x in lots][:1] == ["L-1"]  # v3 receipts carry their lot
