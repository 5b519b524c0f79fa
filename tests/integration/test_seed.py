"""`stockledger seed`: Mei's shop, bulk-written into a real database, read back every way."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from stockledger.api.app import create_app
from stockledger.cli import app
from stockledger.config import Settings
from stockledger.domain.aggregates import initial_state
from stockledger.domain.events import EVENT_TYPES
from stockledger.domain.stock.state import Levels, StockState
from stockledger.domain.streams import parse_stock_stream
from stockledger.ops.seed import SeedPlan, SeedResult, seed_database, simulate
from stockledger.read.recall import lot_recall
from stockledger.store.db import create_pool
from stockledger.store.event_store import EventStore
from stockledger.store.snapshots import StateLoader, fold
from stockledger.write.bulk import BulkLedger

# Ends tomorrow at 21:00 UTC, with a 12 h reservation TTL: the reservations still active at the
# end are not due while the tests run. The hour is fixed because the simulation is
# deterministic only for a given end: an end in the small hours, after the evening's carts were
# paid or dropped, can leave none open.
PLAN = SeedPlan(
    skus=30,
    warehouses=3,
    days=21,
    random_seed=7,
    end=(datetime.now(UTC) + timedelta(days=1)).replace(hour=21, minute=0, second=0, microsecond=0),
    prefix=f"t{uuid.uuid4().hex[:6]}-",
    reservation_ttl_seconds=12 * 3600,
    snapshot_every=5,
    chunk_events=1_500,  # several transactions, with reservations spanning two of them
)
KEY = "k-seed-admin"


@pytest.fixture(scope="module")
def database_url(new_database: Callable[[], str]) -> str:
    """A database of this module's own: the seed writes reservations that fall due while it
    runs, and the expiry worker of another module's app would race it on a shared one."""
    return new_database()


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(database_url, size=10)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def seeded(pool: asyncpg.Pool[Any]) -> SeedResult:
    return await seed_database(pool, PLAN)


def patterns(plan: SeedPlan = PLAN) -> list[str]:
    kinds = ("stock", "reservation", "transfer", "item", "warehouse", "reorder", "kit", "po")
    return [f"{kind}:{plan.prefix}%" for kind in kinds]


def simulated(plan: SeedPlan) -> tuple[list[tuple[str, str, Any, datetime]], BulkLedger]:
    ledger = BulkLedger(plan.snapshot_every, plan.end)
    events = [
        (write.stream_id, e.type, e.data, e.recorded_at)
        for _, chunk in simulate(plan, ledger)
        for write in chunk.writes
        for e in write.events
    ]
    return events, ledger


async def test_the_seeded_ledger_is_analysed_with_its_visibility_map_set(
    pool: asyncpg.Pool[Any], seeded: SeedResult
) -> None:
    """The reports read the ledger by index-only scans: right after a seed, they must not
    fetch the heap for every row until autovacuum happens to come by."""
    for table in ("events", "stock_values", "snapshots"):
        row = await pool.fetchrow(
            "SELECT relpages, relallvisible, reltuples,"
            " (SELECT count(*) FROM pg_stats WHERE tablename = relname) AS statistics"
            " FROM pg_class WHERE relname = $1 AND relkind = 'r'",
            table,
        )
        assert row is not None
        assert row["statistics"] > 0, f"{table} not analysed"
        assert row["reltuples"] > 0, table
        assert row["relpages"] > 0, table
        assert row["relallvisible"] >= 0.95 * row["relpages"], (table, dict(row))


async def test_seed_makes_every_event_type_and_case(
    seeded: SeedResult, pool: asyncpg.Pool[Any]
) -> None:
    rows = await pool.fetch(
        "SELECT type, data, metadata, recorded_at FROM events WHERE stream_id LIKE ANY($1)",
        patterns(),
    )
    assert Counter(r["type"] for r in rows) == seeded.events
    assert set(seeded.events) == set(EVENT_TYPES)
    of = {t: [r["data"] for r in rows if r["type"] == t] for t in EVENT_TYPES}
    assert {d["reason"] for d in of["StockReturned"]} == {
        "defective",
        "wrong_item",
        "customer_changed_mind",
        "damaged_in_transit",
    }
    assert {d["condition"] for d in of["StockReturned"]} == {"resellable", "damaged", "dispose"}
    assert {d["reason"] for d in of["StockAdjusted"]} == {
        "physical_count",
        "damage",
        "expiry",
        "theft",
        "system_correction",
    }
    assert any(d["lostQuantity"] > 0 for d in of["TransferReceived"])
    assert any(d["receivedQuantity"] == d["quantity"] for d in of["TransferReceived"])
    assert all(d["supplier"] and float(d["unitCost"]) > 0 for d in of["StockReceived"])
    assert any(d["kits"] for d in of["StockReserved"])  # orders take the two kits too
    assert len({d["sku"] for d in of["KitDefined"]}) == 2
    assert {r["metadata"]["causedBy"] for r in rows} == {
        "seed:orders",
        "seed:warehouse",
        "seed:expiry",
    }
    days = {r["recorded_at"].date() for r in rows}
    assert len(days) >= PLAN.days
    first_day = (PLAN.end - timedelta(days=PLAN.days)).date()
    assert min(r["recorded_at"] for r in rows).date() == first_day
    assert max(r["recorded_at"] for r in rows) <= PLAN.end


