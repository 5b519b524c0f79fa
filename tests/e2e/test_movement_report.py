"""Analysts read stock movements by day, week and month: a ledger written in January 2025, figures
checked by hand, every parameter and error, CSV equal to JSON, pages, and asOfPosition."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from stockledger.domain import commands as c
from stockledger.domain.stock.events import Line, ReturnCondition
from stockledger.reports.movements import COLUMNS

from ..support import run_cli
from .conftest import Api
from .past_ledger import PastLedger, settled
from .test_errors import assert_problem

pytestmark = pytest.mark.asyncio

PATH = "/v1/reports/movements"
MOVES = ("received", "shipped", "returnedResellable", "returnedDamaged", "returnedDisposed",
         "transferredOut", "transferredIn", "lostInTransit", "adjustedUp",
         "adjustedDown", "expected", "inspectedAccepted", "inspectedRejected",
         "lotsExpired")  # fmt: skip


def at(day: int, hour: int = 0, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


@dataclass(frozen=True)
class Known:
    sku: str
    a: str  # warehouse A: receipts, shipment, transfer out, returns, adjustments, counts
    b: str  # warehouse B: the transfer's destination, an adjustment up, counts


@pytest.fixture(scope="module")
async def known(pool: asyncpg.Pool[Any]) -> Known:
    """Weeks of Monday 6 January 2025 to Monday 10 February (hand-checked below)."""
    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    k = Known(f"MV-{suffix}", f"MVA-{suffix}", f"MVB-{suffix}")
    past = PastLedger(at(6))
    assert past.at(at(6, 10)).receive(k.sku, k.a, 100)
    line = (Line(k.sku, k.a, 5),)
    assert past.at(at(7, 9)).run(c.ReserveStock(f"R-{suffix}", "O-1", line, at(1, month=12)))
    assert past.at(at(7, 12)).run(c.ShipStock(f"S-{suffix}", "O-1", f"R-{suffix}"))
    transfer = f"T-{suffix}"
    assert past.at(at(8, 8)).run(c.DispatchTransfer(transfer, k.sku, k.a, k.b, 20))
    assert past.at(at(13, 10)).run(c.ReceiveTransfer(transfer, 18))
    returns: tuple[tuple[ReturnCondition, int], ...] = (("resellable", 3), ("damaged", 2),
                                                        ("dispose", 4))  # fmt: skip
    for n, (condition, quantity) in enumerate(returns):
        returned = c.ReturnStock(
            f"RET-{n}-{suffix}", "O-1", k.sku, k.a, quantity, "defective", condition
        )
        assert past.at(at(14, 9 + n)).run(returned)
    assert past.at(at(20, 10)).run(c.AdjustStock(k.sku, k.a, -7, "damage"))
    assert past.at(at(20, 11)).run(c.AdjustStock(k.sku, k.b, 1, "system_correction"))
    assert past.at(at(3, 10, month=2)).run(c.CountStock(k.sku, k.a, 60))  # 71 counted 60
    assert past.at(at(3, 11, month=2)).run(c.CountStock(k.sku, k.b, 19))  # as recorded
    assert past.at(at(10, 10, month=2)).run(c.CountStock(k.sku, k.b, 25))  # 6 found
    await past.write(pool)
    return k


def row(start: str, end: str, sku: str, wh: str, opening: tuple[int, ...],
        closing: tuple[int, ...], **moved: int) -> dict[str, Any]:  # fmt: skip
    def levels(x: tuple[int, ...]) -> dict[str, int]:
        names = ("onHand", "reserved", "inTransit", "damaged", "incoming", "qualityControl",
                 "expired")  # fmt: skip
        return dict(zip(names, (*x, 0, 0, 0, 0, 0, 0, 0)[:7], strict=True))

    assert set(moved) <= set(MOVES)
    return {
        "periodStart": start,
        "periodEnd": end,
        "sku": sku,
        "warehouseId": wh,
        "opening": levels(opening),
        **{name: moved.get(name, 0) for name in MOVES},
        "closing": levels(closing),
    }


def iso(day: int, month: int = 1, hour: int = 0) -> str:
    return at(day, hour, month).isoformat()


async def report(api: Api, role: str = "auditor", **params: Any) -> dict[str, Any]:
    return await api.report(PATH, role, **params)


async def test_weeks_of_a_known_ledger(api: Api, known: Known) -> None:
    k = known
    body = await report(api, sku=k.sku, granularity="week", **{"from": "2025-01-06"},
                        to="2025-02-17")  # fmt: skip
    assert (body["from"], body["to"]) == (iso(6), iso(17, 2))
    assert (body["granularity"], body["next"]) == ("week", None)
    weeks = [iso(6), iso(13), iso(20), iso(27), iso(3, 2), iso(10, 2), iso(17, 2)]
    w = list(itertools.pairwise(weeks))
    a, b = k.a, k.b
    expected = [
        row(*w[0], k.sku, a, (0, 0, 0, 0), (75, 0, 0, 0), received=100, shipped=5,
            transferredOut=20),
        row(*w[1], k.sku, a, (75, 0, 0, 0), (78, 0, 0, 2), returnedResellable=3,
            returnedDamaged=2, returnedDisposed=4),
        row(*w[2], k.sku, a, (78, 0, 0, 2), (71, 0, 0, 2), adjustedDown=7),
        row(*w[3], k.sku, a, (71, 0, 0, 2), (71, 0, 0, 2)),  # stock sitting still
        row(*w[4], k.sku, a, (71, 0, 0, 2), (60, 0, 0, 2), adjustedDown=11),  # the count
        row(*w[5], k.sku, a, (60, 0, 0, 2), (60, 0, 0, 2)),
        row(*w[0], k.sku, b, (0, 0, 0, 0), (0, 0, 20, 0)),  # in transit to it, nothing out
        row(*w[1], k.sku, b, (0, 0, 20, 0), (18, 0, 0, 0), transferredIn=18, lostInTransit=2),
        row(*w[2], k.sku, b, (18, 0, 0, 0), (19, 0, 0, 0), adjustedUp=1),
        row(*w[3], k.sku, b, (19, 0, 0, 0), (19, 0, 0, 0)),
        row(*w[4], k.sku, b, (19, 0, 0, 0), (19, 0, 0, 0)),  # counted as recorded
        row(*w[5], k.sku, b, (19, 0, 0, 0), (25, 0, 0, 0), adjustedUp=6),
    ]  # fmt: skip
    assert body["rows"] == expected


async def test_days_months_and_a_window_off_the_calendar(api: Api, known: Known) -> None:
    k = known
    days = await report(api, sku=k.sku, granularity="day", **{"from": "2025-01-07"},
                        to="2025-01-09")  # fmt: skip
    assert days["rows"] == [
        row(iso(7), iso(8), k.sku, k.a, (100, 0, 0, 0), (95, 0, 0, 0), shipped=5),
        row(iso(8), iso(9), k.sku, k.a, (95, 0, 0, 0), (75, 0, 0, 0), transferredOut=20),
        # B had neither stock nor events on the 7th: no row
        row(iso(8), iso(9), k.sku, k.b, (0, 0, 0, 0), (0, 0, 20, 0)),
    ]
    months = await report(api, warehouseId=k.a, granularity="month", **{"from": "2025-01-01"},
                          to="2025-03-01")  # fmt: skip
    assert months["rows"] == [
        row(iso(1), iso(1, 2), k.sku, k.a, (0, 0, 0, 0), (71, 0, 0, 2), received=100,
            shipped=5, transferredOut=20, returnedResellable=3, returnedDamaged=2,
            returnedDisposed=4, adjustedDown=7),
        row(iso(1, 2), iso(1, 3), k.sku, k.a, (71, 0, 0, 2), (60, 0, 0, 2), adjustedDown=11),
    ]  # fmt: skip
    # from inclusive (the shipment at 12:00 counts), to exclusive (the arrival at 10:00 not),
    # the first and last weeks clipped to the window
    window = {"from": "2025-01-07T12:00:00Z", "to": "2025-01-13T10:00:00+00:00"}
    clipped = await report(api, sku=k.sku, granularity="week", **window)
    assert clipped["rows"] == [
        row(iso(7, hour=12), iso(13), k.sku, k.a, (100, 5, 0, 0), (75, 0, 0, 0), shipped=5,
            transferredOut=20),
        row(iso(13), iso(13, hour=10), k.sku, k.a, (75, 0, 0, 0), (75, 0, 0, 0)),
        row(iso(7, hour=12), iso(13), k.sku, k.b, (0, 0, 0, 0), (0, 0, 20, 0)),
        row(iso(13), iso(13, hour=10), k.sku, k.b, (0, 0, 20, 0), (0, 0, 20, 0)),
    ]  # fmt: skip
    both = await report(api, sku=k.sku, warehouseId=k.b, granularity="month",
                        **{"from": "2025-02-01"}, to="2025-02-02")  # fmt: skip
    assert both["rows"] == [row(iso(1, 2), iso(2, 2), k.sku, k.b, (19, 0, 0, 0), (19, 0, 0, 0))]
    nothing = await report(api, sku=k.sku, **{"from": "2024-12-01"}, to="2025-01-06")
    assert (nothing["rows"], nothing["next"]) == ([], None)


async def test_closing_is_the_time_travel_level(api: Api, known: Known) -> None:
    body = await report(api, sku=known.sku, granularity="week", **{"from": "2025-01-06"},
                        to="2025-02-17")  # fmt: skip
    for r in body["rows"]:
        end = datetime.fromisoformat(r["periodEnd"]) - timedelta(microseconds=1)
        then = await api.get(f"/v1/stock/{r['sku']}/{r['warehouseId']}/at",
                             timestamp=end.isoformat())  # fmt: skip
        assert then.status_code == 200, then.text
        level = then.json()
        names = ("onHand", "reserved", "inTransit", "damaged", "incoming", "qualityControl",
                 "expired")  # fmt: skip
        assert r["closing"] == {x: level[x] for x in names}


async def test_csv_is_the_json_flattened(api: Api, known: Known) -> None:
    params = {"sku": known.sku, "granularity": "week", "from": "2025-01-06", "to": "2025-02-17"}
    body = await report(api, **params)
    response = await api.http.get(
        PATH, params=params, headers={"Authorization": "Bearer k-auditor", "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["X-As-Of-Position"] == str(body["asOfPosition"])
    lines = list(csv.reader(io.StringIO(response.text)))
    assert tuple(lines[0]) == COLUMNS
    assert lines[0][:6] == ["periodStart", "periodEnd", "sku", "warehouseId", "opening.onHand",
                            "opening.reserved"]  # fmt: skip
    flat = [
        [str(v) for part in (r, r["opening"], r["closing"]) for v in part.values()
         if not isinstance(v, dict)]
        for r in body["rows"]
    ]  # fmt: skip
    ordered = [[*f[:4], *f[18:25], *f[4:18], *f[25:]] for f in flat]
    assert lines[1:] == ordered
    prefers_json = {"Authorization": "Bearer k-auditor",
                    "Accept": "text/csv;q=0.5, application/json"}  # fmt: skip
    json_wins = await api.http.get(PATH, params=params, headers=prefers_json)
    assert json_wins.headers["content-type"].startswith("application/json")


async def _walk(api: Api, limit: int, params: dict[str, str], csv_pages: bool = False) -> list[Any]:
    rows: list[Any] = []
    after = None
    while True:
        page_params: dict[str, str | int] = {**params, "limit": limit}
        if after:
            page_params["after"] = after
        if csv_pages:
            response = await api.http.get(PATH, params=page_params, headers={
                "Authorization": "Bearer k-admin", "Accept": "text/csv"})  # fmt: skip
            assert response.status_code == 200, response.text
            rows += list(csv.reader(io.StringIO(response.text)))[1:]
            after = response.headers.get("X-Next-Cursor")
        else:
            body = await report(api, "admin", **page_params)
            assert len(body["rows"]) <= limit
            rows += body["rows"]
            after = body["next"]
        if after is None:
            return rows


async def test_pages_add_up_to_the_whole_report(api: Api, known: Known) -> None:
    params = {"sku": known.sku, "granularity": "week", "from": "2025-01-06", "to": "2025-02-17"}
    whole = (await report(api, **params))["rows"]
    for limit in (1, 2, 5, 6, 7, 11, 12, 1000):
        assert await _walk(api, limit, params) == whole, limit
    whole_csv = await _walk(api, 1000, params, csv_pages=True)
    assert await _walk(api, 5, params, csv_pages=True) == whole_csv
    assert len(whole_csv) == len(whole)


def _around_now() -> dict[str, str]:
    """A window of one period around now (a month: no period boundary in it, but by chance)."""
    now = datetime.now(UTC)
    return {"from": (now - timedelta(minutes=10)).isoformat(),
            "to": (now + timedelta(minutes=10)).isoformat(), "granularity": "month"}  # fmt: skip


async def _settled(pool: asyncpg.Pool[Any], response: httpx.Response) -> None:
    assert response.status_code == 201, response.text
    await settled(pool, max(e["position"] for e in response.json()["events"]))


async def test_as_of_position_reproduces_the_figures(
    api: Api, pool: asyncpg.Pool[Any], ids: Any
) -> None:
    sku, wh = ids("MVN"), ids("WH")
    await _settled(pool, await api.receive(sku, wh, 10))
    params = {"sku": sku, **_around_now()}
    first = await report(api, **params)
    assert [r["received"] for r in first["rows"]] == [10]
    await _settled(pool, await api.receive(sku, wh, 5))
    adjusted = await api.post("/v1/adjustments", {"sku": sku, "warehouseId": wh,
                              "quantityChange": -3, "reason": "theft", "notes": "n"})  # fmt: skip
    await _settled(pool, adjusted)
    now = await report(api, **params)
    assert now["asOfPosition"] > first["asOfPosition"]
    assert (now["rows"][0]["received"], now["rows"][0]["adjustedDown"]) == (15, 3)
    assert now["rows"][0]["closing"]["onHand"] == 12
    again = await report(api, **params, asOfPosition=first["asOfPosition"])
    assert again == first
    pinned = {**params, "asOfPosition": first["asOfPosition"]}
    as_csv = {"X-API-Key": "k-auditor", "Accept": "text/csv"}
    csv_again = await api.http.get(PATH, params=pinned, headers=as_csv)
    assert csv_again.text.splitlines()[1].split(",")[-7] == "10"  # closing.onHand then


async def test_a_cursor_keeps_its_position_across_appends(
    api: Api, pool: asyncpg.Pool[Any], ids: Any
) -> None:
    sku = ids("MVC")
    for wh in ("W1", "W2", "W3"):
        await _settled(pool, await api.receive(sku, wh, 1))
    params = {"sku": sku, **_around_now()}
    page = await report(api, **params, limit=1)
    await _settled(pool, await api.receive(sku, "W2", 100))
    rest = await report(api, **params, limit=5, after=page["next"])
    assert rest["asOfPosition"] == page["asOfPosition"]
    assert [r["received"] for r in rest["rows"]] == [1, 1]
    assert rest["next"] is None
    other = await api.get(PATH, role="auditor", **params, after=page["next"],
                          asOfPosition=page["asOfPosition"] - 1)  # fmt: skip
    problem = assert_problem(other, 422, "validation-error")
    assert "cursor of asOfPosition" in problem["detail"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": None}, "from"),
        ({"to": None}, "to"),
        ({"from": "2025-13-01", "to": "2025-02-01"}, "from"),
        ({"from": "2025-01-01T00:00:00", "to": "2025-02-01"}, "from"),  # no offset
        ({"from": "yesterday", "to": "2025-02-01"}, "from"),
        ({"from": "2025-02-01", "to": "2025-02-01"}, "must be before"),
        ({"from": "2025-03-01", "to": "2025-02-01"}, "must be before"),
        ({"from": "2024-01-01", "to": "2025-03-01"}, "more than 400 day periods"),
        ({"from": "2000-01-01", "to": "2025-03-01", "granularity": "week"}, "400 week"),
        ({"granularity": "year"}, "granularity"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after": "bm90IGEgY3Vyc29y"}, "not a cursor"),
        ({"after": "not a cursor!"}, "after"),
        ({"sku": "bad sku"}, "sku"),
        ({"warehouseId": ":"}, "warehouseId"),
        ({"asOfPosition": -1}, "asOfPosition"),
        ({"asOfPosition": 2**62}, "beyond what has committed"),
    ],
)
async def test_invalid_parameters_are_422(api: Api, params: dict[str, Any], says: str) -> None:
    given = {"from": "2025-01-01", "to": "2025-02-01", **params}
    response = await api.get(
        PATH, role="warehouse", **{k: v for k, v in given.items() if v is not None}
    )
    problem = assert_problem(response, 422, "validation-error")
    assert says in str(problem), problem


async def test_a_cursor_of_another_report_is_422(api: Api) -> None:
    from stockledger.reports.tables import encode_cursor

    start = "2025-01-01T00:00:00+00:00"
    for cursor in (encode_cursor("turnover", "stock:A:B", start, 1),
                   encode_cursor("movements", "stock:A:B", "not a time", 1),
                   encode_cursor("movements", "stock:A:B", "2025-01-01T00:00:00", 1),
                   encode_cursor("movements", "reservation:R", start, 1),
                   encode_cursor("movements", "stock:A:B", start, "1")):  # fmt: skip
        response = await api.get(PATH, **{"from": "2025-01-01", "to": "2025-01-02"}, after=cursor)
        assert_problem(response, 422, "validation-error")


async def test_who_may_read_reports(client: httpx.AsyncClient) -> None:
    params = {"from": "2025-01-01", "to": "2025-01-02"}
    assert_problem(await client.get(PATH, params=params), 401, "unauthorized")
    orders = await client.get(PATH, params=params, headers={"Authorization": "Bearer k-orders"})
    assert_problem(orders, 403, "forbidden")
    for role in ("warehouse", "auditor", "admin"):
        response = await client.get(PATH, params=params, headers={"X-API-Key": f"k-{role}"})
        assert response.status_code == 200, response.text


async def test_the_cli_writes_the_same_report(
    api: Api, known: Known, database_url: str, tmp_path: Any
) -> None:
    params = {"sku": known.sku, "granularity": "week", "from": "2025-01-06", "to": "2025-02-17"}
    body = await report(api, **params)
    as_csv = {"X-API-Key": "k-auditor", "Accept": "text/csv"}
    http_csv = (await api.http.get(PATH, params=params, headers=as_csv)).content
    argv = ["report", "movements", "--from", "2025-01-06", "--to", "2025-02-17",
            "--granularity", "week", "--sku", known.sku,
            "--as-of-position", str(body["asOfPosition"])]  # fmt: skip
    out = tmp_path / "movements.csv"
    done = await asyncio.to_thread(
        run_cli, *argv, "--format", "csv", "-o", str(out), STOCKLEDGER_DATABASE_URL=database_url
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == http_csv
    printed = await asyncio.to_thread(run_cli, *argv, STOCKLEDGER_DATABASE_URL=database_url)
    assert printed.returncode == 0, printed.stderr
    assert orjson.loads(printed.stdout) == {**body, "next": None}
    beyond = await asyncio.to_thread(run_cli, "report", "movements", "--from", "2025-01-06",
                                     "--to", "2025-02-17", "--as-of-position", str(2**62),
                                     STOCKLEDGER_DATABASE_URL=database_url)  # fmt: skip
    assert beyond.returncode == 2
    assert "beyond what has committed" in beyond.stderr
