"""No concurrency pattern oversells or double-counts a retry (invariants 2 and 4 over HTTP)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from .conftest import Api


async def test_200_racing_single_unit_reservations_on_50_units_never_oversell(
    api: Api, ids: Any
) -> None:
    sku = ids("HOT")
    await api.receive(sku, "WH-A", 50)
    responses = await asyncio.gather(
        *(api.reserve(ids("ORDER"), (sku, "WH-A", 1)) for _ in range(200))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 50, 409: 150}
    level = await api.stock(sku, "WH-A", consistency="strong")
    assert (level["reserved"], level["available"]) == (50, 0)


async def test_100_orders_each_sent_twice_at_once_with_one_key_reserve_once(
    api: Api, ids: Any
) -> None:
    sku = ids("HOT")
    await api.receive(sku, "WH-A", 1000)
    orders = [(ids("ORDER"), ids("KEY")) for _ in range(100)]
    responses = await asyncio.gather(
        *(
            api.reserve(order, (sku, "WH-A", 1), Idempotency_Key=key)
            for order, key in orders
            for _ in range(2)
        )
    )
    assert {r.status_code for r in responses} == {201}
    by_key: dict[str, list[Any]] = {}
    for (_, key), pair in zip(
        orders, zip(responses[::2], responses[1::2], strict=True), strict=True
    ):
        by_key[key] = [r.json()["reservationId"] for r in pair]
    assert all(first == second for first, second in by_key.values())
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 100
    assert (await api.stock(sku, "WH-A", consistency="strong"))["reserved"] == 100
    history = await api.get(f"/v1/stock/{sku}/WH-A/history", types="StockReserved", limit=1000)
    assert len(history.json()["events"]) == 100