async def test_same_random_seed_same_events_and_the_database_holds_them(
    seeded: SeedResult, pool: asyncpg.Pool[Any]
) -> None:
    first, ledger = simulated(PLAN)
    again, _ = simulated(PLAN)
    assert first == again
    other, _ = simulated(SeedPlan(**{**_fields(PLAN), "random_seed": 8}))
    assert other != first
    assert len(first) == sum(seeded.events.values())
    expected = {
        stream_id: state.levels
        for stream_id, state in ledger.states.items()
        if isinstance(state, StockState)
    }
    rows = await pool.fetch(
        "SELECT stream_id, sum(d_on_hand)::int AS a, sum(d_reserved)::int AS b, "
        "sum(d_in_transit)::int AS c, sum(d_damaged)::int AS d, sum(d_incoming)::int AS e, "
        "sum(d_quality_control)::int AS f, sum(d_expired)::int AS g FROM events "
        "WHERE stream_id LIKE $1 GROUP BY stream_id",
        f"stock:{PLAN.prefix}%",
    )
    levels = {r["stream_id"]: Levels(*(r[x] for x in "abcdefg")) for r in rows}
    assert levels == expected
    # every SKU in every warehouse, and the tracked ones (3 perishables, 2 devices) in two
    assert len(expected) == PLAN.skus * PLAN.warehouses + 5 * 2


def _fields(plan: SeedPlan) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in plan.__dataclass_fields__}


async def test_every_version_of_every_seeded_stream_is_valid(
    seeded: SeedResult, pool: asyncpg.Pool[Any]
) -> None:
    broken = await pool.fetch(
        """
        SELECT stream_id, version FROM (
            SELECT stream_id, version, recorded_at,
                   lag(recorded_at) OVER w AS before, row_number() OVER w AS n,
                   sum(d_on_hand) OVER w AS on_hand, sum(d_reserved) OVER w AS reserved,
                   sum(d_in_transit) OVER w AS in_transit, sum(d_damaged) OVER w AS damaged
            FROM events WHERE stream_id LIKE ANY($1)
            WINDOW w AS (PARTITION BY stream_id ORDER BY version)
        ) t
        WHERE NOT (0 <= reserved AND reserved <= on_hand AND in_transit >= 0 AND damaged >= 0)
           OR version <> n OR recorded_at < before
        """,
        patterns(),
    )
    assert broken == []


async def test_deadlines_are_kept_for_exactly_the_active_reservations(
    seeded: SeedResult, pool: asyncpg.Pool[Any]
) -> None:
    active = await pool.fetch(
        "SELECT DISTINCT ON (stream_id) stream_id, type, data FROM events "
        "WHERE stream_id LIKE $1 ORDER BY stream_id, version DESC",
        f"reservation:{PLAN.prefix}%",
    )
    expected = {
        r["stream_id"].split(":", 1)[1]: datetime.fromisoformat(r["data"]["expiresAt"])
        for r in active
        if r["type"] == "StockReserved"
    }
    assert expected, "some reservations are still active when the period ends"
    assert seeded.still_open["reservations active"] == len(expected)
    rows = await pool.fetch(
        "SELECT reservation_id, expires_at FROM reservation_deadlines WHERE reservation_id LIKE $1",
        f"{PLAN.prefix}%",
    )
    assert {r["reservation_id"]: r["expires_at"] for r in rows} == expected


