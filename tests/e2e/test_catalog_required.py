"""STOCKLEDGER_CATALOG_REQUIRED: commands naming an SKU or warehouse never defined are refused
(422 unknown-item / unknown-warehouse) and change nothing; what was accepted goes on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings

from .conftest import Api, auth


@pytest.fixture(scope="module")
async def strict(settings: Settings) -> AsyncIterator[Api]:
    """A second app on the same database, with the catalog required."""
    app = create_app(settings.model_copy(update={"catalog_required": True}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://strict") as http:
            yield Api(http)


def _refused(response: httpx.Response, kind: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}"
    return body


async def test_an_undefined_sku_or_warehouse_is_refused_and_nothing_is_written(
    strict: Api, api: Api, ids: Any
) -> None:
    sku, wh = ids("STRICT"), ids("WH")
    missing = _refused(await strict.receive(sku, wh, 5, expect=0), "unknown-item")
    assert missing["sku"] == sku
    assert (await api.get(f"/v1/stock/{sku}/{wh}")).status_code == 404  # nothing appended
    item = await strict.http.put(f"/v1/items/{sku}", json={"name": "Kettle"}, headers=auth("admin"))
    assert item.status_code == 201, item.text
    place = _refused(await strict.receive(sku, wh, 5, expect=0), "unknown-warehouse")
    assert place["warehouseId"] == wh
    defined = await strict.http.put(
        f"/v1/warehouses/{wh}", json={"name": "North"}, headers=auth("admin")
    )
    assert defined.status_code == 201, defined.text
    await strict.receive(sku, wh, 5)
    elsewhere = ids("WH")
    _refused(await strict.reserve(ids("ORDER"), (sku, elsewhere, 1)), "unknown-warehouse")
    transfer = {
        "transferId": ids("T"),
        "sku": sku,
        "fromWarehouseId": wh,
        "toWarehouseId": elsewhere,
        "quantity": 1,
    }
    _refused(await strict.post("/v1/transfers", transfer), "unknown-warehouse")
    rule = await strict.http.put(
        f"/v1/reorder-rules/{ids('NOPE')}/{wh}",
        json={"reorderPoint": 1, "reorderQuantity": 5},
        headers=auth("warehouse"),
    )
    _refused(rule, "unknown-item")
    assert (await strict.reserve(ids("ORDER"), (sku, wh, 2))).status_code == 201
    assert (await api.stock(sku, wh))["onHand"] == 5


async def test_what_was_accepted_before_goes_on_under_the_required_catalog(
    strict: Api, api: Api, ids: Any
) -> None:
    sku, wh = ids("LEGACY"), "WH-A"
    await api.receive(sku, wh, 4)  # a v1 client: never defined
    held = await api.reserve(ids("ORDER"), (sku, wh, 3))
    assert held.status_code == 201, held.text
    rid = held.json()["reservationId"]
    released = await strict.post(f"/v1/reservations/{rid}/release", {}, role="orders")
    assert released.status_code == 201, released.text
    assert (await api.stock(sku, wh))["reserved"] == 0
    _refused(await strict.reserve(ids("ORDER"), (sku, wh, 1)), "unknown-item")


async def test_a_refusal_on_a_cached_catalog_state_looks_again_at_the_store(
    strict: Api, api: Api, ids: Any
) -> None:
    """Two apps on one database stand for two processes, each with its own state cache: what
    one defines or activates, the other sees at once, though its refusal appended nothing."""
    sku, wh = ids("TWO"), ids("WH")
    _refused(await strict.receive(sku, wh, 5, expect=0), "unknown-item")  # strict caches it
    await api.http.put(f"/v1/items/{sku}", json={"name": "Lamp"}, headers=auth("admin"))
    await api.http.put(f"/v1/warehouses/{wh}", json={"name": "East"}, headers=auth("admin"))
    await strict.receive(sku, wh, 5)  # 201, not a stale 422
    await api.post(f"/v1/items/{sku}/deactivate", {"reason": "recall"})
    refused = await strict.receive(sku, wh, 1, expect=409)
    assert refused.json()["type"] == "/problems/item-inactive"
    await api.post(f"/v1/items/{sku}/activate", {})
    await strict.receive(sku, wh, 1)  # 201: the cached "inactive" did not stick
    assert (await api.stock(sku, wh))["onHand"] == 6
