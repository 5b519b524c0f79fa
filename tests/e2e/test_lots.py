"""Lot-tracked stock over HTTP on a real Postgres: lots with expiry dates received, reserved
first-expired-first-out, shipped, returned against what shipped on the order, adjusted and
counted per lot; every refusal appends nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockledger.projections.drift.report import DriftReport
from stockledger.projections.drift.stock import StockFold
from stockledger.store.db import create_pool

from .conftest import Api, auth
from .processes import serving

pytestmark = pytest.mark.asyncio


def day(offset: int) -> str:
    """A UTC date `offset` days from today."""
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


async def lot_item(api: Api, sku: str) -> None:
    body = {"name": "Yoghurt", "tracking": "lot"}
    response = await api.http.put(f"/v1/items/{sku}", json=body, headers=auth("warehouse"))
    assert response.status_code == 201, response.text
    assert response.json()["tracking"] == "lot"


async def lots_of(api: Api, sku: str, wh: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/stock/{sku}/{wh}/lots", role="warehouse", **params)
    assert response.status_code == 200, response.text
    lots: list[dict[str, Any]] = response.json()["lots"]
    return lots


async def version(api: Api, sku: str, wh: str) -> int:
    return int((await api.stock(sku, wh, consistency="strong"))["version"])


async def test_reservations_take_the_earliest_expiring_lot_first_and_ship_it(
    api: Api, ids: Any
) -> None:
    sku = ids("YOG")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 5, lotId="L-LATE", expiresOn=day(30))
    await api.receive(sku, "WH-A", 4, lotId="L-NONE")  # no expiry date: allocated last
    await api.receive(sku, "WH-A", 3, lotId="L-SOON", expiresOn=day(3))
    await api.receive(sku, "WH-A", 2, lotId="L-SOON", expiresOn=day(3))  # adds to the lot

    listed = await lots_of(api, sku, "WH-A")
    assert [(x["lotId"], x["onHand"], x["expiresOn"]) for x in listed] == [
        ("L-SOON", 5, day(3)),
        ("L-LATE", 5, day(30)),
        ("L-NONE", 4, None),
    ]

    order = ids("O")
    held = await api.reserve(order, (sku, "WH-A", 7))
    assert held.status_code == 201, held.text
    [line] = held.json()["lines"]
    assert line["lots"] == [
        {"lotId": "L-SOON", "quantity": 5, "expiresOn": day(3)},
        {"lotId": "L-LATE", "quantity": 2, "expiresOn": day(30)},
    ]
    reserved = [e for e in held.json()["events"] if e["streamId"].startswith("stock:")]
    assert reserved[0]["schemaVersion"] == 2
    assert reserved[0]["data"]["lines"][0]["lots"] == line["lots"]
    by_lot = {x["lotId"]: (x["reserved"], x["available"]) for x in await lots_of(api, sku, "WH-A")}
    assert by_lot == {"L-SOON": (5, 0), "L-LATE": (2, 3), "L-NONE": (0, 4)}

    shipment = {
        "shipmentId": ids("S"),
        "orderId": order,
        "reservationId": held.json()["reservationId"],
    }
    shipped = await api.post("/v1/shipments", shipment, role="orders")
    assert shipped.status_code == 201, shipped.text
    [stock_event] = [e for e in shipped.json()["events"] if e["streamId"].startswith("stock:")]
    assert stock_event["data"]["lines"][0]["lots"] == line["lots"]
    after = await lots_of(api, sku, "WH-A")
    assert [(x["lotId"], x["onHand"], x["reserved"]) for x in after] == [
        ("L-LATE", 3, 0),  # L-SOON shipped whole and holds nothing: left out
        ("L-NONE", 4, 0),
    ]
    level = await api.stock(sku, "WH-A", consistency="strong")
    assert (level["onHand"], level["reserved"]) == (7, 0)  # Σ lots = the stream's counts


async def test_a_line_may_name_its_lot_or_a_minimum_expiry_and_a_release_frees_the_lots(
    api: Api, ids: Any
) -> None:
    sku = ids("MILK")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 4, lotId="L1", expiresOn=day(2))
    await api.receive(sku, "WH-A", 4, lotId="L2", expiresOn=day(9))
    body = {
        "orderId": ids("O"),
        "lines": [
            {"sku": sku, "warehouseId": "WH-A", "quantity": 1, "lotId": "L2"},
            {"sku": sku, "warehouseId": "WH-A", "quantity": 3, "minExpiresOn": day(5)},
        ],
    }
    held = await api.post("/v1/reservations", body, role="orders")
    assert held.status_code == 201, held.text
    assert held.json()["lines"][0]["lots"] == [{"lotId": "L2", "quantity": 4, "expiresOn": day(9)}]

    before = await version(api, sku, "WH-A")
    body["lines"] = [{"sku": sku, "warehouseId": "WH-A", "quantity": 1, "minExpiresOn": day(5)}]
    short = await api.post("/v1/reservations", body | {"orderId": ids("O")}, role="orders")
    assert short.status_code == 409, short.text  # L2 is all held, L1 expires too soon
    assert short.json()["type"] == "/problems/insufficient-stock"
    assert short.json()["lines"] == [
        {"sku": sku, "warehouseId": "WH-A", "requested": 1, "available": 0}
    ]
    assert await version(api, sku, "WH-A") == before  # nothing appended

    rid = held.json()["reservationId"]
    released = await api.post(f"/v1/reservations/{rid}/release", {}, role="orders")
    assert released.status_code == 201, released.text
    assert {x["lotId"]: x["reserved"] for x in await lots_of(api, sku, "WH-A")} == {
        "L1": 0,
        "L2": 0,
    }


async def test_lot_refusals_append_nothing(api: Api, ids: Any) -> None:
    sku = ids("CHEESE")
    await lot_item(api, sku)
    missing = await api.receive(sku, "WH-A", 2, expect=422)
    assert missing.json()["type"] == "/problems/lot-required"
    await api.receive(sku, "WH-A", 2, lotId="L1", expiresOn=day(20))
    before = await version(api, sku, "WH-A")
    mismatch = await api.receive(sku, "WH-A", 2, expect=409, lotId="L1", expiresOn=day(21))
    assert mismatch.json()["type"] == "/problems/lot-expiry-mismatch"
    assert mismatch.json()["expiresOn"] == day(20)
    adjust = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantityChange": -1,
        "reason": "damage",
        "notes": "x",
    }
    no_lot = await api.post("/v1/adjustments", adjust, role="warehouse")
    assert (no_lot.status_code, no_lot.json()["type"]) == (422, "/problems/lot-required")
    too_many = await api.post("/v1/adjustments", adjust | {"quantityChange": -3, "lotId": "L1"})
    assert too_many.json()["type"] == "/problems/insufficient-stock"
    assert await version(api, sku, "WH-A") == before

    relocked = await api.http.put(
        f"/v1/items/{sku}", json={"name": "Yoghurt", "tracking": "none"}, headers=auth("admin")
    )
    assert relocked.status_code == 409, relocked.text
    assert (relocked.json()["type"], relocked.json()["tracking"]) == (
        "/problems/tracking-locked",
        "lot",
    )

    plain = ids("PLAIN")
    untracked = await api.receive(plain, "WH-A", 1, expect=409, lotId="L1")
    assert untracked.json()["type"] == "/problems/conflict"  # the item is not tracked by lot


async def test_returns_go_back_into_the_lot_only_as_far_as_it_shipped_on_that_order(
    api: Api, ids: Any
) -> None:
    sku = ids("JAM")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 5, lotId="L1", expiresOn=day(40))
    await api.receive(sku, "WH-A", 5, lotId="L2", expiresOn=day(50))
    order, other = ids("O"), ids("O")
    lines = [{"sku": sku, "warehouseId": "WH-A", "quantity": 3}]
    shipped = await api.post(
        "/v1/shipments", {"shipmentId": ids("S"), "orderId": order, "lines": lines}
    )
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["events"][0]["data"]["lines"][0]["lots"] == [
        {"lotId": "L1", "quantity": 3, "expiresOn": day(40)}
    ]

    def ret(order_id: str, lot: str | None, quantity: int) -> dict[str, Any]:
        body = {
            "returnId": ids("R"),
            "orderId": order_id,
            "sku": sku,
            "warehouseId": "WH-A",
            "quantity": quantity,
            "reason": "customer_changed_mind",
            "condition": "resellable",
        }
        return body | ({"lotId": lot} if lot else {})

    before = await version(api, sku, "WH-A")
    for body in (ret(order, "L2", 1), ret(other, "L1", 1), ret(order, "L1", 4)):
        refused = await api.post("/v1/returns", body, role="warehouse")
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == "/problems/not-shipped-on-order"
    no_lot = await api.post("/v1/returns", ret(order, None, 1), role="warehouse")
    assert (no_lot.status_code, no_lot.json()["type"]) == (422, "/problems/lot-required")
    assert await version(api, sku, "WH-A") == before

    back = await api.post("/v1/returns", ret(order, "L1", 2), role="warehouse")
    assert back.status_code == 201, back.text
    assert back.json()["events"][0]["data"]["lotId"] == "L1"
    again = await api.post("/v1/returns", ret(order, "L1", 2), role="warehouse")
    assert again.status_code == 409  # 3 shipped, 2 back: only 1 more may come back
    assert {x["lotId"]: x["onHand"] for x in await lots_of(api, sku, "WH-A")} == {"L1": 4, "L2": 5}


async def test_counts_and_adjustments_name_their_lot_and_lots_travel_in_time(
    api: Api, ids: Any
) -> None:
    sku = ids("HONEY")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 6, lotId="L1", expiresOn=day(60))
    first = await lots_of(api, sku, "WH-A")
    at = first[0]["firstReceivedAt"]
    count = {"sku": sku, "warehouseId": "WH-A", "countedQuantity": 4, "lotId": "L1"}
    counted = await api.post("/v1/counts", count, role="warehouse")
    assert counted.status_code == 201, counted.text
    adjusted = counted.json()["events"][1]["data"]
    assert (adjusted["lotId"], adjusted["previousQuantity"], adjusted["newQuantity"]) == (
        "L1",
        6,
        4,
    )
    found = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantityChange": 2,
        "reason": "system_correction",
        "notes": "found",
        "lotId": "L9",
    }
    assert (await api.post("/v1/adjustments", found, role="warehouse")).status_code == 201
    assert {x["lotId"]: x["onHand"] for x in await lots_of(api, sku, "WH-A")} == {"L1": 4, "L9": 2}
    assert (await api.stock(sku, "WH-A", consistency="strong"))["onHand"] == 6
    then = await lots_of(api, sku, "WH-A", at=at)
    assert [(x["lotId"], x["onHand"]) for x in then] == [("L1", 6)]


async def test_a_transfer_carries_its_lots_and_their_expiry_and_a_shortfall_is_lost(
    api: Api, ids: Any
) -> None:
    sku = ids("BREAD")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 3, lotId="L-OLD", expiresOn=day(5))
    await api.receive(sku, "WH-A", 4, lotId="L-NEW", expiresOn=day(12))
    transfer = {"sku": sku, "fromWarehouseId": "WH-A", "toWarehouseId": "WH-B", "quantity": 5}
    tid = ids("T")
    sent = await api.post("/v1/transfers", transfer | {"transferId": tid}, role="warehouse")
    assert sent.status_code == 201, sent.text
    assert sent.json()["events"][0]["data"]["lots"] == [
        {"lotId": "L-OLD", "quantity": 3, "expiresOn": day(5)},
        {"lotId": "L-NEW", "quantity": 2, "expiresOn": day(12)},
    ]
    assert [(x["lotId"], x["onHand"]) for x in await lots_of(api, sku, "WH-A")] == [("L-NEW", 2)]

    arrived = await api.post(f"/v1/transfers/{tid}/receive", {"receivedQuantity": 4})
    assert arrived.status_code == 201, arrived.text
    there = await lots_of(api, sku, "WH-B")
    assert [(x["lotId"], x["onHand"], x["expiresOn"]) for x in there] == [
        ("L-OLD", 3, day(5)),
        ("L-NEW", 1, day(12)),  # one unit lost in transit
    ]
    named = transfer | {"transferId": ids("T"), "quantity": 3, "lotId": "L-NEW"}
    short = await api.post("/v1/transfers", named, role="warehouse")
    assert short.status_code == 409, short.text  # only 2 of L-NEW left in WH-A
    assert short.json()["type"] == "/problems/insufficient-stock"


async def wait_for(check: Any, seconds: float = 30.0) -> Any:
    """Poll `check()` until it returns something truthy or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)  # polling the condition above


