"""The write path across "processes" (separate Ledger instances, caches and writers)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from prometheus_client import REGISTRY

from stockledger.domain import commands as c
from stockledger.domain.aggregates import initial_state
from stockledger.domain.errors import InsufficientStock
from stockledger.domain.reservation.state import ReservationState
from stockledger.domain.stock.events import Line, ReservedLine
from stockledger.domain.stock.state import StockState
from stockledger.store.event_store import EventStore
from stockledger.store.snapshots import StateLoader, fold
from stockledger.write.expiry import ExpiryWorker
from stockledger.write.ledger import Caller, Ledger, utcnow

from ..support import eventually

CALLER = Caller(principal="test")


def ledger(pool: asyncpg.Pool[Any], **kwargs: Any) -> Ledger:
    return Ledger(EventStore(pool), StateLoader(pool), **kwargs)


async def receive(target: Ledger, sku: str, qty: int) -> None:
    command = c.ReceiveStock(sku, "WH", qty, "PO", Decimal(1), "S")
    await target.execute(command, CALLER)


async def test_two_processes_on_one_hot_sku_never_oversell(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    one, two = ledger(pool), ledger(pool)
    sku = ids("HOT")
    await receive(one, sku, 120)
    await two.loader.load([f"stock:{sku}:WH"])  # both caches warm, then they race

    async def reserve(target: Ledger) -> str:
        command = c.ReserveStock(
            ids("R"), ids("O"), (Line(sku, "WH", 1),), utcnow() + timedelta(minutes=5)
        )
        try:
            await target.execute(command, CALLER)
        except InsufficientStock:
            return "short"
        return "ok"

    results = await asyncio.gather(*(reserve(t) for _ in range(100) for t in (one, two)))
    assert Counter(results) == {"ok": 120, "short": 80}
    state = (await StateLoader(pool).load([f"stock:{sku}:WH"]))[f"stock:{sku}:WH"]
    assert isinstance(state, StockState)
    assert (state.levels.reserved, state.levels.available) == (120, 0)
    await one.close()
    await two.close()


async def test_racing_expiry_workers_and_confirm_leave_one_terminal_outcome(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    writer = ledger(pool)
    sku = ids("SKU")
    await receive(writer, sku, 100)
    reservations = [ids("R") for _ in range(30)]
    for rid in reservations:
        await writer.execute(
            c.ReserveStock(rid, ids("O"), (Line(sku, "WH", 1),), utcnow() + timedelta(seconds=1)),
            CALLER,
        )
    later = utcnow() + timedelta(seconds=2)  # the workers see every reservation as due
    workers = [
        ExpiryWorker(ledger(pool, clock=lambda: later), pool, clock=lambda: later) for _ in range(2)
    ]
    confirms = [writer.execute(c.ConfirmReservation(rid), CALLER) for rid in reservations[::3]]
    await asyncio.gather(*(w.run_once() for w in workers), *confirms, return_exceptions=True)
    terminal = await pool.fetch(
        "SELECT stream_id, count(*) AS n FROM events WHERE stream_id = ANY($1) "
        "AND type IN ('ReservationExpired', 'ReservationConfirmed') GROUP BY stream_id",
        [f"reservation:{r}" for r in reservations],
    )
    assert len(terminal) == 30
    assert all(row["n"] == 1 for row in terminal)
    due = await pool.fetchval(
        "SELECT count(*) FROM reservation_deadlines WHERE reservation_id = ANY($1)", reservations
    )
    assert due == 0
    for item in (writer, *(w.ledger for w in workers)):
        await item.close()


async def test_snapshots_are_written_and_loading_equals_a_full_fold(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    writer = ledger(pool, snapshot_every=10)
    sku = ids("SKU")
    for qty in range(1, 36):
        await receive(writer, sku, qty)
    await writer.close()  # waits for background snapshot writes
    stream = f"stock:{sku}:WH"
    versions = [
        r["version"]
        for r in await pool.fetch(
            "SELECT version FROM snapshots WHERE stream_id = $1 ORDER BY version", stream
        )
    ]
    assert versions == [10, 20, 30]
    loaded = (await StateLoader(pool).load([stream]))[stream]
    folded = fold(initial_state(stream), await EventStore(pool).read_stream(stream))
    assert loaded == folded
    at_25 = (await StateLoader(pool).load([stream], version=25))[stream]
    assert isinstance(at_25, StockState)
    assert (at_25.version, at_25.levels.on_hand) == (25, sum(range(1, 26)))


async def test_refusal_in_a_batch_does_not_fail_its_neighbours(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    writer = ledger(pool)
    sku = ids("SKU")
    await receive(writer, sku, 3)
    results = await asyncio.gather(
        *(
            writer.execute(
                c.ReserveStock(
                    ids("R"), "O", (Line(sku, "WH", q),), utcnow() + timedelta(minutes=1)
                ),
                CALLER,
            )
            for q in (2, 5, 1, 1)
        ),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == [
        "Answer",
        "InsufficientStock",
        "Answer",
        "InsufficientStock",
    ]
    state = await writer.loader.load([f"reservation:{ids('none')}"])
    assert isinstance(next(iter(state.values())), ReservationState)
    await writer.close()


@pytest.mark.parametrize("size", [1, 100])
async def test_a_reservation_with_many_lines_lands_atomically(
    pool: asyncpg.Pool[Any], ids: Any, size: int
) -> None:
    writer = ledger(pool)
    skus = [ids("SKU") for _ in range(size)]
    for sku in skus:
        await receive(writer, sku, 1)
    rid = ids("R")
    lines = tuple(Line(s, "WH", 1) for s in skus)
    await writer.execute(c.ReserveStock(rid, "O", lines, utcnow() + timedelta(minutes=1)), CALLER)
    count = await pool.fetchval(
        "SELECT count(*) FROM events WHERE correlation_id = 'O' AND data->>'reservationId' = $1",
        rid,
    )
    assert count == size + 1
    await writer.close()


async def test_a_reservation_opened_and_closed_in_one_append_leaves_no_deadline(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    from stockledger.domain.events import to_data
    from stockledger.domain.reservation.events import ReservationReleased, StockReserved
    from stockledger.domain.stock.state import Levels
    from stockledger.store.rows import NewEvent, StreamWrite

    rid = ids("R")
    line = (Line("SKU", "WH", 1),)

    def new(event: Any) -> NewEvent:
        return NewEvent(
            uuid4(),
            event.TYPE,
            1,
            to_data(event),
            {"causedBy": "t", "correlationId": "c"},
            utcnow(),
            "c",
            "O",
            Levels(),
        )

    opened = StockReserved(
        rid, "O", utcnow() + timedelta(minutes=5), (ReservedLine("SKU", "WH", 1),)
    )
    closed = ReservationReleased(rid, "O", line, "changed mind")
    await EventStore(pool).append(
        [StreamWrite(f"reservation:{rid}", 0, (new(opened), new(closed)))]
    )
    due = await pool.fetchval(
        "SELECT count(*) FROM reservation_deadlines WHERE reservation_id = $1", rid
    )
    assert due == 0


# -- every job of a batch is answered, whatever happens to the batch ---------------------------


def keyed(key: str) -> Caller:
    return Caller(principal="test", idempotency_key=key, request_hash=f"hash-{key}")


def reserve_one(sku: str, ids: Any) -> c.ReserveStock:
    return c.ReserveStock(
        ids("R"), ids("O"), (Line(sku, "WH", 1),), utcnow() + timedelta(minutes=5)
    )


async def _waiting_on_a_lock(pool: asyncpg.Pool[Any]) -> bool:
    waiting: int = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    return waiting > 0


async def test_a_batch_meeting_a_conflict_and_a_taken_key_answers_every_command(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    """Another "process" moves the stream under the cache (a conflict) and commits one key
    of the batch while the batch waits on it: every command is answered, none refused."""
    target, other = ledger(pool), ledger(pool)
    sku = ids("FAULT")
    await receive(target, sku, 1000)
    await receive(other, sku, 1)  # target's cached state is now stale: its append conflicts
    taken = ids("TAKEN")
    async with pool.acquire() as rival, rival.transaction():
        await rival.execute(
            "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response)"
            " VALUES ('test', $1, $2, 201, $3)",
            taken,
            f"hash-{taken}",
            {"answer": "the rival's", "_correlationId": "rival"},
        )
        keys = [ids("KEY") for _ in range(20)]
        jobs = [
            asyncio.ensure_future(target.execute(reserve_one(sku, ids), keyed(k)))
            for k in [*keys, taken]
        ]
        jobs += [
            asyncio.ensure_future(target.execute(reserve_one(sku, ids), CALLER)) for _ in range(20)
        ]
        await eventually(lambda: _waiting_on_a_lock(pool), what="the batch waiting on the key")
    answers = await asyncio.wait_for(asyncio.gather(*jobs), timeout=10)
    assert answers[20].earlier == (201, {"answer": "the rival's"})  # a record from before 0005
    assert answers[20].replayed
    assert [a.outcome is not None for a in answers[:20] + answers[21:]] == [True] * 40
    level = (await StateLoader(pool).load([f"stock:{sku}:WH"]))[f"stock:{sku}:WH"]
    assert isinstance(level, StockState)
    assert level.levels.reserved == 40
    await target.close()
    await other.close()


async def test_a_database_error_in_a_batch_fails_only_its_command(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    boom = ids("boom")
    await pool.execute(
        f"""
        CREATE FUNCTION "refuse_{boom}"() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.key = '{boom}' THEN RAISE EXCEPTION 'injected failure'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER "refuse_{boom}" BEFORE INSERT ON idempotency_keys
          FOR EACH ROW EXECUTE FUNCTION "refuse_{boom}"();
        """
    )
    try:
        target = ledger(pool)
        sku = ids("FAULT")
        await receive(target, sku, 100)
        callers = [keyed(ids("KEY")) for _ in range(10)] + [keyed(boom)]
        jobs = [target.execute(reserve_one(sku, ids), who) for who in callers]
        answers = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), timeout=10)
        assert isinstance(answers[-1], asyncpg.RaiseError)
        assert [getattr(a, "outcome", None) is not None for a in answers[:-1]] == [True] * 10
        level = (await StateLoader(pool).load([f"stock:{sku}:WH"]))[f"stock:{sku}:WH"]
        assert isinstance(level, StockState)
        assert level.levels.reserved == 10
        await target.close()
    finally:
        await pool.execute(
            f'DROP TRIGGER "refuse_{boom}" ON idempotency_keys; DROP FUNCTION "refuse_{boom}"()'
        )


async def test_a_slow_append_does_not_hold_up_commands_on_other_streams(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    """Batches on disjoint streams are in flight at once: while one stream's append waits in
    Postgres (a trigger sleeps 1.5 s), a receipt on another stream is answered at once."""
    writer = ledger(pool)
    slow, quick = ids("SLOW"), ids("QUICK")
    await receive(writer, quick, 1)  # cached, as in a running process
    trigger = f"slow_{slow.replace('-', '_').lower()}"
    await pool.execute(
        f"""CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$;
        CREATE TRIGGER {trigger} BEFORE INSERT ON events FOR EACH ROW
        WHEN (NEW.stream_id = 'stock:{slow}:WH') EXECUTE FUNCTION {trigger}()"""
    )
    try:
        held_up = asyncio.create_task(receive(writer, slow, 1))
        await eventually(lambda: _sleeping(pool), within=5, what="the slow append")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await receive(writer, quick, 1)
        assert loop.time() - started < 0.75
        assert not held_up.done()
        await asyncio.wait_for(held_up, 10)
    finally:
        await pool.execute(f"DROP TRIGGER {trigger} ON events; DROP FUNCTION {trigger}()")
        await writer.close()
    streams = [f"stock:{slow}:WH", f"stock:{quick}:WH"]
    levels = await StateLoader(pool).load(streams)
    assert [levels[s].version for s in streams] == [1, 2]


async def _sleeping(pool: asyncpg.Pool[Any]) -> bool:
    found = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
    )
    return bool(found)


async def test_a_stream_that_met_another_process_is_written_under_its_lock_at_once(
    pool: asyncpg.Pool[Any], ids: Any
) -> None:
    """After one conflict on a hot stream, a process's next batches there start under the
    stream's lock instead of trying (and failing) optimistically again."""
    one, two = ledger(pool), ledger(pool)
    sku = ids("HOT")
    await receive(one, sku, 1_000)
    await two.loader.load([f"stock:{sku}:WH"])
    before = _conflicts()

    async def reserve(target: Ledger) -> None:
        command = c.ReserveStock(
            ids("R"), ids("O"), (Line(sku, "WH", 1),), utcnow() + timedelta(minutes=5)
        )
        await target.execute(command, CALLER)

    for _ in range(10):  # rounds of racing batches from both processes
        await asyncio.gather(*(reserve(t) for _ in range(20) for t in (one, two)))
    assert _conflicts() - before <= 4  # the first meeting of each, not one per round
    state = (await StateLoader(pool).load([f"stock:{sku}:WH"]))[f"stock:{sku}:WH"]
    assert isinstance(state, StockState)
    assert state.levels.reserved == 400
    await one.close()
    await two.close()


def _conflicts() -> float:
    return REGISTRY.get_sample_value("stockledger_append_conflicts_total") or 0.0