async def test_loading_seeded_streams_equals_folding_them(
    seeded: SeedResult, pool: asyncpg.Pool[Any]
) -> None:
    streams = [
        r["stream_id"]
        for r in await pool.fetch(
            "SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE ANY($1)", patterns()
        )
    ]
    loaded = await StateLoader(pool).load(streams)
    store = EventStore(pool)
    for stream_id in streams:
        assert loaded[stream_id] == fold(
            initial_state(stream_id), await store.read_stream(stream_id)
        )
    snapshotted = await pool.fetchval(
        "SELECT count(DISTINCT stream_id) FROM snapshots WHERE stream_id LIKE ANY($1)", patterns()
    )
    assert snapshotted > 0


@pytest.fixture(scope="module")
async def http(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(database_url=database_url, api_keys=f"{KEY}:seed-test:admin"), run_expiry=False
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.headers["Authorization"] = f"Bearer {KEY}"
            yield client


async def test_http_reads_of_a_seeded_stream_agree_with_the_store(
    seeded: SeedResult, pool: asyncpg.Pool[Any], http: httpx.AsyncClient
) -> None:
    busiest = await pool.fetchval(
        "SELECT stream_id FROM events WHERE stream_id LIKE $1 "
        "GROUP BY stream_id ORDER BY count(*) DESC LIMIT 1",
        f"stock:{PLAN.prefix}%",
    )
    events = await EventStore(pool).read_stream(busiest)
    assert len(events) > 3 * PLAN.snapshot_every
    sku, warehouse = parse_stock_stream(busiest)
    path = f"/v1/stock/{sku}/{warehouse}"

    def levels(state: Any) -> dict[str, int]:
        assert isinstance(state, StockState)
        x = state.levels
        return {
            "onHand": x.on_hand,
            "reserved": x.reserved,
            "available": x.available,
            "inTransit": x.in_transit,
            "damaged": x.damaged,
            "version": state.version,
        }

    def shown(body: dict[str, Any]) -> dict[str, int]:
        return {k: body[k] for k in ("onHand", "reserved", "available", "inTransit", "damaged")} | {
            "version": body["version"]
        }

    now = fold(initial_state(busiest), events)
    for params in ({}, {"consistency": "strong"}):
        response = await http.get(path, params=params)
        assert response.status_code == 200, response.text
        assert shown(response.json()) == levels(now)
    middle = len(events) // 2
    at_version = await http.get(f"{path}/at", params={"version": middle})
    assert shown(at_version.json()) == levels(fold(initial_state(busiest), events[:middle]))
    moment = events[middle].recorded_at
    at_time = await http.get(f"{path}/at", params={"timestamp": moment.isoformat()})
    then = [e for e in events if e.recorded_at <= moment]
    assert shown(at_time.json()) == levels(fold(initial_state(busiest), then))
    history = (await http.get(f"{path}/history", params={"limit": 1000})).json()["events"]
    assert [e["version"] for e in history] == [e.version for e in events]
    assert history[-1]["balance"]["onHand"] == levels(now)["onHand"]


def test_cli_seeds_prints_a_summary_and_refuses_to_seed_twice(database_url: str) -> None:
    env = {"STOCKLEDGER_DATABASE_URL": database_url, "STOCKLEDGER_LOG_JSON": "false"}
    args = ["seed", "--skus", "5", "--warehouses", "2", "--days", "2"]
    args += ["--prefix", f"c{uuid.uuid4().hex[:6]}-"]
    runner = CliRunner()
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "StockReserved" in first.output
    assert "5 SKUs x 2 warehouses" in first.output
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 1
    assert "already has events" in again.output


async def test_the_seed_holds_expired_lots_lots_expiring_this_week_and_serials(
    seeded: SeedResult, pool: asyncpg.Pool[Any]
) -> None:
    lots = await pool.fetch("SELECT * FROM lot_holdings WHERE sku LIKE $1", f"{PLAN.prefix}FRESH-%")
    today = PLAN.end.date()
    assert any(x["expired"] > 0 for x in lots)  # past their date, not yet written off
    assert any(today <= x["expires_on"] < today + timedelta(days=7) for x in lots)
    assert await pool.fetchval(
        "SELECT count(*) FROM serial_places WHERE sku LIKE $1", f"{PLAN.prefix}DEVICE-%"
    )
    sku, lot = lots[0]["sku"], lots[0]["lot_id"]
    found = await lot_recall(pool, StateLoader(pool), sku, lot)
    assert found is not None
    assert found[0]["balanced"] is True
    assert found[0]["received"]
