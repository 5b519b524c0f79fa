"""Finance reads how often stock turned: a ledger written in March 2025 whose time-weighted
averages are worked out by hand below, every parameter and error, CSV equal to JSON, pages,
asOfPosition, a window that ends in the future, and the CLI writing the same report."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import pytest

from stockledger.domain import commands as c
from stockledger.reports.tables import encode_cursor
from stockledger.reports.turnover import COLUMNS

from ..support import run_cli
from .conftest import Api
from .past_ledger import PastLedger
from .test_errors import assert_problem

pytestmark = pytest.mark.asyncio

PATH = "/v1/reports/turnover"
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}  # 30 days


def at(day: int, month: int = 3) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC)


@dataclass(frozen=True)
class Known:
    sku: str  # A: 100 @ 2.00 before March, ships 30 and 20, 50 @ 4.00 in between; B: 10 @ 1.00
    still: str  # 5 @ 3.00 in A since February, nothing moves
    a: str
    b: str


def receive(sku: str, wh: str, quantity: int, cost: str) -> c.ReceiveStock:
    return c.ReceiveStock(sku, wh, quantity, "PO-T", Decimal(cost), "Acme")


@pytest.fixture(scope="module")
async def known(pool: asyncpg.Pool[Any]) -> Known:
    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    k = Known(f"TO-{suffix}", f"TS-{suffix}", f"TOA-{suffix}", f"TOB-{suffix}")
    past = PastLedger(at(1, month=2))
    assert past.run(receive(k.still, k.a, 5, "3.00"))
    assert past.at(at(20, month=2)).run(receive(k.sku, k.a, 100, "2.00"))
    assert past.at(at(11)).ship("TS1-" + suffix, (k.sku, k.a, 30))  # FIFO: 30 x 2.00
    assert past.at(at(16)).run(receive(k.sku, k.b, 10, "1.00"))
    assert past.at(at(21)).run(receive(k.sku, k.a, 50, "4.00"))
    assert past.at(at(26)).ship("TS2-" + suffix, (k.sku, k.a, 20))  # FIFO: 20 x 2.00
    assert past.at(at(5, month=4)).ship("TS3-" + suffix, (k.sku, k.a, 1))  # after the window
    await past.write(pool)
    return k


async def report(api: Api, role: str = "auditor", **params: Any) -> dict[str, Any]:
    return await api.report(PATH, role, **params)


def by_sku(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["sku"]: row for row in body["rows"]}


async def test_one_warehouse_worked_by_hand(api: Api, known: Known) -> None:
    # A in March: 100 units (200.00) for 10 days, 70 (140.00) for 5 + 5 days, 120 (340.00)
    # for 5 days, 100 (300.00) for 5 days: 2,800 unit-days and 6,600.00 value-days over 30.
    body = await report(api, warehouseId=known.a, **MARCH)
    assert (body["from"], body["to"], body["days"]) == (
        at(1).isoformat(),
        at(31).isoformat(),
        "30.0000",
    )
    assert (body["warehouseId"], body["next"]) == (known.a, None)
    rows = by_sku(body)
    assert rows[known.sku] == {
        "sku": known.sku,
        "warehouseId": known.a,
        "unitsShipped": 50,
        "averageOnHand": "93.333333",  # 2,800 / 30
        "turnover": "0.535714",  # 50 / 93.33
        "daysOfInventory": "56.0000",  # 30 / 0.5357
        "costOfGoodsSold": "100.0000",  # 50 x 2.00, FIFO
        "averageInventoryValue": "220.0000",  # 6,600 / 30
        "valueTurnover": "0.454545",  # 100 / 220
    }
    # Stock that sat still all month has a row: held, never shipped.
    assert rows[known.still] == {
        "sku": known.still,
        "warehouseId": known.a,
        "unitsShipped": 0,
        "averageOnHand": "5.0000",
        "turnover": "0.0000",
        "daysOfInventory": None,
        "costOfGoodsSold": "0.0000",
        "averageInventoryValue": "15.0000",
        "valueTurnover": "0.0000",
    }


async def test_all_warehouses_add_up_per_sku(api: Api, known: Known) -> None:
    # B holds 10 (10.00) for the last 15 days: 5 units and 5.00 on average.
    body = await report(api, sku=known.sku, **MARCH)
    assert body["warehouseId"] is None
    assert body["rows"] == [
        {
            "sku": known.sku,
            "warehouseId": None,
            "unitsShipped": 50,
            "averageOnHand": "98.333333",
            "turnover": "0.508475",
            "daysOfInventory": "59.0000",
            "costOfGoodsSold": "100.0000",
            "averageInventoryValue": "225.0000",
            "valueTurnover": "0.444444",
        }
    ]
    only_b = by_sku(await report(api, warehouseId=known.b, **MARCH))[known.sku]
    assert (only_b["averageOnHand"], only_b["unitsShipped"], only_b["daysOfInventory"]) == (
        "5.0000",
        0,
        None,
    )


async def test_a_window_before_any_stock_has_no_row_and_a_shorter_one_its_own_average(
    api: Api, known: Known
) -> None:
    january = await report(api, sku=known.sku, **{"from": "2025-01-01", "to": "2025-02-01"})
    assert january["rows"] == []
    # 11 March 00:00 to 21 March 00:00: 70 units in A all along, 10 in B for the last 5 days.
    body = await report(api, sku=known.sku, **{"from": "2025-03-11", "to": "2025-03-21"})
    row = body["rows"][0]
    assert (row["unitsShipped"], row["averageOnHand"], row["costOfGoodsSold"]) == (
        30,  # the shipment at 11 March 00:00 is inside [from, to)
        "75.0000",
        "60.0000",
    )


async def test_csv_is_the_json_rows(api: Api, known: Known) -> None:
    params = {"warehouseId": known.a, **MARCH}
    body = await report(api, **params)
    headers = {"X-API-Key": "k-warehouse", "Accept": "text/csv"}
    response = await api.http.get(PATH, params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text)))
    assert tuple(lines[0]) == COLUMNS
    as_json = [["" if r[col] is None else str(r[col]) for col in COLUMNS] for r in body["rows"]]
    assert lines[1:] == as_json


async def test_pages_add_up_to_the_whole_report(api: Api, known: Known) -> None:
    whole = await report(api, warehouseId=known.a, **MARCH)
    params: dict[str, Any] = {"warehouseId": known.a, "limit": 1, **MARCH}
    first = await report(api, **params)
    walked, after = list(first["rows"]), first["next"]
    while after is not None:
        page = await report(api, **params, after=after)
        assert page["asOfPosition"] == first["asOfPosition"]  # the cursor keeps its position
        walked += page["rows"]
        after = page["next"]
    assert walked == whole["rows"]
    assert len(walked) == 2


async def test_as_of_position_reproduces_the_figures(
    api: Api, known: Known, pool: asyncpg.Pool[Any]
) -> None:
    sku, wh = known.sku + "-P", known.b + "-P"
    past = PastLedger(at(2))
    assert past.run(receive(sku, wh, 10, "2.00"))
    await past.write(pool)
    before = await report(api, sku=sku, **MARCH)
    assert past.at(at(16)).ship(f"TP-{sku}", (sku, wh, 10))
    await past.write(pool)
    now = by_sku(await report(api, sku=sku, **MARCH))[sku]
    assert (now["unitsShipped"], now["averageOnHand"]) == (10, "4.666667")  # 10 for 14 days
    again = await report(api, sku=sku, asOfPosition=before["asOfPosition"], **MARCH)
    assert again == before
    assert by_sku(before)[sku]["averageOnHand"] == "9.666667"  # 10 for 29 days


async def test_a_window_ending_in_the_future_ends_now(api: Api, ids: Any) -> None:
    sku, wh = ids("SKU"), ids("WH")
    await api.receive(sku, wh, 4)
    asked = datetime.now(UTC)
    since = (asked - timedelta(days=1)).isoformat()
    body = await report(api, sku=sku, **{"from": since, "to": "2999-01-01"})
    ended = datetime.fromisoformat(body["to"])
    assert asked <= ended <= datetime.now(UTC)
    # passed back with its asOfPosition, the answer's window gives the same figures
    again = await report(
        api, sku=sku, asOfPosition=body["asOfPosition"], **{"from": since, "to": body["to"]}
    )
    assert again == body


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from must be before to"),
        ({"from": "2999-01-01", "to": "2999-02-01"}, "before now"),
        ({"from": "March", "to": "2025-03-01"}, "from"),
        ({"to": "2025-03-01"}, "from"),
        ({**MARCH, "limit": 0}, "limit"),
        ({**MARCH, "warehouseId": "a b"}, "warehouseId"),
        ({**MARCH, "after": "!!"}, "after"),
        ({**MARCH, "asOfPosition": 2**62}, "beyond what has committed"),
    ],
)
async def test_invalid_parameters_are_422(api: Api, params: dict[str, Any], says: str) -> None:
    response = await api.get(PATH, role="auditor", **params)
    assert_problem(response, 422, "validation-error")
    assert says in response.text


async def test_a_cursor_of_another_report_or_forged_is_422(api: Api, known: Known) -> None:
    forged = encode_cursor("turnover", known.sku, 1, "2025-03-31T00:00:00")  # no offset
    response = await api.get(PATH, role="auditor", after=forged, **MARCH)
    assert_problem(response, 422, "validation-error")
    movements = await api.get(
        "/v1/reports/movements", role="auditor", limit=1, warehouseId=known.a, **MARCH
    )
    cursor = movements.json()["next"]
    assert cursor is not None
    response = await api.get(PATH, role="auditor", after=cursor, **MARCH)
    assert_problem(response, 422, "validation-error")


async def test_the_cli_writes_the_same_report(
    api: Api, known: Known, database_url: str, tmp_path: Any
) -> None:
    params = {"warehouseId": known.a, **MARCH}
    body = await report(api, **params)
    as_csv = {"X-API-Key": "k-auditor", "Accept": "text/csv"}
    http_csv = (await api.http.get(PATH, params=params, headers=as_csv)).content
    argv = ["report", "turnover", "--from", "2025-03-01", "--to", "2025-03-31",
            "--warehouse", known.a, "--as-of-position", str(body["asOfPosition"])]  # fmt: skip
    out = tmp_path / "turnover.csv"
    env = {"STOCKLEDGER_DATABASE_URL": database_url}
    done = await asyncio.to_thread(run_cli, *argv, "--format", "csv", "-o", str(out), **env)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == http_csv
    printed = await asyncio.to_thread(run_cli, *argv, **env)
    assert printed.returncode == 0, printed.stderr
    assert orjson.loads(printed.stdout) == body
    reversed_window = await asyncio.to_thread(
        run_cli, "report", "turnover", "--from", "2025-03-31", "--to", "2025-03-01", **env
    )
    assert reversed_window.returncode == 2
    assert "from must be before to" in reversed_window.stderr