async def test_a_lot_past_its_date_expires_its_unreserved_units_and_is_written_off(
    api: Api, ids: Any
) -> None:
    sku = ids("FISH")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 6, lotId="L-OK", expiresOn=day(10))
    await api.receive(sku, "WH-A", 5, lotId="L-OLD", expiresOn=day(1))
    order = ids("O")
    body = {
        "orderId": order,
        "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 2, "lotId": "L-OLD"}],
    }
    assert (await api.post("/v1/reservations", body, role="orders")).status_code == 201
    # received already expired (its date is today): the worker expires it within the minute
    await api.receive(sku, "WH-A", 4, lotId="L-GONE", expiresOn=day(0))

    async def expired() -> dict[str, Any] | None:
        level = await api.stock(sku, "WH-A", consistency="strong")
        return level if level["expired"] == 4 else None

    level = await wait_for(expired)
    assert (level["onHand"], level["reserved"], level["available"]) == (11, 2, 9)
    history = await api.get(f"/v1/stock/{sku}/WH-A/history", types="LotExpired")
    [event] = history.json()["events"]
    assert event["data"] == {
        "sku": sku,
        "warehouseId": "WH-A",
        "lotId": "L-GONE",
        "expiresOn": day(0),
        "quantity": 4,
    }
    lots = {x["lotId"]: x for x in await lots_of(api, sku, "WH-A")}
    assert (lots["L-GONE"]["onHand"], lots["L-GONE"]["expired"]) == (0, 4)
    late = body | {"orderId": ids("O")}
    late["lines"] = [{"sku": sku, "warehouseId": "WH-A", "quantity": 1, "lotId": "L-GONE"}]
    assert (await api.post("/v1/reservations", late, role="orders")).status_code == 409

    write_off = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantityChange": -4,
        "reason": "expiry",
        "notes": "binned",
        "lotId": "L-GONE",
    }
    too_many = await api.post("/v1/adjustments", write_off | {"quantityChange": -5})
    assert too_many.status_code == 409, too_many.text
    binned = await api.post("/v1/adjustments", write_off, role="warehouse")
    assert binned.status_code == 201, binned.text
    level = await api.stock(sku, "WH-A", consistency="strong")
    assert (level["onHand"], level["expired"]) == (11, 0)
    assert "L-GONE" not in {x["lotId"] for x in await lots_of(api, sku, "WH-A")}


