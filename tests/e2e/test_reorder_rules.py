"""Ops set reorder rules; the ledger opens and closes low-stock alerts with the stock events
that cross them, exactly once, however many requests race."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import Api, auth

pytestmark = pytest.mark.asyncio


async def put_rule(api: Api, sku: str, wh: str, role: str = "warehouse", **rule: int) -> Any:
    body = {"reorderPoint": 5, "reorderQuantity": 20, **rule}
    return await api.http.put(f"/v1/reorder-rules/{sku}/{wh}", json=body, headers=auth(role))


async def test_a_rule_opens_at_once_and_a_receipt_closes_it(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 3)
    first = await put_rule(api, sku, "WH-A")
    assert first.status_code == 201, first.text
    body = first.json()
    assert [e["type"] for e in body["events"]] == ["ReorderRuleSet", "LowStockDetected"]
    assert (body["reorderPoint"], body["alertKind"]) == (5, "low_stock")
    alert = body["events"][1]["data"]
    assert (alert["available"], alert["suggestedOrderQuantity"]) == (3, 20)
    same = await put_rule(api, sku, "WH-A")
    assert (same.status_code, same.json()["events"]) == (200, [])

    received = await api.receive(sku, "WH-A", 10)
    assert [e["type"] for e in received.json()["events"]] == ["StockReceived", "LowStockResolved"]
    got = await api.get(f"/v1/reorder-rules/{sku}/WH-A", role="auditor")
    assert (got.status_code, got.json()["alertId"]) == (200, None)
    assert (await api.get(f"/v1/reorder-rules/{sku}/WH-A", role="orders")).status_code == 403
    assert (await put_rule(api, sku, "WH-A", role="orders")).status_code == 403

    removed = await api.http.delete(f"/v1/reorder-rules/{sku}/WH-A", headers=auth("warehouse"))
    assert removed.status_code == 200
    assert [e["type"] for e in removed.json()["events"]] == ["ReorderRuleRemoved"]
    again = await api.http.delete(f"/v1/reorder-rules/{sku}/WH-A", headers=auth("warehouse"))
    assert again.status_code == 404
    assert (await api.get(f"/v1/reorder-rules/{sku}/WH-A")).status_code == 404


async def test_forty_racing_reservations_cross_the_point_once(api: Api, ids: Any) -> None:
    sku, wh = ids("HOT"), "WH-A"
    await api.receive(sku, wh, 45)
    assert (await put_rule(api, sku, wh, reorderPoint=10)).status_code == 201
    replies = await asyncio.gather(*(api.reserve(ids("ORDER"), (sku, wh, 1)) for _ in range(40)))
    assert [r.status_code for r in replies] == [201] * 40
    kinds = [
        e["type"]
        for r in replies
        for e in r.json()["events"]
        if e["streamId"] == f"reorder:{sku}:{wh}"
    ]
    assert kinds == ["LowStockDetected"]  # available 45 -> 5 crossed 10 exactly once
    rule = (await api.get(f"/v1/reorder-rules/{sku}/{wh}")).json()
    assert rule["alertKind"] == "low_stock"


async def test_rules_are_listed_by_warehouse(api: Api, ids: Any) -> None:
    wh = ids("WH")
    skus = [f"{ids('R')}-{n}" for n in range(3)]
    for sku in skus:
        assert (await put_rule(api, sku, wh)).status_code == 201
    listed = await api.get("/v1/reorder-rules", warehouseId=wh, role="auditor")
    assert listed.status_code == 200, listed.text
    assert sorted(x["sku"] for x in listed.json()["rules"]) == sorted(skus)


async def _alerts(api: Api, role: str = "warehouse", **params: Any) -> Any:
    got = await api.get("/v1/alerts", role=role, **params)
    assert got.status_code == 200, got.text
    return got.json()


async def _low(api: Api, prefix: str) -> list[str]:
    got = await api.get("/v1/stock", lowStock="true", skuPrefix=prefix, role="orders")
    assert got.status_code == 200, got.text
    return [f"{x['sku']}:{x['warehouseId']}" for x in got.json()["levels"]]


async def test_an_alert_is_one_object_from_low_stock_to_stock_out_to_closed(
    api: Api, ids: Any
) -> None:
    sku, wh = ids("LIFE"), "WH-A"
    await api.receive(sku, wh, 20)
    assert (await put_rule(api, sku, wh, reorderPoint=10, safetyStock=4)).status_code == 201
    assert (await _alerts(api, sku=sku))["alerts"] == []
    assert (await api.reserve(ids("ORDER"), (sku, wh, 12))).status_code == 201  # 8 left
    assert (await api.reserve(ids("ORDER"), (sku, wh, 3))).status_code == 201  # 5: no crossing
    [alert] = (await _alerts(api, sku=sku, status="open"))["alerts"]
    assert (alert["kind"], alert["status"], alert["closedAt"]) == ("low_stock", "open", None)
    # available now, and what to order now: max(20, 10 + 4 - 5)
    assert (alert["available"], alert["suggestedOrderQuantity"]) == (5, 20)
    assert (alert["reorderPoint"], alert["warehouseId"]) == (10, wh)
    assert await _low(api, sku) == [f"{sku}:{wh}"]

    assert (await api.reserve(ids("ORDER"), (sku, wh, 5))).status_code == 201
    [out] = (await _alerts(api, sku=sku))["alerts"]
    assert (out["alertId"], out["kind"], out["available"]) == (alert["alertId"], "stock_out", 0)

    await api.receive(sku, wh, 30)  # projected 30 > 10: closes
    [closed] = (await _alerts(api, sku=sku, role="auditor"))["alerts"]
    assert (closed["alertId"], closed["status"], closed["available"]) == (
        alert["alertId"],
        "closed",
        30,
    )
    assert closed["closedAt"] >= closed["openedAt"]
    assert (await _alerts(api, sku=sku, status="open"))["alerts"] == []
    assert (await _alerts(api, sku=sku, status="closed"))["alerts"] == [closed]
    assert await _low(api, sku) == []
    assert (await api.get("/v1/alerts", role="orders")).status_code == 403


async def test_alerts_page_by_keyset_and_filter_by_warehouse(api: Api, ids: Any) -> None:
    prefix, wh, other = ids("PAGE"), ids("WH"), ids("WH")
    skus = [f"{prefix}-{n}" for n in range(3)]
    for sku in skus:  # a rule on an empty stream opens a stock-out at once
        assert (await put_rule(api, sku, wh)).status_code == 201
    assert (await put_rule(api, skus[0], other)).status_code == 201
    first = await _alerts(api, warehouseId=wh, limit=2)
    assert [a["sku"] for a in first["alerts"]] == skus[:2]
    assert first["next"] == first["alerts"][-1]["alertId"]
    second = await _alerts(api, warehouseId=wh, limit=2, after=first["next"])
    assert ([a["sku"] for a in second["alerts"]], second["next"]) == ([skus[2]], None)
    assert {a["kind"] for a in first["alerts"] + second["alerts"]} == {"stock_out"}
    mine = await _alerts(api, sku=skus[0])
    assert sorted(a["warehouseId"] for a in mine["alerts"]) == sorted([wh, other])
    bad = await api.get("/v1/alerts", after="not-an-alert", role="admin")
    assert (bad.status_code, bad.json()["type"]) == (422, "/problems/validation-error")


async def test_low_stock_listing_pages_past_alerts_on_streams_without_stock(
    api: Api, ids: Any
) -> None:
    prefix = ids("EMPTY")
    for n in range(3):  # rules on streams never stocked: stock-outs with no level to list
        assert (await put_rule(api, f"{prefix}-{n}", "WH-A")).status_code == 201
    low = f"{prefix}-9"
    await api.receive(low, "WH-A", 2)
    assert (await put_rule(api, low, "WH-A")).status_code == 201
    got = await api.get("/v1/stock", lowStock="true", skuPrefix=prefix, limit=2)
    assert [x["sku"] for x in got.json()["levels"]] == [low]
