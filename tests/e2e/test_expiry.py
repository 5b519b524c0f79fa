"""Reservations nobody confirms, releases or ships are expired by the server within 5 s."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from .conftest import Api


async def test_unconfirmed_reservation_expires_within_five_seconds(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 10)
    created = await api.post(
        "/v1/reservations",
        {
            "orderId": ids("ORDER"),
            "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 4}],
            "ttlSeconds": 1,
        },
        role="orders",
    )
    assert created.status_code == 201
    body = created.json()
    expires_at = datetime.fromisoformat(body["expiresAt"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1 + 5
    while (
        status := (await api.get(f"/v1/reservations/{body['reservationId']}")).json()["status"]
    ) != "expired":
        assert loop.time() < deadline, f"still {status} 5 s after expiresAt"
        await asyncio.sleep(0.05)
    assert (await api.stock(sku, "WH-A"))["reserved"] == 0
    trail = (await api.get(f"/v1/stock/{sku}/WH-A/history", types="ReservationExpired")).json()
    assert len(trail["events"]) == 1
    expired = trail["events"][0]
    assert expired["metadata"]["causedBy"] == "system:expiry"
    assert datetime.fromisoformat(expired["recordedAt"]) >= expires_at
    late = await api.post(f"/v1/reservations/{body['reservationId']}/confirm", {}, role="orders")
    assert late.status_code == 409


async def test_confirmed_reservation_never_expires(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 10)
    created = (
        await api.post(
            "/v1/reservations",
            {
                "orderId": ids("ORDER"),
                "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 4}],
                "ttlSeconds": 1,
            },
            role="orders",
        )
    ).json()
    rid = created["reservationId"]
    assert (await api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")).status_code == 201
    expires_at = datetime.fromisoformat(created["expiresAt"])
    # Wait until a later reservation, due after this one, has been expired by the worker.
    probe = (
        await api.post(
            "/v1/reservations",
            {
                "orderId": ids("ORDER"),
                "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 1}],
                "ttlSeconds": 1,
            },
            role="orders",
        )
    ).json()
    assert datetime.fromisoformat(probe["expiresAt"]) > expires_at
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 8
    while (await api.get(f"/v1/reservations/{probe['reservationId']}")).json()[
        "status"
    ] != "expired":
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    assert (await api.get(f"/v1/reservations/{rid}")).json()["status"] == "confirmed"
    assert (await api.stock(sku, "WH-A"))["reserved"] == 4
