"""Random ledgers (seeded): every movement report row keeps the identity, each period's closing
is the next one's opening, closing is the time-travel level, and the whole report equals an
oracle that reads the events' data (not the stored deltas) period by period."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from stockledger.domain import commands as c
from stockledger.domain.stock.events import Line, ReturnCondition
from stockledger.domain.stock.state import Levels
from stockledger.domain.streams import parse_stock_stream
from stockledger.reports.periods import Granularity, periods
from stockledger.store.rows import NewEvent, StreamWrite

from .conftest import Api
from .past_ledger import PastLedger

pytestmark = pytest.mark.asyncio

LEVELS = ("onHand", "reserved", "inTransit", "damaged", "incoming", "qualityControl", "expired")
CONDITIONS: tuple[ReturnCondition, ...] = ("resellable", "damaged", "dispose")


def simulate(seed: int, skus: list[str], warehouses: list[str], start: datetime) -> PastLedger:
    """~150 random commands over ~10 weeks; the domain refuses what is not possible."""
    rng = random.Random(seed)
    past = PastLedger(start)
    now = start
    open_reservations: list[str] = []
    open_transfers: list[tuple[str, int]] = []
    for n in range(150):
        now += timedelta(minutes=rng.randrange(1, 60 * 24 * 2))
        past.at(now)
        sku, wh = rng.choice(skus), rng.choice(warehouses)
        q = rng.randint(1, 12)
        kind = rng.choice(("receive", "receive", "reserve", "settle", "ship", "return",
                           "transfer", "arrive", "adjust", "count"))  # fmt: skip
        if kind == "receive":
            past.receive(sku, wh, q * 3)
        elif kind == "reserve":
            rid = f"R{seed}-{n}"
            lines = (Line(sku, wh, q),)
            if past.run(c.ReserveStock(rid, f"O{n}", lines, now + timedelta(days=365))):
                open_reservations.append(rid)
        elif kind == "settle" and open_reservations:
            rid = open_reservations.pop(rng.randrange(len(open_reservations)))
            if rng.random() < 0.6:
                past.run(c.ShipStock(f"S{seed}-{n}", f"O{n}", rid))
            else:
                past.run(c.ReleaseReservation(rid, "changed"))
        elif kind == "ship":
            past.ship(f"S{seed}-{n}", (sku, wh, q))
        elif kind == "return":
            past.run(c.ReturnStock(f"RET{seed}-{n}", f"O{n}", sku, wh, q, "defective",
                                   rng.choice(CONDITIONS)))  # fmt: skip
        elif kind == "transfer":
            to = rng.choice([w for w in warehouses if w != wh])
            tid = f"T{seed}-{n}"
            if past.run(c.DispatchTransfer(tid, sku, wh, to, q)):
                open_transfers.append((tid, q))
        elif kind == "arrive" and open_transfers:
            tid, sent = open_transfers.pop(0)
            past.run(c.ReceiveTransfer(tid, rng.randint(0, sent)))
        elif kind == "adjust":
            change = rng.choice((-1, 1)) * q
            past.run(c.AdjustStock(sku, wh, change, "system_correction"))
        elif kind == "count":
            past.run(c.CountStock(sku, wh, rng.randint(0, 40)))
    return past


def _moved(stream_id: str, event: NewEvent) -> dict[str, int]:
    """The movement columns of one event, from its data (the oracle's own reading)."""
    _, warehouse = parse_stock_stream(stream_id)
    d = event.data
    match event.type:
        case "StockReceived":
            return {"received": d["quantity"]}
        case "StockShipped":
            return {"shipped": sum(x["quantity"] for x in d["lines"]
                                   if x["warehouseId"] == warehouse)}  # fmt: skip
        case "StockReturned":
            column = {"resellable": "returnedResellable", "damaged": "returnedDamaged",
                      "dispose": "returnedDisposed"}[d["condition"]]  # fmt: skip
            return {column: d["quantity"]}
        case "TransferDispatched" if d["fromWarehouseId"] == warehouse:
            return {"transferredOut": d["quantity"]}
        case "TransferReceived":
            return {"transferredIn": d["receivedQuantity"], "lostInTransit": d["lostQuantity"]}
        case "StockAdjusted" if d["quantityChange"] > 0:
            return {"adjustedUp": d["quantityChange"]}
        case "StockAdjusted":
            return {"adjustedDown": -d["quantityChange"]}
    return {}


def oracle(writes: list[StreamWrite], since: datetime, until: datetime,
           granularity: Granularity) -> list[dict[str, Any]]:  # fmt: skip
    spans = periods(since, until, granularity)
    rows = []
    for write in sorted((w for w in writes if w.stream_id.startswith("stock:")),
                        key=lambda w: w.stream_id.encode()):  # fmt: skip
        sku, warehouse = parse_stock_stream(write.stream_id)
        level = Levels()
        events = list(write.events)
        for event in events:
            if event.recorded_at < since:
                level = level + event.delta
        for span in spans:
            inside = [e for e in events if span.start <= e.recorded_at < span.end]
            opening = level
            moved: dict[str, int] = defaultdict(int)
            for event in inside:
                level = level + event.delta
                for name, value in _moved(write.stream_id, event).items():
                    moved[name] += value
            if not inside and opening == Levels() and level == Levels():
                continue
            rows.append({
                "periodStart": span.start.isoformat(), "periodEnd": span.end.isoformat(),
                "sku": sku, "warehouseId": warehouse, "opening": _levels(opening),
                **{name: moved[name] for name in MOVES}, "closing": _levels(level),
            })  # fmt: skip
    return rows


MOVES = ("received", "shipped", "returnedResellable", "returnedDamaged", "returnedDisposed",
         "transferredOut", "transferredIn", "lostInTransit", "adjustedUp",
         "adjustedDown", "expected", "inspectedAccepted", "inspectedRejected",
         "lotsExpired")  # fmt: skip


def _levels(x: Levels) -> dict[str, int]:
    return {"onHand": x.on_hand, "reserved": x.reserved, "inTransit": x.in_transit,
            "damaged": x.damaged, "incoming": x.incoming,
            "qualityControl": x.quality_control, "expired": x.expired}  # fmt: skip


async def _all(api: Api, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        extra: dict[str, str] = {"after": after} if after else {}
        response = await api.get("/v1/reports/movements", role="warehouse", **params, **extra)
        assert response.status_code == 200, response.text
        rows += response.json()["rows"]
        after = response.json()["next"]
        if after is None:
            return rows


@pytest.mark.parametrize("seed", range(4))
async def test_random_ledgers_keep_the_identity_and_chain(
    api: Api, pool: asyncpg.Pool[Any], seed: int
) -> None:
    tag = f"RND{seed}-{datetime.now(UTC):%H%M%S%f}"
    skus, warehouses = [f"{tag}-A", f"{tag}-B"], ["W1", "W2", "W3"]
    start = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=seed * 7)
    past = simulate(seed, skus, warehouses, start)
    writes = await past.write(pool)
    rng = random.Random(seed)
    types = {e.type for w in writes for e in w.events}
    assert types >= {"StockReceived", "StockShipped", "StockReturned", "TransferDispatched",
                     "TransferReceived", "StockAdjusted", "StockCounted"}, types  # fmt: skip
    for granularity in ("day", "week", "month"):
        since = start + timedelta(hours=rng.randrange(0, 24 * 20))  # off any calendar boundary
        until = since + timedelta(days=rng.randrange(30, 75), minutes=rng.randrange(0, 1440))
        for sku in skus:
            params = {"from": since.isoformat(), "to": until.isoformat(), "sku": sku,
                      "granularity": granularity}  # fmt: skip
            rows = await _all(api, limit=rng.choice((7, 50, 1000)), **params)
            mine = [w for w in writes if w.stream_id.startswith(f"stock:{sku}:")]
            assert rows == oracle(mine, since, until, granularity), (seed, granularity, sku)
            _check_identity_and_chain(rows)
            if granularity == "week":
                await _check_time_travel(api, rows)


def _check_identity_and_chain(rows: list[dict[str, Any]]) -> None:
    previous: dict[str, Any] | None = None
    for r in rows:
        o, k = r["opening"], r["closing"]
        moved = (r["received"] - r["shipped"] + r["returnedResellable"] + r["transferredIn"]
                 - r["transferredOut"] + r["adjustedUp"] - r["adjustedDown"]
                 - r["lotsExpired"])  # fmt: skip
        assert k["onHand"] == o["onHand"] + moved, r
        assert k["damaged"] == o["damaged"] + r["returnedDamaged"], r
        if previous is not None and previous["warehouseId"] == r["warehouseId"]:
            if previous["periodEnd"] == r["periodStart"]:
                assert previous["closing"] == o
            else:  # periods left out between them held nothing and saw nothing
                assert previous["closing"] == o == dict.fromkeys(LEVELS, 0)
        previous = r


async def _check_time_travel(api: Api, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        end = datetime.fromisoformat(r["periodEnd"]) - timedelta(microseconds=1)
        then = await api.get(f"/v1/stock/{r['sku']}/{r['warehouseId']}/at",
                             timestamp=end.isoformat())  # fmt: skip
        assert then.status_code == 200, then.text
        assert r["closing"] == {x: then.json()[x] for x in LEVELS}, r
