"""Warehouse and ops staff: receipts, returns, transfers, adjustments, counts, time travel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from .conftest import Api


async def test_receipt_id_counts_once(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 5, receiptId="RCV-1")
    again = await api.receive(sku, "WH-A", 5, expect=200, receiptId="RCV-1")
    assert again.json()["events"][0]["data"]["receiptId"] == "RCV-1"
    assert (await api.stock(sku, "WH-A"))["onHand"] == 5


async def test_unit_cost_is_kept_exactly(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    response = await api.receive(sku, "WH-A", 1, unitCost="0.100003")
    assert response.json()["events"][0]["data"]["unitCost"] == "0.100003"
    from_number = await api.receive(sku, "WH-A", 1, unitCost=19.99)
    assert from_number.json()["events"][0]["data"]["unitCost"] == "19.99"


async def test_returns_follow_condition_and_a_return_id_counts_once(api: Api, ids: Any) -> None:
    sku, order = ids("SKU"), ids("ORDER")
    await api.receive(sku, "WH-A", 10)
    for condition, qty in (("resellable", 2), ("damaged", 3), ("dispose", 4)):
        body = {
            "returnId": f"RET-{condition}",
            "orderId": order,
            "sku": sku,
            "warehouseId": "WH-A",
            "quantity": qty,
            "reason": "defective",
            "condition": condition,
        }
        first = await api.post("/v1/returns", body, role="warehouse")
        retry = await api.post("/v1/returns", body, role="warehouse")
        assert first.status_code == 201, first.text
        assert retry.status_code == 200
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json()["events"] == first.json()["events"]
    level = await api.stock(sku, "WH-A")
    assert (level["onHand"], level["damaged"], level["available"]) == (12, 3, 12)


async def test_transfer_conserves_stock_and_records_the_shortfall(api: Api, ids: Any) -> None:
    sku, transfer = ids("SKU"), ids("TR")
    await api.receive(sku, "WH-A", 10)
    body = {
        "transferId": transfer,
        "sku": sku,
        "fromWarehouseId": "WH-A",
        "toWarehouseId": "WH-B",
        "quantity": 6,
    }
    sent = await api.post("/v1/transfers", body, role="warehouse")
    assert sent.status_code == 201, sent.text
    assert sent.headers["X-Correlation-Id"] == transfer
    totals = (await api.get(f"/v1/stock/{sku}")).json()["totals"]
    assert (totals["onHand"], totals["inTransit"]) == (4, 6)
    received = await api.post(
        f"/v1/transfers/{transfer}/receive", {"receivedQuantity": 5}, role="warehouse"
    )
    assert received.status_code == 201, received.text
    data = received.json()["events"][0]["data"]
    assert (data["receivedQuantity"], data["lostQuantity"]) == (5, 1)
    by_sku = (await api.get(f"/v1/stock/{sku}")).json()
    assert by_sku["totals"]["onHand"] + by_sku["totals"]["inTransit"] == 9  # 10 - 1 lost
    assert {w["warehouseId"]: w["onHand"] for w in by_sku["warehouses"]} == {"WH-A": 4, "WH-B": 5}
    again = await api.post(f"/v1/transfers/{transfer}/receive", {}, role="warehouse")
    assert again.status_code == 200
    short = await api.post(
        "/v1/transfers", {**body, "transferId": ids("TR"), "quantity": 5}, role="warehouse"
    )
    assert short.status_code == 409
    assert short.json()["lines"][0]["available"] == 4


async def test_adjustment_if_match_and_floor_at_reserved(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 10)
    await api.reserve(ids("ORDER"), (sku, "WH-A", 8))
    etag = (await api.get(f"/v1/stock/{sku}/WH-A")).headers["ETag"]
    body = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantityChange": -3,
        "reason": "theft",
        "notes": "cage 3",
    }
    below = await api.post("/v1/adjustments", body, role="warehouse")
    assert below.status_code == 409
    stale = await api.post(
        "/v1/adjustments", {**body, "quantityChange": 1}, role="warehouse", If_Match='"1"'
    )
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/version-conflict"
    ok = await api.post(
        "/v1/adjustments", {**body, "quantityChange": -2}, role="warehouse", If_Match=etag
    )
    assert ok.status_code == 201, ok.text
    data = ok.json()["events"][0]["data"]
    assert (data["previousQuantity"], data["newQuantity"]) == (10, 8)
    assert ok.json()["events"][0]["metadata"]["causedBy"] == "warehouse-svc"


async def test_count_records_and_adjusts_the_difference(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 10)
    counted = await api.post(
        "/v1/counts", {"sku": sku, "warehouseId": "WH-A", "countedQuantity": 7}, role="warehouse"
    )
    assert counted.status_code == 201, counted.text
    events = counted.json()["events"]
    assert [e["type"] for e in events] == ["StockCounted", "StockAdjusted"]
    assert events[1]["data"]["reason"] == "physical_count"
    assert (events[1]["data"]["previousQuantity"], events[1]["data"]["newQuantity"]) == (10, 7)
    assert (await api.stock(sku, "WH-A"))["onHand"] == 7


async def test_direct_shipment_from_available(api: Api, ids: Any) -> None:
    sku, order = ids("SKU"), ids("ORDER")
    await api.receive(sku, "WH-A", 3)
    body = {
        "shipmentId": ids("S"),
        "orderId": order,
        "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 2}],
    }
    assert (await api.post("/v1/shipments", body, role="orders")).status_code == 201
    assert (await api.post("/v1/shipments", body, role="orders")).status_code == 200
    over = await api.post("/v1/shipments", {**body, "shipmentId": ids("S")}, role="orders")
    assert over.status_code == 409
    assert (await api.stock(sku, "WH-A"))["onHand"] == 1


async def test_history_has_running_balances_filters_and_pages(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    for qty in (5, 3, 2):
        await api.receive(sku, "WH-A", qty)
    await api.reserve(ids("ORDER"), (sku, "WH-A", 4))
    page = await api.get(f"/v1/stock/{sku}/WH-A/history", role="warehouse", limit=2)
    assert page.status_code == 200
    body = page.json()
    assert [e["balance"]["onHand"] for e in body["events"]] == [5, 8]
    assert body["next"] == "2"
    rest = (await api.get(f"/v1/stock/{sku}/WH-A/history", limit=2, after=body["next"])).json()
    assert [(e["balance"]["onHand"], e["balance"]["available"]) for e in rest["events"]] == [
        (10, 10),
        (10, 6),
    ]
    assert rest["next"] == "4"
    assert (await api.get(f"/v1/stock/{sku}/WH-A/history", after=4)).json() == {
        "events": [],
        "next": None,
    }
    reserved = (await api.get(f"/v1/stock/{sku}/WH-A/history", types="StockReserved")).json()[
        "events"
    ]
    assert [(e["version"], e["balance"]["reserved"]) for e in reserved] == [(4, 4)]
    both = await api.get(f"/v1/stock/{sku}/WH-A/history", types="StockReserved,StockReceived")
    assert [e["version"] for e in both.json()["events"]] == [1, 2, 3, 4]


async def test_time_travel_by_version_and_timestamp(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    stamps = []
    for qty in range(1, 13):  # crosses the snapshot interval (5) twice
        response = await api.receive(sku, "WH-A", qty)
        stamps.append(response.json()["events"][0]["recordedAt"])
        await asyncio.sleep(0.002)  # distinct recordedAt values
    at_v7 = (await api.get(f"/v1/stock/{sku}/WH-A/at", role="warehouse", version=7)).json()
    assert (at_v7["onHand"], at_v7["version"]) == (sum(range(1, 8)), 7)
    at_t = (await api.get(f"/v1/stock/{sku}/WH-A/at", timestamp=stamps[9])).json()
    assert (at_t["onHand"], at_t["version"]) == (sum(range(1, 11)), 10)
    before = datetime.fromisoformat(stamps[0]) - timedelta(seconds=1)
    earlier = await api.get(f"/v1/stock/{sku}/WH-A/at", timestamp=before.isoformat())
    assert earlier.status_code == 404
    future = await api.get(f"/v1/stock/{sku}/WH-A/at", version=99)
    assert future.status_code == 404
    both = await api.get(
        f"/v1/stock/{sku}/WH-A/at", version=1, timestamp=datetime.now(UTC).isoformat()
    )
    assert both.status_code == 422
    assert (await api.get(f"/v1/stock/{sku}/WH-A/at")).status_code == 422  # neither
    strong = await api.stock(sku, "WH-A", consistency="strong")
    assert strong == await api.stock(sku, "WH-A")
