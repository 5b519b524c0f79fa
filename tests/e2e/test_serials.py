"""Serial-tracked stock over HTTP on a real Postgres: every unit by its serial number,
received, shipped, returned to the order it left on, moved and counted; a serial is in one
place of the whole ledger at most, whichever process writes it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Api, auth
from .processes import serving

pytestmark = pytest.mark.asyncio


async def serial_item(api: Api, sku: str) -> None:
    body = {"name": "Phone", "tracking": "serial"}
    response = await api.http.put(f"/v1/items/{sku}", json=body, headers=auth("warehouse"))
    assert response.status_code == 201, response.text


def receipt(sku: str, wh: str, serials: list[str], quantity: int | None = None) -> dict[str, Any]:
    return {
        "sku": sku,
        "warehouseId": wh,
        "quantity": len(serials) if quantity is None else quantity,
        "purchaseOrderId": "PO-1",
        "unitCost": "300.00",
        "supplier": "Acme",
        "serials": serials,
    }


async def version(api: Api, sku: str, wh: str) -> int:
    response = await api.get(f"/v1/stock/{sku}/{wh}", consistency="strong")
    return int(response.json()["version"]) if response.status_code == 200 else 0


async def test_serials_are_received_shipped_returned_and_moved_one_by_one(
    api: Api, ids: Any
) -> None:
    sku = ids("PHONE")
    await serial_item(api, sku)
    first = await api.post("/v1/receipts", receipt(sku, "WH-A", ["SN-1", "SN-2", "SN-3"]))
    assert first.status_code == 201, first.text
    assert first.json()["events"][0]["data"]["serials"] == ["SN-1", "SN-2", "SN-3"]

    again = await api.post("/v1/receipts", receipt(sku, "WH-B", ["SN-9", "SN-2"]))
    assert again.status_code == 409, again.text
    body = again.json()
    assert (body["type"], body["serial"], body["warehouseId"]) == (
        "/problems/serial-in-stock",
        "SN-2",
        "WH-A",
    )
    assert await version(api, sku, "WH-B") == 0  # nothing appended
    for bad in (receipt(sku, "WH-B", ["SN-7"], 2), receipt(sku, "WH-B", ["SN-7", "SN-7"])):
        refused = await api.post("/v1/receipts", bad)
        assert refused.status_code == 422, refused.text
    no_serials = await api.receive(sku, "WH-B", 1, expect=422)
    assert no_serials.json()["type"] == "/problems/serials-required"

    order = ids("O")
    held = await api.reserve(order, (sku, "WH-A", 2))
    assert held.status_code == 201, held.text
    shipment: dict[str, Any] = {
        "shipmentId": ids("S"),
        "orderId": order,
        "reservationId": held.json()["reservationId"],
        "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 2, "serials": ["SN-1", "SN-7"]}],
    }
    wrong = await api.post("/v1/shipments", shipment, role="orders")
    assert (wrong.status_code, wrong.json()["type"]) == (409, "/problems/serial-not-in-stock")
    shipment["lines"][0]["serials"] = ["SN-1", "SN-3"]
    shipped = await api.post("/v1/shipments", shipment, role="orders")
    assert shipped.status_code == 201, shipped.text

    def ret(order_id: str, serials: list[str]) -> dict[str, Any]:
        return {
            "returnId": ids("R"),
            "orderId": order_id,
            "sku": sku,
            "warehouseId": "WH-A",
            "quantity": len(serials),
            "reason": "defective",
            "condition": "resellable",
            "serials": serials,
        }

    for bad_return in (ret(order, ["SN-2"]), ret(ids("O"), ["SN-1"])):
        refused = await api.post("/v1/returns", bad_return, role="warehouse")
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == "/problems/not-shipped-on-order"
    back = await api.post("/v1/returns", ret(order, ["SN-3"]), role="warehouse")
    assert back.status_code == 201, back.text
    twice = await api.post("/v1/returns", ret(order, ["SN-3"]), role="warehouse")
    assert twice.status_code == 409  # it came back already

    # SN-1 left on the order: it may be received again (a refurbished unit, say)
    reborn = await api.post("/v1/receipts", receipt(sku, "WH-B", ["SN-1"]))
    assert reborn.status_code == 201, reborn.text

    tid = ids("T")
    move = {
        "transferId": tid,
        "sku": sku,
        "fromWarehouseId": "WH-A",
        "toWarehouseId": "WH-C",
        "quantity": 2,
        "serials": ["SN-2", "SN-3"],
    }
    assert (await api.post("/v1/transfers", move, role="warehouse")).status_code == 201
    in_transit = await api.post("/v1/receipts", receipt(sku, "WH-B", ["SN-3"]))
    assert in_transit.json()["serialStatus"] == "in_transit"
    arrived = await api.post(f"/v1/transfers/{tid}/receive", {"receivedSerials": ["SN-2"]})
    assert arrived.status_code == 201, arrived.text
    level = await api.stock(sku, "WH-C", consistency="strong")
    assert (level["onHand"], level["inTransit"]) == (1, 0)
    # SN-3 was lost in transit: it is nowhere, so it may turn up again
    found = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantityChange": 1,
        "reason": "system_correction",
        "notes": "found behind a shelf",
        "serials": ["SN-3"],
    }
    assert (await api.post("/v1/adjustments", found, role="warehouse")).status_code == 201

    count = {"sku": sku, "warehouseId": "WH-B", "countedQuantity": 1, "countedSerials": ["SN-8"]}
    counted = await api.post("/v1/counts", count, role="warehouse")
    assert counted.status_code == 201, counted.text
    adjustments = [e["data"] for e in counted.json()["events"] if e["type"] == "StockAdjusted"]
    assert [(x["quantityChange"], x["serials"]) for x in adjustments] == [
        (-1, ["SN-1"]),
        (1, ["SN-8"]),
    ]


async def test_two_processes_racing_to_receive_one_serial_in_two_warehouses_one_wins(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    with serving(database_url, tmp_path, 2, "--no-expiry") as servers:
        async with httpx.AsyncClient(timeout=30) as http:
            sku = ids("LAPTOP")
            defined = await http.put(
                f"{servers[0].url}/v1/items/{sku}",
                json={"name": "Laptop", "tracking": "serial"},
                headers=auth("warehouse"),
            )
            assert defined.status_code == 201, defined.text
            for n in range(20):
                serial = f"SN-{n}"
                answers = await asyncio.gather(
                    *(
                        http.post(
                            f"{served.url}/v1/receipts",
                            json=receipt(sku, wh, [serial]),
                            headers=auth("warehouse"),
                        )
                        for served, wh in zip(servers, ("WH-A", "WH-B"), strict=True)
                    )
                )
                statuses = sorted(a.status_code for a in answers)
                assert statuses == [201, 409], [a.text for a in answers]
                winner = next(a for a in answers if a.status_code == 201)
                loser = next(a for a in answers if a.status_code == 409).json()
                assert loser["type"] == "/problems/serial-in-stock"
                assert (loser["serial"], loser["warehouseId"]) == (
                    serial,
                    winner.json()["events"][0]["data"]["warehouseId"],
                )
            levels = [
                (
                    await http.get(
                        f"{servers[0].url}/v1/stock/{sku}/{wh}",
                        params={"consistency": "strong"},
                        headers=auth("warehouse"),
                    )
                ).json()
                for wh in ("WH-A", "WH-B")
            ]
            assert sum(x.get("onHand", 0) for x in levels) == 20  # each serial once, somewhere


async def test_a_serials_page_says_where_it_is_and_what_moved_it(api: Api, ids: Any) -> None:
    sku = ids("TABLET")
    await serial_item(api, sku)
    assert (await api.post("/v1/receipts", receipt(sku, "WH-A", ["T-1", "T-2"]))).status_code == 201
    order = ids("O")
    line = {"sku": sku, "warehouseId": "WH-A", "quantity": 1, "serials": ["T-1"]}
    shipped = await api.post(
        "/v1/shipments", {"shipmentId": ids("S"), "orderId": order, "lines": [line]}
    )
    assert shipped.status_code == 201, shipped.text

    gone = (await api.get(f"/v1/serials/{sku}/T-1", role="auditor")).json()
    assert (gone["status"], gone.get("orderId")) == ("shipped", order), gone
    assert [e["type"] for e in gone["events"]] == ["StockReceived", "StockShipped"]
    here = (await api.get(f"/v1/serials/{sku}/T-2", role="warehouse")).json()
    assert (here["status"], here["warehouseId"]) == ("in_stock", "WH-A")
    assert (await api.get(f"/v1/serials/{sku}/T-9", role="auditor")).status_code == 404
