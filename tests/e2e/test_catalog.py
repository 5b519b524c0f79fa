"""Ops staff define items and warehouses, change them and take them out of service, over HTTP
against a real Postgres; stock commands obey what the catalog says."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from .conftest import Api, auth

pytestmark = pytest.mark.asyncio


async def put(api: Api, path: str, body: Any, role: str = "warehouse", **headers: str) -> Any:
    extra = {k.replace("_", "-"): v for k, v in headers.items()}
    return await api.http.put(path, json=body, headers={**auth(role), **extra})


async def test_an_item_is_defined_changed_only_where_it_differs_and_read_back(
    api: Api, ids: Any
) -> None:
    sku = ids("SKU")
    first = await put(api, f"/v1/items/{sku}", {"name": "Mug", "description": "blue"})
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["sku"], body["name"], body["unitOfMeasure"], body["valuationMethod"]) == (
        sku,
        "Mug",
        "each",
        "fifo",
    )
    assert [e["type"] for e in body["events"]] == ["ItemDefined"]
    assert (body["active"], body["version"]) == (True, 1)

    same = await put(api, f"/v1/items/{sku}", {"name": "Mug", "description": "blue"})
    assert same.status_code == 200
    assert same.json()["events"] == []  # nothing changed: no event

    renamed = await put(api, f"/v1/items/{sku}", {"name": "Big mug", "description": "blue"})
    assert renamed.status_code == 200
    [event] = renamed.json()["events"]
    assert (event["type"], event["data"]) == ("ItemChanged", {"sku": sku, "name": "Big mug"})

    got = await api.get(f"/v1/items/{sku}", role="orders")  # every role reads the catalog
    assert got.status_code == 200
    assert (got.json()["name"], got.json()["version"]) == ("Big mug", 2)
    assert (await api.get(f"/v1/items/{ids('NEVER')}")).status_code == 404


async def test_if_match_guards_a_change_and_writers_are_warehouse_or_admin(
    api: Api, ids: Any
) -> None:
    sku = ids("SKU")
    assert (await put(api, f"/v1/items/{sku}", {"name": "Pen"})).status_code == 201
    stale = await put(api, f"/v1/items/{sku}", {"name": "Pencil"}, If_Match='"0"')
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/version-conflict"
    fresh = await put(api, f"/v1/items/{sku}", {"name": "Pencil"}, If_Match='"1"')
    assert fresh.status_code == 200
    for role in ("orders", "auditor"):
        refused = await put(api, f"/v1/items/{sku}", {"name": "Quill"}, role=role)
        assert refused.status_code == 403
    assert (await api.get(f"/v1/items/{sku}")).json()["name"] == "Pencil"


async def test_an_inactive_item_refuses_stock_in_but_lets_stock_out(api: Api, ids: Any) -> None:
    sku, order = ids("SKU"), ids("ORDER")
    assert (await put(api, f"/v1/items/{sku}", {"name": "Lamp"})).status_code == 201
    await api.receive(sku, "WH-A", 10)
    held = await api.reserve(order, (sku, "WH-A", 2))
    assert held.status_code == 201
    off = await api.post(f"/v1/items/{sku}/deactivate", {"reason": "discontinued"})
    assert off.status_code == 200, off.text
    assert ([e["type"] for e in off.json()["events"]], off.json()["active"]) == (
        ["ItemDeactivated"],
        False,
    )
    again = await api.post(f"/v1/items/{sku}/deactivate", {"reason": "discontinued"})
    assert (again.status_code, again.json()["events"]) == (200, [])

    refused = [
        await api.receive(sku, "WH-A", 1, expect=409),
        await api.reserve(ids("ORDER"), (sku, "WH-A", 1)),
        await api.post(
            "/v1/transfers",
            {
                "transferId": ids("T"),
                "sku": sku,
                "fromWarehouseId": "WH-A",
                "toWarehouseId": "WH-B",
                "quantity": 1,
            },
        ),
    ]
    assert [r.status_code for r in refused] == [409, 409, 409]
    assert {r.json()["type"] for r in refused} == {"/problems/item-inactive"}
    # what is already there still moves out
    rid = held.json()["reservationId"]
    shipped = await api.post(
        "/v1/shipments", {"shipmentId": ids("S"), "orderId": order, "reservationId": rid}
    )
    assert shipped.status_code == 201, shipped.text
    level = await api.stock(sku, "WH-A", consistency="strong")
    assert (level["onHand"], level["reserved"]) == (8, 0)

    on = await api.post(f"/v1/items/{sku}/activate", {})
    assert on.status_code == 200
    assert [e["type"] for e in on.json()["events"]] == ["ItemActivated"]
    await api.receive(sku, "WH-A", 1)
    missing = await api.post(f"/v1/items/{ids('NEVER')}/deactivate", {"reason": "x"})
    assert missing.status_code == 404


async def test_the_valuation_method_is_locked_once_the_sku_has_stock(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    assert (await put(api, f"/v1/items/{sku}", {"name": "Tea"})).status_code == 201
    switched = await put(
        api, f"/v1/items/{sku}", {"name": "Tea", "valuationMethod": "moving_average"}
    )
    assert switched.status_code == 200  # no stock yet: it may change
    await api.receive(sku, "WH-A", 5)
    locked = await put(api, f"/v1/items/{sku}", {"name": "Tea", "valuationMethod": "fifo"})
    assert locked.status_code == 409
    assert locked.json()["type"] == "/problems/valuation-method-locked"
    assert (await api.get(f"/v1/items/{sku}")).json()["valuationMethod"] == "moving_average"
    renamed = await put(
        api, f"/v1/items/{sku}", {"name": "Green tea", "valuationMethod": "moving_average"}
    )
    assert renamed.status_code == 200  # other fields still change


async def test_a_warehouse_deactivates_only_when_empty_and_then_takes_nothing_in(
    api: Api, ids: Any
) -> None:
    wh, sku = ids("WH"), ids("SKU")
    defined = await put(api, f"/v1/warehouses/{wh}", {"name": "North", "address": "1 Quay"})
    assert defined.status_code == 201, defined.text
    assert (defined.json()["warehouseId"], defined.json()["name"]) == (wh, "North")
    await api.receive(sku, wh, 3)
    full = await api.post(f"/v1/warehouses/{wh}/deactivate", {"reason": "closing"})
    assert full.status_code == 409
    assert full.json()["type"] == "/problems/warehouse-not-empty"
    assert full.json()["streams"] == [f"stock:{sku}:{wh}"]

    adjusted = await api.post(
        "/v1/adjustments",
        {
            "sku": sku,
            "warehouseId": wh,
            "quantityChange": -3,
            "reason": "system_correction",
            "notes": "moved out before closing",
        },
    )
    assert adjusted.status_code == 201, adjusted.text
    empty = await api.post(f"/v1/warehouses/{wh}/deactivate", {"reason": "closing"})
    assert empty.status_code == 200, empty.text
    assert [e["type"] for e in empty.json()["events"]] == ["WarehouseDeactivated"]
    refused = await api.receive(sku, wh, 1, expect=409)
    assert refused.json()["type"] == "/problems/warehouse-inactive"
    got = await api.get(f"/v1/warehouses/{wh}", role="auditor")
    assert (got.status_code, got.json()["active"]) == (200, False)


async def test_a_receipt_racing_a_warehouse_deactivation_one_of_them_wins(
    api: Api, ids: Any, client: httpx.AsyncClient
) -> None:
    for _ in range(5):
        wh, sku = ids("WH"), ids("SKU")
        assert (await put(api, f"/v1/warehouses/{wh}", {"name": "Race"})).status_code == 201
        receipt = api.receive(sku, wh, 1, expect=0)  # any status: checked below
        closing = api.post(f"/v1/warehouses/{wh}/deactivate", {"reason": "race"})
        received, closed = await asyncio.gather(receipt, closing, return_exceptions=False)
        outcome = (received.status_code, closed.status_code)
        assert outcome in {(201, 409), (409, 200)}, (received.text, closed.text)
        level = await api.get(f"/v1/stock/{sku}/{wh}", consistency="strong")
        active = (await api.get(f"/v1/warehouses/{wh}")).json()["active"]
        if outcome == (201, 409):
            assert (level.json()["onHand"], active) == (1, True)
        else:
            assert (level.status_code, active) == (404, False)


async def test_ops_find_every_item_page_by_page_and_filter_by_prefix_and_state(
    api: Api, ids: Any
) -> None:
    family = ids("LIST")  # a prefix no other test uses
    skus = [f"{family}-{n:02d}" for n in range(7)]
    for sku in reversed(skus):
        assert (await put(api, f"/v1/items/{sku}", {"name": f"N {sku}"})).status_code == 201
    await api.post(f"/v1/items/{skus[3]}/deactivate", {"reason": "gone"})

    seen, after = [], None
    while True:
        params: dict[str, Any] = {"prefix": family, "limit": 3}
        if after:
            params["after"] = after
        page = await api.get("/v1/items", role="orders", **params)
        assert page.status_code == 200, page.text
        seen += [x["sku"] for x in page.json()["items"]]
        after = page.json()["next"]
        if after is None:
            break
    assert seen == skus  # every item once, in SKU order
    inactive = await api.get("/v1/items", prefix=family, active="false")
    assert [x["sku"] for x in inactive.json()["items"]] == [skus[3]]
    active = await api.get("/v1/items", prefix=family, active="true", limit=100)
    assert [x["sku"] for x in active.json()["items"]] == skus[:3] + skus[4:]
    assert active.json()["next"] is None


async def test_warehouses_are_listed_with_their_state(api: Api, ids: Any) -> None:
    family = ids("DEPOT")
    for n in range(3):
        await put(api, f"/v1/warehouses/{family}-{n}", {"name": f"Depot {n}"})
    await api.post(f"/v1/warehouses/{family}-1/deactivate", {"reason": "closed"})
    listed = await api.get("/v1/warehouses", role="auditor", prefix=family)
    assert listed.status_code == 200
    assert [(x["warehouseId"], x["active"]) for x in listed.json()["warehouses"]] == [
        (f"{family}-0", True),
        (f"{family}-1", False),
        (f"{family}-2", True),
    ]


async def test_an_item_and_a_warehouse_read_as_they_were_at_an_instant(api: Api, ids: Any) -> None:
    sku, wh = ids("SKU"), ids("WH")
    defined = (await put(api, f"/v1/items/{sku}", {"name": "Mug"})).json()
    defined_at = defined["events"][0]["recordedAt"]
    renamed = (await put(api, f"/v1/items/{sku}", {"name": "Big mug"})).json()
    renamed_at = renamed["events"][0]["recordedAt"]
    assert renamed_at > defined_at
    then = await api.get(f"/v1/items/{sku}", at=defined_at, role="orders")
    assert (then.status_code, then.json()["name"], then.json()["version"]) == (200, "Mug", 1)
    now = await api.get(f"/v1/items/{sku}", at=renamed_at)
    assert now.json()["name"] == "Big mug"
    before = await api.get(f"/v1/items/{sku}", at="2020-01-01T00:00:00Z")
    assert before.status_code == 404
    assert "by then" in before.json()["detail"]

    await put(api, f"/v1/warehouses/{wh}", {"name": "North"})
    closed = await api.post(f"/v1/warehouses/{wh}/deactivate", {"reason": "moved"})
    closed_at = closed.json()["events"][0]["recordedAt"]
    old = await api.get(f"/v1/warehouses/{wh}", at=defined_at)
    assert old.status_code == 404  # defined after that instant
    at_close = await api.get(f"/v1/warehouses/{wh}", at=closed_at)
    assert (at_close.json()["name"], at_close.json()["active"]) == ("North", False)
    bad = await api.get(f"/v1/items/{sku}", at="yesterday")
    assert bad.status_code == 422
