"""Finance asks what the stock was worth at an instant and what the goods shipped cost: the
worked examples of the valuation rules through the HTTP API, each figure on its event."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from stockledger.reports.tables import encode_cursor

from ..support import run_cli
from . import past_ledger
from .conftest import Api, auth

pytestmark = pytest.mark.asyncio


async def _receive(api: Api, sku: str, wh: str, qty: int, cost: str) -> dict[str, Any]:
    response = await api.receive(sku, wh, qty, unitCost=cost)
    event: dict[str, Any] = response.json()["events"][0]
    return event


async def _ship(api: Api, sku: str, wh: str, qty: int, order: str = "ORDER-1") -> dict[str, Any]:
    body = {
        "shipmentId": f"SHIP-{order}-{sku}-{wh}-{qty}",
        "orderId": order,
        "lines": [{"sku": sku, "warehouseId": wh, "quantity": qty}],
    }
    response = await api.post("/v1/shipments", body)
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()["events"][0]
    return event


async def _valuation(api: Api, sku: str, wh: str, **params: Any) -> dict[str, Any]:
    response = await api.get(f"/v1/valuation/{sku}/{wh}", role="warehouse", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(api: Api, pool: Any, path: str, **params: Any) -> httpx.Response:
    """The report once its asOfPosition can include every event written so far (the commit
    horizon has passed them)."""
    written = await pool.fetchval("SELECT max(position) FROM events")
    await past_ledger.settled(pool, written)
    response = await api.get(path, **params)
    assert response.status_code == 200, response.text
    assert response.json()["asOfPosition"] >= written
    return response


async def _cogs(api: Api, pool: Any, sku: str, since: datetime) -> dict[str, Any]:
    until = datetime.now(UTC) + timedelta(seconds=5)
    response = await settled(
        api,
        pool,
        "/v1/reports/cogs",
        role="auditor",
        sku=sku,
        **{"from": since.isoformat()},
        to=until.isoformat(),
    )
    body: dict[str, Any] = response.json()
    return body


async def test_fifo_ships_the_oldest_layers_first_and_records_their_cost(
    api: Api, ids: Any, pool: Any
) -> None:
    sku, started = ids("SKU"), datetime.now(UTC)
    first = await _receive(api, sku, "WH-A", 10, "2.00")
    assert (first["schemaVersion"], first["data"]["valuationMethod"]) == (3, "fifo")
    await _receive(api, sku, "WH-A", 10, "3.00")
    shipped = await _ship(api, sku, "WH-A", 15)
    assert shipped["schemaVersion"] == 3
    assert Decimal(shipped["data"]["lines"][0]["cost"]) == Decimal("35.00")
    now = await _valuation(api, sku, "WH-A")
    assert (now["method"], now["onHand"], now["value"], now["unitCost"]) == (
        "fifo",
        5,
        "15.0000",
        "3.0000",
    )
    assert [(x["quantity"], x["unitCost"]) for x in now["layers"]] == [(5, "3.0000")]
    cogs = await _cogs(api, pool, sku, started)
    assert [(r["unitsShipped"], r["costOfGoodsSold"]) for r in cogs["rows"]] == [(15, "35.0000")]
    assert cogs["totals"]["costOfGoodsSold"] == "35.0000"


async def test_moving_average_ships_at_the_average(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    item = {"name": "Average widget", "valuationMethod": "moving_average"}
    assert (await api.http.put(f"/v1/items/{sku}", json=item, headers=_admin())).status_code == 201
    await _receive(api, sku, "WH-A", 10, "2.00")
    await _receive(api, sku, "WH-A", 10, "4.00")
    shipped = await _ship(api, sku, "WH-A", 5)
    assert Decimal(shipped["data"]["lines"][0]["cost"]) == Decimal("15.00")
    now = await _valuation(api, sku, "WH-A")
    assert (now["method"], now["onHand"], now["value"], now["unitCost"], now["layers"]) == (
        "moving_average",
        15,
        "45.0000",
        "3.0000",
        [],
    )


async def test_the_value_as_of_an_instant_between_two_receipts(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    first = await _receive(api, sku, "WH-A", 10, "2.00")
    second = await _receive(api, sku, "WH-A", 4, "5.00")
    assert second["recordedAt"] > first["recordedAt"]
    between = (
        datetime.fromisoformat(first["recordedAt"])
        + (
            datetime.fromisoformat(second["recordedAt"])
            - datetime.fromisoformat(first["recordedAt"])
        )
        / 2
    )
    then = await _valuation(api, sku, "WH-A", at=between.isoformat())
    assert (then["onHand"], then["value"]) == (10, "20.0000")
    now = await _valuation(api, sku, "WH-A", at=second["recordedAt"])
    assert (now["onHand"], now["value"]) == (14, "40.0000")
    before = await api.get(
        f"/v1/valuation/{sku}/WH-A",
        at=(datetime.fromisoformat(first["recordedAt"]) - timedelta(seconds=1)).isoformat(),
    )
    assert before.status_code == 404
    assert before.headers["content-type"].startswith("application/problem+json")


async def test_a_transfer_carries_its_layers_and_a_shortfall_is_lost_at_cost(
    api: Api, ids: Any, pool: Any
) -> None:
    sku, transfer, started = ids("SKU"), ids("TR"), datetime.now(UTC)
    await _receive(api, sku, "WH-A", 4, "1.00")
    await _receive(api, sku, "WH-A", 6, "2.00")
    body = {
        "transferId": transfer,
        "sku": sku,
        "fromWarehouseId": "WH-A",
        "toWarehouseId": "WH-B",
        "quantity": 6,
    }
    sent = await api.post("/v1/transfers", body, role="warehouse")
    assert sent.status_code == 201, sent.text
    dispatched = sent.json()["events"][0]["data"]
    assert Decimal(dispatched["cost"]) == Decimal("8.00")  # 4 @ 1 + 2 @ 2
    assert [(x["quantity"], Decimal(x["unitCost"])) for x in dispatched["layers"]] == [
        (4, Decimal("1")),
        (2, Decimal("2")),
    ]
    on_the_way = await _valuation(api, sku, "WH-B")
    assert (on_the_way["inTransit"], on_the_way["inTransitValue"], on_the_way["value"]) == (
        6,
        "8.0000",
        "0.0000",
    )
    source = await _valuation(api, sku, "WH-A")
    assert (source["onHand"], source["value"]) == (4, "8.0000")
    arrived = await api.post(
        f"/v1/transfers/{transfer}/receive", {"receivedQuantity": 5}, role="warehouse"
    )
    assert arrived.status_code == 201, arrived.text
    data = arrived.json()["events"][0]["data"]
    assert (Decimal(data["cost"]), Decimal(data["lostCost"])) == (Decimal("6"), Decimal("2"))
    there = await _valuation(api, sku, "WH-B")
    assert (there["onHand"], there["value"], there["inTransitValue"]) == (5, "6.0000", "0.0000")
    # FIFO layers keep their receipt order and times across the transfer
    assert [x["quantity"] for x in there["layers"]] == [4, 1]
    cogs = await _cogs(api, pool, sku, started)
    assert cogs["totals"]["losses"]["lost_in_transit"] == "2.0000"


async def test_returns_come_back_at_the_cost_their_order_left_with(api: Api, ids: Any) -> None:
    sku, order = ids("SKU"), ids("ORDER")
    await _receive(api, sku, "WH-A", 5, "2.00")
    await _ship(api, sku, "WH-A", 5, order)  # left at 2.00
    await _receive(api, sku, "WH-A", 5, "7.00")
    for condition, qty, rid in (
        ("resellable", 2, "R1"),
        ("damaged", 1, "R2"),
        ("dispose", 1, "R3"),
    ):
        body = {
            "returnId": f"{rid}-{sku}",
            "orderId": order,
            "sku": sku,
            "warehouseId": "WH-A",
            "quantity": qty,
            "reason": "defective",
            "condition": condition,
        }
        returned = await api.post("/v1/returns", body, role="warehouse")
        assert returned.status_code == 201, returned.text
        assert Decimal(returned.json()["events"][0]["data"]["cost"]) == Decimal("2.00") * qty
    now = await _valuation(api, sku, "WH-A")
    assert (now["onHand"], now["value"], now["damaged"], now["damagedValue"]) == (
        7,
        "39.0000",
        1,
        "2.0000",
    )
    stranger = {
        "returnId": f"R4-{sku}",
        "orderId": "ORDER-NEVER-SHIPPED-HERE",
        "sku": sku,
        "warehouseId": "WH-A",
        "quantity": 1,
        "reason": "defective",
        "condition": "resellable",
    }
    returned = await api.post("/v1/returns", stranger, role="warehouse")
    assert returned.json()["events"][0]["data"]["cost"] == "5.571429"  # the average, 39 / 7


async def test_adjustments_take_cost_out_as_a_loss_and_gains_enter_at_a_cost(
    api: Api, ids: Any, pool: Any
) -> None:
    sku, started = ids("SKU"), datetime.now(UTC)
    await _receive(api, sku, "WH-A", 10, "3.00")
    down = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantityChange": -2,
        "reason": "theft",
        "notes": "cage 4",
    }
    taken = await api.post("/v1/adjustments", down, role="warehouse")
    assert Decimal(taken.json()["events"][0]["data"]["cost"]) == Decimal("6")
    up = {**down, "quantityChange": 3, "reason": "system_correction", "unitCost": "4.00"}
    given = await api.post("/v1/adjustments", up, role="warehouse")
    assert given.status_code == 201, given.text
    assert Decimal(given.json()["events"][0]["data"]["cost"]) == Decimal("12")
    counted = await api.post(
        "/v1/counts", {"sku": sku, "warehouseId": "WH-A", "countedQuantity": 10}, role="warehouse"
    )
    assert counted.status_code == 201, counted.text
    adjusted = [e for e in counted.json()["events"] if e["type"] == "StockAdjusted"]
    assert Decimal(adjusted[0]["data"]["cost"]) == Decimal("3")  # the oldest layer, 1 @ 3.00
    cogs = await _cogs(api, pool, sku, started)
    assert cogs["totals"]["losses"]["theft"] == "6.0000"
    assert cogs["totals"]["losses"]["physical_count"] == "3.0000"
    now = await _valuation(api, sku, "WH-A")
    assert (now["onHand"], now["value"]) == (10, "33.0000")


async def test_the_whole_inventory_in_one_query_with_totals_paging_and_csv(
    api: Api, ids: Any, pool: Any
) -> None:
    wh = ids("WH")
    skus = [ids("INV") for _ in range(5)]
    for n, sku in enumerate(skus):
        await _receive(api, sku, wh, n + 1, "2.50")
    taken = await settled(api, pool, "/v1/valuation", role="auditor", warehouseId=wh, limit=2)
    assert taken.status_code == 200, taken.text
    body = taken.json()
    assert body["totals"]["value"] == "37.5000"  # 15 units @ 2.50
    assert int(taken.headers["X-As-Of-Position"]) == body["asOfPosition"]
    rows, after = list(body["rows"]), body["next"]
    await _receive(api, skus[-1], wh, 50, "9.00")  # after the first page: the walk ignores it
    while after:
        page = (await api.get("/v1/valuation", warehouseId=wh, limit=2, after=after)).json()
        assert (page["at"], page["asOfPosition"], page["totals"]) == (
            body["at"],
            body["asOfPosition"],
            body["totals"],
        )
        rows += page["rows"]
        after = page["next"]
    assert sorted((r["sku"], r["onHand"], r["value"]) for r in rows) == sorted(
        (sku, n + 1, f"{Decimal('2.50') * (n + 1):.4f}") for n, sku in enumerate(skus)
    )
    pinned = body["asOfPosition"]
    second = body["next"]
    for params in ({"at": "2026-01-01"}, {"asOfPosition": pinned - 1}):
        response = await api.get("/v1/valuation", after=second, **params)
        assert response.status_code == 422, response.text  # not the cursor's instant/position
    await _receive(api, skus[0], wh, 100, "1.00")
    again = await api.get("/v1/valuation", warehouseId=wh, asOfPosition=pinned)
    assert again.json()["totals"]["value"] == "37.5000"  # reproduced at the same position
    as_csv = await api.http.get(
        "/v1/valuation", params={"warehouseId": wh}, headers={**_admin(), "Accept": "text/csv"}
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["sku"]: r["value"] for r in table} == {
        r["sku"]: r["value"]
        for r in (await api.get("/v1/valuation", warehouseId=wh, limit=1000)).json()["rows"]
    }


async def test_bad_requests_get_a_problem_and_orders_may_not_read(api: Api) -> None:
    cases: list[tuple[str, dict[str, Any], str, int]] = [
        ("/v1/valuation/SKU-1/WH-A", {"at": "yesterday"}, "admin", 422),
        ("/v1/valuation", {"limit": 0}, "admin", 422),
        ("/v1/valuation", {"after": "nope"}, "admin", 422),
        ("/v1/valuation", {"after": "stock:A:B"}, "admin", 422),  # an id, not a cursor
        (
            "/v1/valuation",
            {"after": encode_cursor("valuation", "stock:A:B", 1, "2026-01-01T00:00:00", "{}")},
            "admin",
            422,
        ),
        ("/v1/valuation", {"asOfPosition": 2**62}, "admin", 422),
        ("/v1/reports/cogs", {"from": "2026-11-02", "to": "2026-11-01"}, "admin", 422),
        ("/v1/reports/cogs", {"to": "2026-11-01"}, "admin", 422),
        ("/v1/valuation", {}, "orders", 403),
        ("/v1/reports/cogs", {"from": "2026-11-01", "to": "2026-12-01"}, "orders", 403),
        ("/v1/valuation/NO-SUCH-SKU/WH-A", {}, "admin", 404),
    ]
    for path, params, role, status in cases:
        response = await api.get(path, role=role, **params)
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await api.http.get("/v1/valuation")).status_code == 401


def _admin() -> dict[str, str]:
    return auth("admin")


async def test_the_cli_answers_finance_as_the_api_does(
    api: Api, ids: Any, pool: Any, database_url: str, tmp_path: Any
) -> None:
    """`stockledger report valuation` and `report cogs`: every row of the HTTP answers, the
    same totals, and CSV byte for byte, at the same asOfPosition."""
    wh, started = ids("WH"), datetime.now(UTC).replace(microsecond=0)
    skus = [ids("CLI") for _ in range(3)]
    for n, sku in enumerate(skus):
        await _receive(api, sku, wh, 10 * (n + 1), "1.25")
    await _ship(api, skus[2], wh, 7, order=ids("ORDER"))
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0).isoformat()
    worth_params = {"warehouseId": wh, "at": at, "limit": 1000}
    worth = (await settled(api, pool, "/v1/valuation", **worth_params)).json()
    as_of = str(worth["asOfPosition"])
    cogs_params = {"from": started.isoformat(), "to": at, "warehouseId": wh}
    cogs = (await api.get("/v1/reports/cogs", role="auditor", **cogs_params)).json()
    assert cogs["totals"]["costOfGoodsSold"] == "8.7500"  # 7 x 1.25
    env = {"STOCKLEDGER_DATABASE_URL": database_url}

    async def cli(*argv: str) -> Any:
        done = await asyncio.to_thread(run_cli, *argv, "--as-of-position", as_of, **env)
        assert done.returncode == 0, done.stderr
        return done

    valuation_cli = ("report", "valuation", "--at", at[:19], "--warehouse", wh)
    assert orjson.loads((await cli(*valuation_cli)).stdout) == worth
    cogs_cli = ("report", "cogs", "--from", cogs_params["from"][:19], "--to", at[:19],
                "--warehouse", wh)  # fmt: skip
    from_cli = orjson.loads((await cli(*cogs_cli)).stdout)
    assert {**from_cli, "asOfPosition": cogs["asOfPosition"]} == cogs
    out = tmp_path / "valuation.csv"
    await cli(*valuation_cli, "--format", "csv", "-o", str(out))
    http_csv = await api.http.get(
        "/v1/valuation",
        params={**worth_params, "asOfPosition": as_of},
        headers={**_admin(), "Accept": "text/csv"},
    )
    assert out.read_bytes() == http_csv.content
    assert len(out.read_text().splitlines()) == 1 + 3
