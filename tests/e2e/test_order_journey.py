"""The order service's journey over HTTP: reserve, confirm, release, ship, retries."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

pytestmark = pytest.mark.asyncio


async def test_reserve_confirm_ship(api: Api, ids: Any) -> None:
    sku, order = ids("SKU"), ids("ORDER")
    await api.receive(sku, "WH-A", 10)
    reserved = await api.reserve(order, (sku, "WH-A", 3))
    assert reserved.status_code == 201, reserved.text
    body = reserved.json()
    assert body["status"] == "active"
    assert body["orderId"] == order
    assert reserved.headers["X-Correlation-Id"] == order
    assert [e["type"] for e in body["events"]] == ["StockReserved", "StockReserved"]
    assert body["stock"][0]["reserved"] == 3
    assert body["stock"][0]["available"] == 7
    rid = body["reservationId"]

    confirmed = await api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["status"] == "confirmed"

    shipped = await api.post(
        "/v1/shipments",
        {"shipmentId": ids("SHIP"), "orderId": order, "reservationId": rid},
        role="orders",
    )
    assert shipped.status_code == 201, shipped.text
    level = await api.stock(sku, "WH-A")
    assert (level["onHand"], level["reserved"], level["available"]) == (7, 0, 7)
    got = await api.get(f"/v1/reservations/{rid}", role="orders")
    assert got.json()["status"] == "shipped"
    assert got.headers["X-Reservation-Source"] == "event-store"  # no projectors in this app


async def test_insufficient_stock_is_409_listing_short_lines(api: Api, ids) -> None:  # type: ignore[no-untyped-def]
    a, b = ids("SKU"), ids("SKU")
    await api.receive(a, "WH-A", 5)
    refused = await api.reserve(ids("ORDER"), (a, "WH-A", 3), (b, "WH-B", 1), (a, "WH-A", 3))
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "/problems/insufficient-stock"
    assert problem["lines"] == [
        {"sku": a, "warehouseId": "WH-A", "requested": 6, "available": 5},
        {"sku": b, "warehouseId": "WH-B", "requested": 1, "available": 0},
    ]
    assert (await api.stock(a, "WH-A"))["reserved"] == 0


async def test_shipping_what_the_reservation_does_not_hold_is_a_conflict(
    api: Api, ids: Any
) -> None:
    """Well-formed requests that the ledger's state refuses: 409, as insufficient stock is."""
    sku, order = ids("SKU"), ids("ORDER")
    await api.receive(sku, "WH-A", 10)
    rid = (await api.reserve(order, (sku, "WH-A", 3))).json()["reservationId"]
    ship = {"shipmentId": ids("SHIP"), "orderId": order, "reservationId": rid}
    for refused in (
        {**ship, "orderId": ids("ORDER")},
        {**ship, "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 4}]},
        {**ship, "lines": [{"sku": ids("SKU"), "warehouseId": "WH-A", "quantity": 1}]},
    ):
        response = await api.post("/v1/shipments", refused, role="orders")
        assert response.status_code == 409, response.text
        assert response.json()["type"] == "/problems/conflict"
    assert (await api.stock(sku, "WH-A"))["reserved"] == 3


async def test_retry_with_idempotency_key_replays_and_appends_nothing(api: Api, ids: Any) -> None:
    sku, order, key = ids("SKU"), ids("ORDER"), ids("KEY")
    await api.receive(sku, "WH-A", 10)
    first = await api.reserve(order, (sku, "WH-A", 4), Idempotency_Key=key)
    again = await api.reserve(order, (sku, "WH-A", 4), Idempotency_Key=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert (await api.stock(sku, "WH-A"))["reserved"] == 4
    other = await api.reserve(order, (sku, "WH-A", 5), Idempotency_Key=key)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_release_and_ended_reservation_refuses_confirm(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 10)
    rid = (await api.reserve(ids("ORDER"), (sku, "WH-A", 4))).json()["reservationId"]
    released = await api.post(
        f"/v1/reservations/{rid}/release", {"reason": "cancelled"}, role="orders"
    )
    assert released.status_code == 201
    assert released.json()["status"] == "released"
    assert (await api.stock(sku, "WH-A"))["reserved"] == 0
    refused = await api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/reservation-not-active"
    missing = await api.post(f"/v1/reservations/{ids('R')}/confirm", {}, role="orders")
    assert missing.status_code == 404
