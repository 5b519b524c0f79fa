"""Schema evolution: a ledger written with only v1 events (no cost on them, no stock_values
rows) values exactly like the same history written as v2, once read through the upcasters and
`migrate`'s derivation: per stream (layers included), the whole inventory and COGS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

from stockledger.audit.event_export import horizon
from stockledger.domain import commands as c
from stockledger.domain.aggregates import State, evolve, initial_state
from stockledger.domain.events import SCHEMA_VERSIONS, to_data
from stockledger.domain.stock.events import Line, ReturnCondition
from stockledger.domain.stock.state import NO_CHANGE, StockState, delta, step_stock
from stockledger.domain.upcasting import as_written_in
from stockledger.ops.seed import SeedPlan, seed_database
from stockledger.ops.value_backfill import backfill_stock_values, needs_backfill
from stockledger.projections.drift import find_drift
from stockledger.read import cost_of_goods
from stockledger.read import inventory_value as valuations
from stockledger.reports.turnover import TurnoverQuery, turnover_rows
from stockledger.store.db import create_pool
from stockledger.store.event_store import EventStore
from stockledger.store.rows import NewEvent, StreamWrite
from stockledger.store.snapshots import StateLoader

from ..databases import fresh_database
from ..unit.memory_ledger import MemoryLedger


def _history() -> MemoryLedger:
    """Receipts at several costs in two warehouses, FIFO and moving average, shipments, a
    transfer with a shortfall, returns of every condition, adjustments and a count."""
    ledger = MemoryLedger()
    ledger.handle(c.DefineItem("AVG", "Average", valuation_method="moving_average"))
    for sku in ("FIFO", "AVG"):
        for cost, qty in (("2.00", 10), ("3.10", 7), ("4.25", 5)):
            ledger.handle(c.ReceiveStock(sku, "WH-A", qty, "PO", Decimal(cost), "S"))
            ledger.tick(60)
        ledger.handle(c.ShipStock(f"S1-{sku}", "O1", None, (Line(sku, "WH-A", 12),)))
        ledger.handle(c.DispatchTransfer(f"T1-{sku}", sku, "WH-A", "WH-B", 6))
        ledger.tick(3600)
        ledger.handle(c.ReceiveTransfer(f"T1-{sku}", 5))
        ledger.handle(c.ReceiveStock(sku, "WH-B", 3, "PO", Decimal("9.99"), "S"))
        ledger.handle(c.ShipStock(f"S2-{sku}", "O2", None, (Line(sku, "WH-B", 7),)))
        returns: tuple[tuple[str, ReturnCondition], ...] = (
            ("R1", "resellable"),
            ("R2", "damaged"),
            ("R3", "dispose"),
        )
        for rid, condition in returns:
            ledger.handle(
                c.ReturnStock(f"{rid}-{sku}", "O2", sku, "WH-B", 1, "defective", condition)
            )
        ledger.handle(c.AdjustStock(sku, "WH-A", -1, "theft", "cage"))
        ledger.handle(c.AdjustStock(sku, "WH-A", 2, "system_correction", "found", None))
        ledger.handle(c.CountStock(sku, "WH-B", 1))
        ledger.tick(86400)
    return ledger


async def _write(url: str, ledger: MemoryLedger, *, as_v1: bool, upgraded_at: int = 0) -> None:
    """The ledger's events, as v1 when `as_v1` up to the `upgraded_at`-th (0: all of them) and
    as v2 from there (a ledger upgraded midway)."""
    pool = await create_pool(url)
    try:
        store = EventStore(pool)
        states: dict[str, State] = {}
        for n, (stream_id, event, at) in enumerate(ledger.log):
            state: State = states.get(stream_id) or initial_state(stream_id)
            data, version, move = to_data(event), SCHEMA_VERSIONS[event.TYPE], None
            after: State
            if isinstance(state, StockState):
                after, move = step_stock(state, event, at)
            else:
                after = evolve(state, event, at)
            if as_v1 and (not upgraded_at or n < upgraded_at):
                data, version, move = as_written_in(event.TYPE, 1, data), 1, None
            new = NewEvent(
                uuid4(),
                event.TYPE,
                version,
                data,
                {"causedBy": "test", "correlationId": "C"},
                at,
                "C",
                data.get("orderId"),
                delta(state, event) if isinstance(state, StockState) else NO_CHANGE,
                move,
            )
            await store.append([StreamWrite(stream_id, state.version, (new,))])
            states[stream_id] = after
    finally:
        await pool.close()


async def _valued(url: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    pool = await create_pool(url)
    try:
        loader = StateLoader(pool)
        streams = [
            r["stream_id"]
            for r in await pool.fetch(
                "SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE 'stock:%'"
            )
        ]
        loaded = await loader.load(streams)
        values = {s: st.value for s, st in loaded.items() if isinstance(st, StockState)}
        at, as_of = datetime.now(UTC) + timedelta(days=365), await horizon(pool)
        whole = await valuations.inventory(pool, at, as_of, limit=1000)
        cogs = await cost_of_goods.cogs(pool, datetime(2000, 1, 1, tzinfo=UTC), at, as_of)
        return values, (whole.rows, whole.totals), cogs
    finally:
        await pool.close()


async def test_a_v1_ledger_values_like_the_same_history_written_as_v2(
    postgres_server: str,
) -> None:
    ledger = _history()
    async with fresh_database(postgres_server) as v2, fresh_database(postgres_server) as v1:
        await _write(v2, ledger, as_v1=False)
        await _write(v1, ledger, as_v1=True)
        pool = await create_pool(v1)
        try:
            assert await needs_backfill(pool)
            per_stream_before, _, _ = await _valued(v1)  # the fold alone, through upcasters
            await backfill_stock_values(pool, lambda _: None)
            assert not await needs_backfill(pool)
        finally:
            await pool.close()
        expected = await _valued(v2)
        assert per_stream_before == expected[0]
        assert await _valued(v1) == expected
        _, (_, totals), cogs = expected
        assert Decimal(totals["value"]) > 0
        assert Decimal(cogs["totals"]["costOfGoodsSold"]) > 0
        assert cogs["totals"]["losses"]["lost_in_transit"] != "0.0000"


async def test_a_ledger_upgraded_after_a_v1_transfer_verifies_clean(
    postgres_server: str,
) -> None:
    """Upgraded right after a v1 transfer arrived: the v2 events after it record costs from
    the layers the transfer carried (which only its source knows); verify folds them the same
    way, so it finds no drift, and the ledger values as if written as v2 throughout."""
    ledger = _history()
    arrived = next(
        n for n, (_, event, _) in enumerate(ledger.log) if event.TYPE == "TransferReceived"
    )
    async with fresh_database(postgres_server) as v2, fresh_database(postgres_server) as mixed:
        await _write(v2, ledger, as_v1=False)
        await _write(mixed, ledger, as_v1=True, upgraded_at=arrived + 1)
        pool = await create_pool(mixed)
        try:
            await backfill_stock_values(pool, lambda _: None)
            found = (await find_drift(pool, None, lambda _: None)).findings
            assert [f for f in found if "drift" not in f.check and "row" not in f.check] == []
        finally:
            await pool.close()
        assert await _valued(mixed) == await _valued(v2)


SEED = SeedPlan(
    purchasing=False,  # the same history with and without --schema-v1: no purchase orders
    skus=25,
    warehouses=3,
    days=20,
    random_seed=11,
    end=datetime(2026, 11, 1, tzinfo=UTC),
    snapshot_every=5,
    chunk_events=2_000,
    tracked=False,  # the same history written as v1 must be one a v1 ledger could hold
)


async def _stream_values(pool: Any) -> dict[str, Any]:
    streams = await pool.fetch(
        "SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE 'stock:%'"
    )
    loaded = await StateLoader(pool).load([r["stream_id"] for r in streams])
    return {s: st.value for s, st in loaded.items() if isinstance(st, StockState)}


async def _figures(pool: Any) -> tuple[Any, ...]:
    at, as_of = datetime(2026, 11, 2, tzinfo=UTC), await horizon(pool)
    since = datetime(2026, 10, 1, tzinfo=UTC)
    whole = await valuations.inventory(pool, at, as_of, limit=1000)
    cogs = await cost_of_goods.cogs(pool, since, at, as_of)
    turned = [r async for r in turnover_rows(pool, TurnoverQuery(since, at), as_of)]
    return whole.rows, whole.totals, cogs, turned


async def test_the_seed_writes_a_valued_ledger_and_the_same_one_as_v1(
    postgres_server: str,
) -> None:
    """`stockledger seed` and `seed --schema-v1` of one plan: the same history, the second
    with only v1 events; after `migrate`'s derivation every figure is the same."""
    async with fresh_database(postgres_server) as v2, fresh_database(postgres_server) as v1:
        pools = [await create_pool(url) for url in (v2, v1)]
        try:
            await seed_database(pools[0], SEED)
            await seed_database(pools[1], replace(SEED, schema_v1=True))
            versions = [
                dict(await p.fetch("SELECT schema_version, count(*) FROM events GROUP BY 1"))
                for p in pools
            ]
            # valued events, costs recorded (a receipt is at version 3)
            assert versions[0].get(2, 0) + versions[0].get(3, 0) > 1_000
            assert set(versions[1]) == {1}
            assert sum(versions[0].values()) == sum(versions[1].values())
            stored = [
                await p.fetch("SELECT type, schema_version, data FROM events ORDER BY position")
                for p in pools
            ]
            for new, old in zip(*stored, strict=True):
                assert as_written_in(new["type"], 1, new["data"]) == old["data"]
            assert await pools[1].fetchval("SELECT count(*) FROM stock_values") == 0
            folded = [await _stream_values(p) for p in pools]  # through the upcasters
            assert folded[1] == folded[0]
            assert await needs_backfill(pools[1])
            await backfill_stock_values(pools[1], lambda _: None)
            expected, derived = await _figures(pools[0]), await _figures(pools[1])
            assert derived == expected
            # verify's value checks fold the v1 ledger as the reads do: no false drift
            # (read models are not built here, so only the store's own checks can speak)
            for p in pools:
                found = (await find_drift(p, None, lambda _: None)).findings
                assert [f for f in found if "drift" not in f.check and "row" not in f.check] == []
            rows, totals, cogs, turned = expected
            # a realistic valued ledger: stock at cost, goods shipped at cost, losses by reason
            assert Decimal(totals["value"]) > 0
            assert Decimal(cogs["totals"]["costOfGoodsSold"]) > 0
            losses = {k for k, v in cogs["totals"]["losses"].items() if Decimal(v) > 0}
            assert len(losses) >= 2, cogs["totals"]["losses"]
            assert len({r["unitCost"] for r in rows}) > 10
            assert any(r["turnover"] not in (None, "0.0000") for r in turned)
            methods = await pools[0].fetch(
                "SELECT DISTINCT data->>'valuationMethod' AS m FROM events "
                "WHERE type = 'StockReceived'"
            )
            assert {r["m"] for r in methods} == {"fifo", "moving_average"}
        finally:
            for p in pools:
                await p.close()
