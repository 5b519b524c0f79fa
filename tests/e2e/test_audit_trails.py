"""Auditors: one order's events across SKUs and warehouses, correlations, the global feed."""

from __future__ import annotations

from typing import Any

from ..support import eventually
from .conftest import Api


async def test_order_trail_spans_skus_warehouses_and_lifecycle(api: Api, ids: Any) -> None:
    a, b, order = ids("SKU"), ids("SKU"), ids("ORDER")
    await api.receive(a, "WH-A", 5)
    await api.receive(b, "WH-B", 5)
    rid = (await api.reserve(order, (a, "WH-A", 1), (b, "WH-B", 2))).json()["reservationId"]
    await api.post(
        "/v1/shipments",
        {"shipmentId": ids("S"), "orderId": order, "reservationId": rid},
        role="orders",
    )
    await api.post(
        "/v1/returns",
        {
            "returnId": ids("RET"),
            "orderId": order,
            "sku": b,
            "warehouseId": "WH-B",
            "quantity": 1,
            "reason": "wrong_item",
            "condition": "resellable",
        },
        role="warehouse",
    )
    trail = await api.get(f"/v1/orders/{order}/events", role="auditor")
    assert trail.status_code == 200
    events = trail.json()["events"]
    assert [e["type"] for e in events] == ["StockReserved"] * 3 + ["StockShipped"] * 3 + [
        "StockReturned"
    ]
    assert {e["streamId"] for e in events} == {
        f"reservation:{rid}",
        f"stock:{a}:WH-A",
        f"stock:{b}:WH-B",
    }
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    correlated = (await api.get(f"/v1/correlations/{order}/events", role="auditor")).json()
    assert correlated["events"] == events  # the order id is the default correlation id


async def test_explicit_correlation_id_is_stored_and_echoed(api: Api, ids: Any) -> None:
    sku, correlation = ids("SKU"), ids("CORR")
    await api.receive(sku, "WH-A", 5)
    response = await api.reserve(ids("ORDER"), (sku, "WH-A", 1), X_Correlation_Id=correlation)
    assert response.headers["X-Correlation-Id"] == correlation
    assert {e["metadata"]["correlationId"] for e in response.json()["events"]} == {correlation}
    trail = (await api.get(f"/v1/correlations/{correlation}/events", role="auditor")).json()
    assert len(trail["events"]) == 2


async def test_global_feed_pages_in_position_order_for_auditors_only(api: Api, ids: Any) -> None:
    first_page = await api.get("/v1/events", role="auditor", limit=1000)
    assert first_page.status_code == 200, first_page.text
    start = first_page.json()
    cursor = start["events"][-1]["position"] if start["events"] else 0
    while start["next"]:
        start = (
            await api.get("/v1/events", role="auditor", after=start["next"], limit=1000)
        ).json()
        cursor = start["events"][-1]["position"] if start["events"] else cursor
    sku = ids("SKU")
    for qty in (1, 2, 3):
        await api.receive(sku, "WH-A", qty)

    async def mine_visible() -> bool:  # the horizon is cluster-wide: wait out other writers
        page = (await api.get("/v1/events", role="auditor", after=cursor, limit=1000)).json()
        return bool(sum(e["streamId"] == f"stock:{sku}:WH-A" for e in page["events"]) == 3)

    await eventually(mine_visible, within=60, what="my events in the feed")
    first = (await api.get("/v1/events", role="auditor", after=cursor, limit=2)).json()
    second = (await api.get("/v1/events", role="auditor", after=first["next"], limit=2)).json()
    mine = [e for e in first["events"] + second["events"] if e["streamId"] == f"stock:{sku}:WH-A"]
    assert [e["data"]["quantity"] for e in mine] == [1, 2, 3]
    for role in ("orders", "warehouse"):
        assert (await api.get("/v1/events", role=role)).status_code == 403
