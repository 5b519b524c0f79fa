"""STOCKLEDGER_READ_DATABASE_URL: exports, reports, valuations, history, time travel, the trails
and the feed come from a hot standby, never beyond what it has replayed (X-As-Of-Position); an
asOfPosition it has not reached is answered by the primary, and while the primary is down the
standby still answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings
from stockledger.ops.local_services.replication import ReplicatedPostgres

from ..support import eventually
from .conftest import API_KEYS, Api
from .replicated import DATABASE, needs_binaries

pytestmark = needs_binaries


@pytest.fixture
async def served(
    pair: tuple[ReplicatedPostgres, str],
) -> AsyncIterator[tuple[Api, ReplicatedPostgres]]:
    pg, url = pair
    settings = Settings(
        database_url=url, read_database_url=pg.standby.url(DATABASE), api_keys=API_KEYS
    )
    app = create_app(settings, run_expiry=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Api(http), pg


async def _export(api: Api, sku: str, **params: Any) -> tuple[int, list[dict[str, Any]]]:
    got = await api.get("/v1/exports/events", role="auditor", sku=sku, **params)
    assert got.status_code == 200, got.text
    lines = [orjson.loads(line) for line in got.content.splitlines() if line]
    return int(got.headers["X-As-Of-Position"]), lines


def _reaches_only(got: httpx.Response, events: list[dict[str, Any]], *, before: int) -> None:
    """A standby's answer: 200, its X-As-Of-Position below `before` (the first event it has
    not replayed), and none of its events beyond that position."""
    assert got.status_code == 200, got.text
    as_of = int(got.headers["X-As-Of-Position"])
    assert as_of < before
    assert all(event["position"] <= as_of for event in events)


async def _on_standby(pg: ReplicatedPostgres, sql: str) -> Any:
    conn = await asyncpg.connect(pg.standby.url(DATABASE))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_a_lagging_standby_never_shows_beyond_its_replay(
    served: tuple[Api, ReplicatedPostgres], ids: Any
) -> None:
    api, pg = served
    sku = ids("REP")
    for n in range(3):  # each its own purchase order: its own correlation trail
        await api.receive(sku, "WH-A", 1, purchaseOrderId=f"PO-{sku}-{n}")

    async def replayed_three() -> bool:
        return len((await _export(api, sku))[1]) == 3

    await eventually(replayed_three, within=10, what="the standby replayed the receipts")
    await _on_standby(pg, "SELECT pg_wal_replay_pause()")
    try:
        later = [
            (await api.receive(sku, "WH-A", 1, purchaseOrderId=f"PO-{sku}-L{n}")).json()["events"][
                0
            ]
            for n in range(2)
        ]
        as_of, lines = await _export(api, sku)
        assert len(lines) == 3, "the standby's answer: what it has replayed"
        assert as_of < later[0]["position"], "and its X-As-Of-Position says so"
        assert all(line["position"] <= as_of for line in lines)
        # A report says the same position and the same quantity.
        value = await api.get("/v1/valuation", role="auditor", warehouseId="WH-A")
        assert value.status_code == 200, value.text
        assert int(value.headers["X-As-Of-Position"]) < later[0]["position"]
        rows = {r["sku"]: r for r in value.json()["rows"]}
        assert rows[sku]["onHand"] == 3
        # History, time travel, the trails and the feed: the standby's, up to the position
        # they name, unless strong (the primary's, without a position).
        path = f"/v1/stock/{sku}/WH-A"
        history = await api.get(f"{path}/history", role="auditor")
        replayed = history.json()["events"]
        assert len(replayed) == 3
        _reaches_only(history, replayed, before=later[0]["position"])
        strong = await api.get(f"{path}/history", role="auditor", consistency="strong")
        assert len(strong.json()["events"]) == 5
        assert "X-As-Of-Position" not in strong.headers
        at = await api.get(f"{path}/at", role="auditor", version=5)
        assert at.status_code == 404, "the standby has not seen version 5"
        at = await api.get(f"{path}/at", role="auditor", version=3)
        assert at.json()["onHand"] == 3
        _reaches_only(at, [], before=later[0]["position"])
        at = await api.get(f"{path}/at", role="auditor", timestamp=later[-1]["recordedAt"])
        assert at.json()["onHand"] == 3, "time travel to a later instant stops at the replay"
        at = await api.get(f"{path}/at", role="auditor", version=5, consistency="strong")
        assert at.json()["onHand"] == 5
        feed = await api.get("/v1/events", role="auditor", after=lines[-1]["position"])
        assert feed.json()["events"] == []
        _reaches_only(feed, [], before=later[0]["position"])
        feed = await api.get(
            "/v1/events", role="auditor", after=lines[-1]["position"], consistency="strong"
        )
        assert [e["eventId"] for e in feed.json()["events"]][:2] == [e["eventId"] for e in later]
        trail = f"/v1/correlations/{later[0]['metadata']['correlationId']}/events"
        unseen = await api.get(trail, role="auditor")
        assert unseen.json()["events"] == [], "the standby has not replayed that command"
        _reaches_only(unseen, [], before=later[0]["position"])
        seen = await api.get(
            f"/v1/correlations/{lines[0]['metadata']['correlationId']}/events", role="auditor"
        )
        _reaches_only(seen, seen.json()["events"], before=later[0]["position"])
        assert [e["eventId"] for e in seen.json()["events"]] == [lines[0]["eventId"]]
        strong = await api.get(trail, role="auditor", consistency="strong")
        assert [e["eventId"] for e in strong.json()["events"]] == [later[0]["eventId"]]
        # One stream's valuation: the standby's, the primary's when strong or for an
        # asOfPosition the standby has not reached.
        one = await api.get(f"/v1/valuation/{sku}/WH-A", role="auditor")
        assert one.json()["onHand"] == 3
        _reaches_only(one, [], before=later[0]["position"])
        one = await api.get(f"/v1/valuation/{sku}/WH-A", role="auditor", consistency="strong")
        assert one.json()["onHand"] == 5
        assert int(one.headers["X-As-Of-Position"]) >= later[-1]["position"]
        one = await api.get(
            f"/v1/valuation/{sku}/WH-A", role="auditor", asOfPosition=later[0]["position"]
        )
        assert one.json()["onHand"] == 4, "the primary answers, up to that position"
        assert one.headers["X-As-Of-Position"] == str(later[0]["position"])
        # An order's trail: nothing the standby has not replayed.
        order = ids("ORD")
        assert (await api.reserve(order, (sku, "WH-A", 1))).status_code == 201
        orders = await api.get(f"/v1/orders/{order}/events", role="auditor")
        assert orders.json()["events"] == []
        _reaches_only(orders, [], before=later[0]["position"])
        orders = await api.get(f"/v1/orders/{order}/events", role="auditor", consistency="strong")
        assert {e["type"] for e in orders.json()["events"]} == {"StockReserved"}
        # An asOfPosition the standby has not reached: the primary answers it.
        reached, lines = await _export(api, sku, asOfPosition=later[-1]["position"])
        assert reached == later[-1]["position"]
        assert [line["position"] for line in lines][-2:] == [e["position"] for e in later]
    finally:
        await _on_standby(pg, "SELECT pg_wal_replay_resume()")

    async def replayed_all() -> bool:
        return len((await _export(api, sku))[1]) == 6  # five receipts and the reservation

    await eventually(replayed_all, within=10, what="the standby caught up")


async def test_the_standby_answers_while_the_primary_is_down(
    served: tuple[Api, ReplicatedPostgres], ids: Any
) -> None:
    api, pg = served
    sku = ids("REP")
    await api.receive(sku, "WH-A", 2)

    async def replayed() -> bool:
        return len((await _export(api, sku))[1]) == 1

    await eventually(replayed, within=10, what="the standby replayed the receipt")
    pg.kill_primary()
    _, lines = await _export(api, sku)
    assert [line["data"]["quantity"] for line in lines] == [2]
    refused = await api.receive(sku, "WH-A", 1, expect=503)
    assert refused.headers["Retry-After"]


async def test_ready_says_when_the_replica_is_away(
    served: tuple[Api, ReplicatedPostgres], ids: Any
) -> None:
    api, pg = served
    sku = ids("REP")
    await api.receive(sku, "WH-A", 1)
    ready = (await api.http.get("/ready")).json()
    assert ready["checks"]["replica"] == "ok"
    standby = pg.standby.service
    assert standby is not None
    standby.stop()  # (the primary now waits for it at every commit: no writes here)
    pg.standby.service = None
    got = await api.http.get("/ready")
    assert got.status_code == 200
    assert got.json()["status"] == "degraded"
    assert got.json()["checks"]["replica"].startswith("unreachable")
    as_of, lines = await _export(api, sku)  # from the primary now
    assert len(lines) == 1
    assert lines[0]["position"] <= as_of


async def test_an_export_the_standby_fails_before_its_first_event_comes_from_the_primary(
    pair: tuple[ReplicatedPostgres, str], ids: Any
) -> None:
    pg, url = pair
    # The standby is read as a role that may not read the events: it answers its horizon, and
    # then fails every page of an export.
    conn = await asyncpg.connect(pg.primary.url(DATABASE))
    try:
        await conn.execute("CREATE ROLE blind LOGIN")
    finally:
        await conn.close()
    standby = pg.standby.url(DATABASE).replace("postgres@", "blind@", 1)
    settings = Settings(database_url=url, read_database_url=standby, api_keys=API_KEYS)
    app = create_app(settings, run_expiry=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            api = Api(http)
            sku = ids("REP")
            received = [(await api.receive(sku, "WH-A", 1)).json()["events"][0] for _ in range(2)]
            await asyncio.to_thread(pg.wait_replayed)
            as_of, lines = await _export(api, sku)
            assert [line["eventId"] for line in lines] == [e["eventId"] for e in received]
            assert all(line["position"] <= as_of for line in lines)
            csv = await api.get("/v1/exports/events", role="auditor", sku=sku, format="csv")
            assert csv.status_code == 200, csv.text
            rows = csv.text.splitlines()
            assert rows[0].startswith("position,eventId"), "one header"
            assert len(rows) == 3
            assert not rows[1].startswith("position")
            manifest = await api.get(
                "/v1/exports/manifest", role="auditor", sku=sku, asOfPosition=as_of
            )
            assert manifest.status_code == 200, manifest.text
            assert manifest.json()["count"] == 2
