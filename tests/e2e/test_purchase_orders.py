"""Purchasing over HTTP: purchase orders fill `incoming`, receipts against their lines empty
it, quality control holds units until inspected, and the promise question is answered from
what is available now and what is on order. Every refusal appends nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from stockledger.domain.events import to_data
from stockledger.domain.purchase_order.events import StockExpected
from stockledger.domain.stock.state import Levels
from stockledger.projections.drift import find_drift
from stockledger.store.event_store import EventStore
from stockledger.store.rows import NewEvent, StreamWrite

from .conftest import Api, auth
from .past_ledger import settled
from .processes import serving
from .test_movement_report import _around_now, report

pytestmark = pytest.mark.asyncio


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def line(sku: str, wh: str, qty: int, on: int = 7, cost: str = "3.25") -> dict[str, Any]:
    return {"sku": sku, "warehouseId": wh, "quantity": qty, "unitCost": cost, "expectedOn": day(on)}


async def place(api: Api, po: str, *lines: dict[str, Any], role: str = "warehouse") -> Any:
    body = {"supplier": "Acme Supply", "lines": list(lines)}
    return await api.http.put(f"/v1/purchase-orders/{po}", json=body, headers=auth(role))


async def events(database_url: str, *streams: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = ANY($1::text[])", list(streams)
        )
        return count
    finally:
        await conn.close()


async def test_an_order_is_placed_once_and_fills_incoming(
    api: Api, ids: Any, database_url: str
) -> None:
    sku, po = ids("SKU"), ids("PO")
    placed = await place(api, po, line(sku, "WH-A", 40), line(sku, "WH-B", 10, on=-2))
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert [e["type"] for e in body["events"]] == [
        "PurchaseOrderPlaced", "StockExpected", "StockExpected"
    ]  # fmt: skip
    assert {x["warehouseId"]: x["incoming"] for x in body["stock"]} == {"WH-A": 40, "WH-B": 10}
    level = await api.stock(sku, "WH-A")
    assert (level["incoming"], level["qualityControl"], level["available"]) == (40, 0, 0)

    again = await place(api, po, line(sku, "WH-A", 40), line(sku, "WH-B", 10, on=-2))
    assert (again.status_code, again.json()["events"][0]["type"]) == (200, "PurchaseOrderPlaced")
    other = await place(api, po, line(sku, "WH-A", 41))
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "/problems/purchase-order-exists"
    assert await events(database_url, f"po:{po}", f"stock:{sku}:WH-A", f"stock:{sku}:WH-B") == 3

    got = await api.get(f"/v1/purchase-orders/{po}", role="orders")
    assert got.status_code == 200, got.text
    order = got.json()
    assert (order["status"], order["supplier"]) == ("open", "Acme Supply")
    assert [(x["open"], x["overdue"]) for x in order["lines"]] == [(40, False), (10, True)]
    assert (await api.get(f"/v1/purchase-orders/{ids('PO')}")).status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {"quantity": 0},
        {"quantity": -5},
        {"expectedOn": "14/12/2026"},
        {"unitCost": "0"},
    ],
)
async def test_bad_lines_are_refused_with_a_problem_and_nothing_appended(
    api: Api, ids: Any, database_url: str, bad: dict[str, Any]
) -> None:
    sku, po = ids("SKU"), ids("PO")
    reply = await place(api, po, line(sku, "WH-A", 5), {**line(sku, "WH-B", 5), **bad})
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert await events(database_url, f"po:{po}", f"stock:{sku}:WH-A") == 0


async def test_two_lines_for_one_place_and_too_many_lines_are_refused(
    api: Api, ids: Any, database_url: str
) -> None:
    sku, po = ids("SKU"), ids("PO")
    twice = await place(api, po, line(sku, "WH-A", 5), line(sku, "WH-A", 6))
    assert twice.status_code == 422
    many = await place(api, po, *(line(f"{sku}-{n}", "WH-A", 1) for n in range(501)))
    assert many.status_code == 422
    assert await events(database_url, f"po:{po}", f"stock:{sku}:WH-A") == 0
    refused = await place(api, po, line(sku, "WH-A", 5), role="orders")
    assert refused.status_code == 403


async def test_receipts_take_the_line_off_incoming_and_record_what_is_over(
    api: Api, ids: Any, database_url: str
) -> None:
    sku, po = ids("SKU"), ids("PO")
    assert (await place(api, po, line(sku, "WH-A", 10, cost="4.10"))).status_code == 201
    first = await api.receive(sku, "WH-A", 4, purchaseOrderId=po, unitCost=None)
    received = first.json()["events"][0]
    assert (received["schemaVersion"], received["data"]["unitCost"]) == (3, "4.10")
    assert (received["data"]["expected"], received["data"]["overReceived"]) == (4, 0)
    assert (await api.get(f"/v1/purchase-orders/{po}")).json()["status"] == "partially_received"
    second = await api.receive(sku, "WH-A", 9, purchaseOrderId=po, unitCost=None)
    assert second.json()["events"][0]["data"]["overReceived"] == 3
    level = await api.stock(sku, "WH-A")
    assert (level["onHand"], level["incoming"]) == (13, 0)
    order = (await api.get(f"/v1/purchase-orders/{po}")).json()
    assert order["status"] == "received"
    assert (order["lines"][0]["received"], order["lines"][0]["overReceived"]) == (10, 3)

    before = await events(database_url, f"po:{po}", f"stock:{sku}:WH-A")
    closed = await api.post(f"/v1/purchase-orders/{po}/cancel", {"reason": "late"}, "warehouse")
    assert closed.status_code == 409
    assert closed.json()["type"] == "/problems/purchase-order-closed"
    without_cost = await api.receive(sku, "WH-A", 1, expect=409, purchaseOrderId=ids("PO"),
                                     unitCost=None)  # fmt: skip
    assert await events(database_url, f"po:{po}", f"stock:{sku}:WH-A") == before
    assert without_cost.json()["type"] == "/problems/unit-cost-required"


async def test_reschedule_and_cancel_release_what_is_open(api: Api, ids: Any) -> None:
    sku, po = ids("SKU"), ids("PO")
    await place(api, po, line(sku, "WH-A", 10), line(sku, "WH-B", 6))
    await api.receive(sku, "WH-A", 4, purchaseOrderId=po, unitCost=None)
    moved = await api.post(
        f"/v1/purchase-orders/{po}/reschedule",
        {"lines": [{"sku": sku, "warehouseId": "WH-B", "expectedOn": day(30)}]},
        "warehouse",
    )
    assert moved.status_code == 200, moved.text
    order = (await api.get(f"/v1/purchase-orders/{po}")).json()
    assert order["lines"][1]["expectedOn"] == day(30)

    cancelled = await api.post(f"/v1/purchase-orders/{po}/cancel", {"reason": "late"}, "warehouse")
    assert cancelled.status_code == 200, cancelled.text
    assert [e["streamId"] for e in cancelled.json()["events"]] == [
        f"po:{po}", f"stock:{sku}:WH-A", f"stock:{sku}:WH-B"
    ]  # fmt: skip
    assert (await api.stock(sku, "WH-A"))["incoming"] == 0
    assert (await api.stock(sku, "WH-B"))["incoming"] == 0
    again = await api.post(f"/v1/purchase-orders/{po}/cancel", {"reason": "late"}, "warehouse")
    assert (again.status_code, again.json()["events"][0]["type"]) == (
        200, "PurchaseOrderCancelled"
    )  # fmt: skip
    late = await api.post(
        f"/v1/purchase-orders/{po}/reschedule",
        {"lines": [{"sku": sku, "warehouseId": "WH-B", "expectedOn": day(40)}]},
        "warehouse",
    )
    assert late.json()["type"] == "/problems/purchase-order-closed"


async def test_the_list_filters_by_status_sku_supplier_and_lateness(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    late, fine, done = ids("PO-A"), ids("PO-B"), ids("PO-C")
    await place(api, late, line(sku, "WH-A", 5, on=-3))
    await place(api, fine, line(sku, "WH-B", 5, on=3))
    await place(api, done, line(sku, "WH-A", 2, on=-3))
    await api.receive(sku, "WH-A", 2, purchaseOrderId=done, unitCost=None)

    async def listed(**params: Any) -> list[str]:
        reply = await api.get("/v1/purchase-orders", role="auditor", sku=sku, **params)
        assert reply.status_code == 200, reply.text
        return [x["purchaseOrderId"] for x in reply.json()["purchaseOrders"]]

    assert await listed() == sorted([late, fine, done])
    assert await listed(overdue="true") == [late]
    assert await listed(status="received") == [done]
    assert await listed(warehouseId="WH-B") == [fine]
    assert await listed(supplier="Nobody") == []
    first = await api.get("/v1/purchase-orders", sku=sku, limit=2)
    assert first.json()["next"] is not None
    rest = await listed(after=first.json()["next"])
    assert rest == sorted([late, fine, done])[2:]


async def test_quality_control_holds_units_until_inspected_once(
    api: Api, ids: Any, database_url: str
) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 10, inspect=True)
    level = await api.stock(sku, "WH-A")
    assert (level["onHand"], level["qualityControl"], level["available"]) == (10, 10, 0)
    short = await api.reserve(ids("ORDER"), (sku, "WH-A", 1))
    assert short.status_code == 409

    body = {"inspectionId": ids("INS"), "sku": sku, "warehouseId": "WH-A", "accepted": 7,
            "rejected": 2}  # fmt: skip
    first = await api.post("/v1/inspections", body, "warehouse")
    assert first.status_code == 201, first.text
    assert first.json()["events"][0]["type"] == "StockInspected"
    again = await api.post("/v1/inspections", body, "warehouse")
    assert again.status_code == 200
    level = await api.stock(sku, "WH-A")
    assert (level["onHand"], level["qualityControl"], level["available"], level["damaged"]) == (
        8, 1, 7, 2
    )  # fmt: skip
    before = await events(database_url, f"stock:{sku}:WH-A")
    over = await api.post("/v1/inspections", {**body, "inspectionId": ids("INS")}, "warehouse")
    assert over.status_code == 409
    assert over.json()["type"] == "/problems/insufficient-quality-control"
    negative = await api.post("/v1/inspections", {**body, "accepted": -1}, "warehouse")
    assert negative.status_code == 422
    assert await events(database_url, f"stock:{sku}:WH-A") == before
    history = await api.get(f"/v1/stock/{sku}/WH-A/history")
    assert history.json()["events"][-1]["balance"]["qualityControl"] == 1


async def test_placing_receiving_and_cancelling_cross_the_reorder_point_once(
    api: Api, ids: Any
) -> None:
    sku, po = ids("SKU"), ids("PO")
    await api.receive(sku, "WH-A", 3)
    rule = {"reorderPoint": 5, "reorderQuantity": 20}
    put = await api.http.put(f"/v1/reorder-rules/{sku}/WH-A", json=rule, headers=auth("admin"))
    assert [e["type"] for e in put.json()["events"]] == ["ReorderRuleSet", "LowStockDetected"]
    placed = await place(api, po, line(sku, "WH-A", 20))
    assert [e["type"] for e in placed.json()["events"]][-1] == "LowStockResolved"
    cancelled = await api.post(f"/v1/purchase-orders/{po}/cancel", {"reason": "x"}, "warehouse")
    assert [e["type"] for e in cancelled.json()["events"]][-1] == "LowStockDetected"
    replies = await asyncio.gather(
        *(place(api, ids("PO"), line(sku, "WH-A", 10)) for _ in range(8))
    )
    kinds = [
        e["type"]
        for r in replies
        for e in r.json()["events"]
        if e["streamId"] == f"reorder:{sku}:WH-A"
    ]
    assert kinds == ["LowStockResolved"]


async def test_available_to_promise_adds_open_lines_by_date(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 20)
    await api.receive(sku, "WH-B", 5)
    await place(api, ids("PO"), line(sku, "WH-A", 10, on=7), line(sku, "WH-B", 15, on=-2))
    await place(api, ids("PO"), line(sku, "WH-A", 30, on=14))
    await place(api, ids("PO"), line(sku, "WH-A", 99, on=200))  # beyond the horizon

    reply = await api.get(f"/v1/atp/{sku}", role="orders", quantity=50)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["availableNow"] == 25
    assert body["timeline"] == [
        {"date": day(0), "incoming": 15, "available": 40},  # overdue: from today
        {"date": day(7), "incoming": 10, "available": 50},
        {"date": day(14), "incoming": 30, "available": 80},
    ]
    assert body["promise"] == {"quantity": 50, "date": day(7)}

    one = (await api.get(f"/v1/atp/{sku}", warehouseId="WH-B", quantity=10)).json()
    assert (one["availableNow"], one["promise"]["date"]) == (5, day(0))
    never = (await api.get(f"/v1/atp/{sku}", quantity=500, horizonDays=30)).json()
    assert never["promise"]["date"] is None
    now = (await api.get(f"/v1/atp/{sku}", quantity=25)).json()
    assert now["promise"]["date"] == day(0)
    assert (await api.get(f"/v1/atp/{sku}", quantity=0)).status_code == 422


async def test_a_kit_is_promised_when_its_scarcest_component_arrives(api: Api, ids: Any) -> None:
    kit, a, b = ids("KIT"), ids("SKU"), ids("SKU")
    body = {"components": [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 1}]}
    defined = await api.http.put(f"/v1/kits/{kit}", json=body, headers=auth("warehouse"))
    assert defined.status_code == 201, defined.text
    await api.receive(a, "WH-A", 4)
    await api.receive(b, "WH-A", 5)
    await place(api, ids("PO"), line(a, "WH-A", 6, on=7), line(b, "WH-A", 10, on=14))

    body = (await api.get(f"/v1/atp/{kit}", role="orders", quantity=4)).json()
    assert body["availableNow"] == 2  # 4 of A make 2 kits, 5 of B would make 5
    assert body["timeline"] == [
        {"date": day(7), "incoming": 3, "available": 5},  # A makes 5 now, B still 5
        {"date": day(14), "incoming": 0, "available": 5},  # more B: A still limits
    ]
    assert body["promise"] == {"quantity": 4, "date": day(7)}


async def test_the_movement_report_counts_expected_and_inspected_units(
    api: Api, ids: Any, pool: asyncpg.Pool[Any]
) -> None:
    sku, po = ids("SKU"), ids("PO")
    await place(api, po, line(sku, "WH-A", 12))
    received = await api.receive(sku, "WH-A", 12, purchaseOrderId=po, unitCost=None, inspect=True)
    body = {"inspectionId": ids("INS"), "sku": sku, "warehouseId": "WH-A", "accepted": 9,
            "rejected": 3}  # fmt: skip
    inspected = await api.post("/v1/inspections", body, "warehouse")
    await settled(pool, max(e["position"] for e in inspected.json()["events"]))
    assert received.status_code == 201
    rows = (await report(api, sku=sku, **_around_now()))["rows"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["expected"], row["received"]) == (12, 12)
    assert (row["inspectedAccepted"], row["inspectedRejected"]) == (9, 3)
    assert row["closing"] == {"onHand": 9, "reserved": 0, "inTransit": 0, "damaged": 3,
                              "incoming": 0, "qualityControl": 0, "expired": 0}  # fmt: skip


async def test_verify_holds_incoming_to_the_open_lines(
    api: Api, ids: Any, pool: asyncpg.Pool[Any]
) -> None:
    sku, po, other = ids("SKU"), ids("PO"), ids("PO")
    await place(api, po, line(sku, "WH-A", 10), line(sku, "WH-B", 4))
    await place(api, other, line(sku, "WH-A", 6))
    await api.receive(sku, "WH-A", 3, purchaseOrderId=po, unitCost=None)
    await api.post(f"/v1/purchase-orders/{other}/cancel", {"reason": "x"}, "warehouse")
    report = await find_drift(pool, None, lambda _: None)
    assert [f for f in report.findings if sku in f.subject] == []
    assert (await api.stock(sku, "WH-A"))["incoming"] == 7


async def test_orders_placed_and_cancelled_from_four_processes_cross_the_point_once_each_way(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    sku, wh = ids("PO4"), "WH-A"
    with serving(database_url, tmp_path, 4, "--no-expiry") as servers:
        clients = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in servers]
        try:
            received = await clients[0].post(
                "/v1/receipts",
                json={
                    "sku": sku,
                    "warehouseId": wh,
                    "quantity": 3,
                    "purchaseOrderId": "PO-0",
                    "unitCost": "1.00",
                    "supplier": "Acme",
                },
                headers=auth("warehouse"),
            )
            assert received.status_code == 201, received.text
            rule = {"reorderPoint": 5, "reorderQuantity": 20}
            put = await clients[1].put(
                f"/v1/reorder-rules/{sku}/{wh}", json=rule, headers=auth("warehouse")
            )
            assert put.status_code == 201, put.text
            orders = [ids("PO") for _ in range(12)]
            placed = await asyncio.gather(
                *(
                    clients[n % 4].put(
                        f"/v1/purchase-orders/{po}",
                        json={"supplier": "Acme", "lines": [line(sku, wh, 10)]},
                        headers=auth("warehouse"),
                    )
                    for n, po in enumerate(orders)
                )
            )
            assert [r.status_code for r in placed] == [201] * 12
            cancelled = await asyncio.gather(
                *(
                    clients[(n + 1) % 4].post(
                        f"/v1/purchase-orders/{po}/cancel",
                        json={"reason": "race"},
                        headers=auth("warehouse"),
                    )
                    for n, po in enumerate(orders)
                )
            )
            assert [r.status_code for r in cancelled] == [200] * 12
            level = await clients[2].get(
                f"/v1/stock/{sku}/{wh}", headers=auth("admin"), params={"consistency": "strong"}
            )
            assert level.json()["incoming"] == 0
            conn = await asyncpg.connect(database_url)  # the store itself: every commit
            try:
                rows = await conn.fetch(
                    "SELECT type FROM events WHERE stream_id = $1 ORDER BY version",
                    f"reorder:{sku}:{wh}",
                )
            finally:
                await conn.close()
            kinds = [r["type"] for r in rows]
            assert kinds == [
                "ReorderRuleSet", "LowStockDetected", "LowStockResolved", "LowStockDetected"
            ]  # fmt: skip
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))


async def test_verify_names_a_stream_expecting_what_no_order_holds(
    ids: Any, pool: asyncpg.Pool[Any]
) -> None:
    sku = ids("SKU")
    stray = StockExpected(ids("PO"), "Acme", sku, "WH-A", 7, datetime.now(UTC).date())
    event = NewEvent(uuid4(), stray.TYPE, 1, to_data(stray), {"causedBy": "test"},
                     datetime.now(UTC), str(uuid4()), None, Levels(incoming=7))  # fmt: skip
    await EventStore(pool).append([StreamWrite(f"stock:{sku}:WH-A", 0, (event,))])
    report = await find_drift(pool, None, lambda _: None)
    found = [f for f in report.findings if f.subject == f"stock:{sku}:WH-A"]
    assert [(f.check, f.detail) for f in found] == [
        ("incoming", "incoming 7, open purchase order lines hold 0")
    ]