async def test_a_recall_names_every_order_the_lot_went_to_and_where_the_rest_is(
    api: Api, ids: Any, database_url: str, tmp_path: Path
) -> None:
    sku = ids("SALAD")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 10, lotId="L-4471", expiresOn=day(20), supplier="Greens Co")
    await api.receive(sku, "WH-B", 4, lotId="L-4471", expiresOn=day(20), supplier="Greens Co")
    await api.receive(sku, "WH-A", 5, lotId="L-OTHER", expiresOn=day(30))
    orders = [ids("O") for _ in range(3)]
    for order in orders:
        lines = [{"sku": sku, "warehouseId": "WH-A", "quantity": 2}]
        body = {"shipmentId": ids("S"), "orderId": order, "lines": lines}
        assert (await api.post("/v1/shipments", body)).status_code == 201
    back = {
        "returnId": ids("R"),
        "orderId": orders[0],
        "sku": sku,
        "warehouseId": "WH-A",
        "quantity": 1,
        "reason": "defective",
        "condition": "damaged",
        "lotId": "L-4471",
    }
    assert (await api.post("/v1/returns", back)).status_code == 201
    tid = ids("T")
    move = {"transferId": tid, "sku": sku, "fromWarehouseId": "WH-A", "toWarehouseId": "WH-C"}
    assert (await api.post("/v1/transfers", move | {"quantity": 3})).status_code == 201
    assert (
        await api.post(f"/v1/transfers/{tid}/receive", {"receivedQuantity": 2})
    ).status_code == 201
    held = await api.reserve(ids("O"), (sku, "WH-B", 1))
    assert held.status_code == 201, held.text

    response = await api.get(f"/v1/lots/{sku}/L-4471/trail", role="auditor")
    assert response.status_code == 200, response.text
    recall = response.json()
    assert recall["balanced"] is True
    assert recall["expiresOn"] == day(20)
    assert sorted(x["orderId"] for x in recall["shipped"]) == sorted(orders)
    assert [(x["warehouseId"], x["quantity"], x["supplier"]) for x in recall["received"]] == [
        ("WH-A", 10, "Greens Co"),
        ("WH-B", 4, "Greens Co"),
    ]
    assert recall["now"] == [
        {"warehouseId": "WH-A", "onHand": 1, "reserved": 0, "inTransit": 0, "expired": 0},
        {"warehouseId": "WH-B", "onHand": 4, "reserved": 1, "inTransit": 0, "expired": 0},
        {"warehouseId": "WH-C", "onHand": 2, "reserved": 0, "inTransit": 0, "expired": 0},
    ]
    assert [x["quantity"] for x in recall["openReservations"]] == [1]
    assert all("L-OTHER" not in str(e["data"].get("lotId")) for e in recall["events"])
    assert response.headers["X-As-Of-Position"] == str(recall["asOfPosition"])

    as_csv = await api.http.get(
        f"/v1/lots/{sku}/L-4471/trail", headers={**auth("auditor"), "Accept": "text/csv"}
    )
    assert as_csv.status_code == 200, as_csv.text
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    kinds = [r["movement"] for r in rows]
    assert kinds.count("shipped") == 3
    assert kinds.count("received") == 2
    assert tuple(k for k in kinds if k.startswith(("transferred", "lost"))) == (
        "transferred_out",
        "transferred_in",
        "lost_in_transit",
    )
    # the same spreadsheet from a terminal
    out = tmp_path / "recall.csv"
    env = {**os.environ, "STOCKLEDGER_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "stockledger.cli", "recall", sku, "L-4471", "-o", str(out)]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    assert list(csv.DictReader(io.StringIO(out.read_text()))) == rows
    missing = await api.get(f"/v1/lots/{sku}/L-NONE/trail", role="auditor")
    assert missing.status_code == 404
    assert (await api.get(f"/v1/lots/{sku}/L-4471/trail", role="orders")).status_code == 403


async def test_the_expiring_list_orders_lots_by_date_and_pages(api: Api, ids: Any) -> None:
    sku, wh = ids("EGGS"), ids("WH")
    await lot_item(api, sku)
    for lot, days in (("L3", 9), ("L1", 2), ("L2", 5), ("L4", 40)):
        await api.receive(sku, wh, 2, lotId=lot, expiresOn=day(days))
    first = await api.get(
        "/v1/lots", role="warehouse", warehouseId=wh, limit=2, expiresBefore=day(30)
    )
    assert first.status_code == 200, first.text
    assert [x["lotId"] for x in first.json()["lots"]] == ["L1", "L2"]
    rest = await api.get(
        "/v1/lots",
        role="warehouse",
        warehouseId=wh,
        after=first.json()["next"],
        expiresBefore=day(30),
    )
    assert [x["lotId"] for x in rest.json()["lots"]] == ["L3"]
    assert rest.json()["next"] is None
    as_csv = await api.http.get(
        "/v1/lots", params={"sku": sku}, headers={**auth("auditor"), "Accept": "text/csv"}
    )
    lines = as_csv.text.splitlines()
    assert lines[0].startswith("expiresOn,sku,warehouseId,lotId")
    assert [line.split(",")[3] for line in lines[1:]] == ["L1", "L2", "L3", "L4"]


async def test_verify_finds_the_lots_summing_to_the_levels_at_every_version(
    api: Api, ids: Any, database_url: str
) -> None:
    sku, phone = ids("PEAS"), ids("PHONE")
    await lot_item(api, sku)
    await api.receive(sku, "WH-A", 8, lotId="L1", expiresOn=day(3))
    await api.receive(sku, "WH-A", 8, lotId="L2", expiresOn=day(6))
    held = await api.reserve(ids("O"), (sku, "WH-A", 10))
    rid = held.json()["reservationId"]
    order = held.json()["orderId"]
    shipped = await api.post(
        "/v1/shipments", {"shipmentId": ids("S"), "orderId": order, "reservationId": rid}
    )
    assert shipped.status_code == 201, shipped.text
    body = {"name": "Phone", "tracking": "serial"}
    await api.http.put(f"/v1/items/{phone}", json=body, headers=auth("warehouse"))
    await api.receive(phone, "WH-A", 3, serials=["A", "B", "C"])
    move = {
        "transferId": ids("T"),
        "sku": phone,
        "fromWarehouseId": "WH-A",
        "toWarehouseId": "WH-B",
    }
    assert (
        await api.post("/v1/transfers", move | {"quantity": 1, "serials": ["B"]})
    ).status_code == 201

    # verify's fold of stock streams (projections/drift/stock.py), on these streams only: the
    # shared database holds other tests' deliberately broken events
    report = DriftReport()
    fold = StockFold(report, {})
    pool = await create_pool(database_url)
    try:
        for stream in (f"stock:{sku}:WH-A", f"stock:{phone}:WH-A", f"stock:{phone}:WH-B"):
            rows = await pool.fetch(
                "SELECT stream_id, version, type, schema_version, data, recorded_at, d_on_hand, "
                "d_reserved, d_in_transit, d_damaged, d_incoming, d_quality_control, d_expired "
                "FROM events WHERE stream_id = $1 ORDER BY version",
                stream,
            )
            assert rows
            fold.stock(stream, list(rows))
    finally:
        await pool.close()
    fold.finish()
    checked = [f for f in report.findings if f.check != "stock values"]  # (read by find_drift)
    assert checked == []
    report.findings.clear()
    # and it does find a stream whose lots do not add up
    broken = [dict(r) for r in rows]
    broken[0]["data"] = {**broken[0]["data"], "serials": ["A", "B"]}
    fold.stock(f"stock:{phone}:WH-B", broken)
    found = [f.subject for f in report.findings if f.check == "serials"]
    assert f"stock:{phone}:WH-B@1" in found  # two serials in transit, one unit


async def test_four_processes_racing_for_the_earliest_lot_never_oversell_it_and_keep_fefo(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    sku, wh = ids("MILK"), "WH-A"
    with serving(database_url, tmp_path, 4, "--no-expiry") as servers:
        clients = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in servers]
        try:
            defined = await clients[0].put(
                f"/v1/items/{sku}",
                json={"name": "Milk", "tracking": "lot"},
                headers=auth("warehouse"),
            )
            assert defined.status_code == 201, defined.text
            for lot, quantity, days in (("L-SOON", 30, 2), ("L-LATER", 30, 9)):
                body = {
                    "sku": sku,
                    "warehouseId": wh,
                    "quantity": quantity,
                    "purchaseOrderId": "PO-1",
                    "unitCost": "1.00",
                    "supplier": "Dairy",
                    "lotId": lot,
                    "expiresOn": day(days),
                }
                response = await clients[0].post(
                    "/v1/receipts", json=body, headers=auth("warehouse")
                )
                assert response.status_code == 201, response.text

            async def reserve(n: int) -> httpx.Response:
                line = {"sku": sku, "warehouseId": wh, "quantity": 1 + n % 2}
                body = {"orderId": ids("O"), "lines": [line]}
                return await clients[n % 4].post(
                    "/v1/reservations", json=body, headers=auth("orders")
                )

            answers = await asyncio.gather(*(reserve(n) for n in range(60)))
            held = [a.json() for a in answers if a.status_code == 201]
            refused = [a for a in answers if a.status_code != 201]
            assert all(a.status_code == 409 for a in refused), [a.text for a in refused]
            taken: dict[str, int] = {}
            for reservation in held:
                for lot in reservation["lines"][0]["lots"]:
                    taken[lot["lotId"]] = taken.get(lot["lotId"], 0) + lot["quantity"]
            assert (
                sum(taken.values()) == 60 == sum(r["lines"][0]["quantity"] for r in held)
            )  # 60 units, 90 asked for: sold out exactly
            assert taken == {"L-SOON": 30, "L-LATER": 30}
            # FEFO across processes: no reservation took L-LATER while L-SOON had units left
            ordered = sorted(held, key=lambda r: min(e["position"] for e in r["events"]))
            later_seen = False
            for reservation in ordered:
                lots = [x["lotId"] for x in reservation["lines"][0]["lots"]]
                if later_seen:
                    assert lots == ["L-LATER"], lots
                later_seen = later_seen or "L-LATER" in lots
            response = await clients[1].get(f"/v1/stock/{sku}/{wh}/lots", headers=auth("warehouse"))
            listed = {x["lotId"]: x for x in response.json()["lots"]}
            assert [(x["reserved"], x["available"]) for x in listed.values()] == [(30, 0), (30, 0)]
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))


