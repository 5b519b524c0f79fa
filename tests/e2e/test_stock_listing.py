"""Ops list stock they do not know the ids of: by warehouse and SKU prefix, page by page."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

pytestmark = pytest.mark.asyncio


async def _all(api: Api, limit: int, **filters: str) -> list[tuple[str, str, int]]:
    seen: list[tuple[str, str, int]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": limit, **filters}
        if after:
            params["after"] = after
        page = await api.get("/v1/stock", role="orders", **params)
        assert page.status_code == 200, page.text
        assert page.headers["X-Stock-Source"] == "event-store"  # no projectors in this app
        seen += [(x["sku"], x["warehouseId"], x["onHand"]) for x in page.json()["levels"]]
        after = page.json()["next"]
        if after is None:
            return seen


async def test_every_level_once_in_order_by_warehouse_and_sku_prefix(api: Api, ids: Any) -> None:
    family = ids("LS")
    stocked = [(f"{family}-{n}", wh, n + 1) for n in range(4) for wh in ("WH-A", "WH-B")]
    for sku, wh, qty in reversed(stocked):
        await api.receive(sku, wh, qty)
    assert await _all(api, 3, skuPrefix=family) == stocked
    assert await _all(api, 2, skuPrefix=family, warehouseId="WH-B") == [
        x for x in stocked if x[1] == "WH-B"
    ]
    assert await _all(api, 5, skuPrefix=f"{family}-2") == stocked[4:6]
    bad = await api.get("/v1/stock", after="not a cursor")
    assert bad.status_code == 422