async def test_a_lot_received_for_inspection_waits_in_quality_control_until_inspected(
    api: Api, ids: Any
) -> None:
    sku = ids("MILK")
    await lot_item(api, sku)
    held = await api.receive(sku, "WH-A", 6, lotId="L1", expiresOn=day(3), inspect=True)
    assert held.status_code == 201, held.text
    await api.receive(sku, "WH-A", 2, lotId="L2", expiresOn=day(6))
    [first, _] = await lots_of(api, sku, "WH-A")
    assert (first["lotId"], first["onHand"], first["available"]) == ("L1", 6, 0)
    listed = await api.get("/v1/lots", role="warehouse", sku=sku)
    assert [(x["lotId"], x["available"]) for x in listed.json()["lots"]] == [("L1", 0), ("L2", 2)]
    reserved = await api.reserve(ids("O"), (sku, "WH-A", 2))  # FEFO passes over L1 for now
    assert [x["lotId"] for x in reserved.json()["lines"][0]["lots"]] == ["L2"]

    body = {"inspectionId": ids("INS"), "sku": sku, "warehouseId": "WH-A", "accepted": 5,
            "rejected": 1}  # fmt: skip
    missing = await api.post("/v1/inspections", body, "warehouse")
    assert (missing.status_code, missing.json()["type"]) == (422, "/problems/lot-required")
    wrong = await api.post("/v1/inspections", body | {"lotId": "L2"}, "warehouse")
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["type"] == "/problems/insufficient-quality-control"
    done = await api.post("/v1/inspections", body | {"lotId": "L1"}, "warehouse")
    assert done.status_code == 201, done.text
    [first, _] = await lots_of(api, sku, "WH-A")
    assert (first["lotId"], first["onHand"], first["available"]) == ("L1", 5, 5)
    level = (await api.get(f"/v1/stock/{sku}/WH-A")).json()
    assert (level["onHand"], level["damaged"], level["qualityControl"]) == (7, 1, 0)
