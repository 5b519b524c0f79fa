"""The event store on a real Postgres: atomic appends, conflicts, gap-safe reads, append-only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from stockledger.domain.stock.state import Levels
from stockledger.store.event_store import EventStore
from stockledger.store.hashchain import GENESIS, canonical, chain
from stockledger.store.rows import ConcurrencyConflict, NewEvent, RecordedEvent, StreamWrite

from ..support import eventually

Ids = Callable[[str], str]


def event(type_name: str = "StockReceived", **data: Any) -> NewEvent:
    return NewEvent(
        event_id=uuid4(),
        type=type_name,
        schema_version=1,
        data=data or {"quantity": 1},
        metadata={"causedBy": "test", "correlationId": "c"},
        recorded_at=datetime.now(UTC),
        correlation_id=data.get("correlation", "c"),
        order_id=data.get("orderId"),
        delta=Levels(on_hand=1),
    )


@pytest.fixture
def store(pool: asyncpg.Pool[Any]) -> EventStore:
    return EventStore(pool)


async def test_append_assigns_versions_from_one_without_gaps(store: EventStore, ids: Ids) -> None:
    stream = f"stock:{ids('SKU')}:WH"
    await store.append([StreamWrite(stream, 0, (event(), event()))])
    await store.append([StreamWrite(stream, 2, (event(),))])
    events = await store.read_stream(stream)
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.position for e in events] == sorted(e.position for e in events)


async def test_stale_expected_version_raises_conflict_naming_stream_and_versions(
    store: EventStore, ids: Ids
) -> None:
    stream = f"stock:{ids('SKU')}:WH"
    await store.append([StreamWrite(stream, 0, (event(),))])
    with pytest.raises(ConcurrencyConflict) as behind:
        await store.append([StreamWrite(stream, 0, (event(),))])
    assert (behind.value.stream_id, behind.value.expected, behind.value.actual) == (stream, 0, 1)
    assert "Stream Version: 1" in str(behind.value)
    with pytest.raises(ConcurrencyConflict) as ahead:  # never a gap either
        await store.append([StreamWrite(stream, 5, (event(),))])
    assert ahead.value.actual == 1
    assert len(await store.read_stream(stream)) == 1


async def test_multi_stream_append_is_all_or_nothing(store: EventStore, ids: Ids) -> None:
    a, b = f"stock:{ids('A')}:WH", f"stock:{ids('B')}:WH"
    await store.append([StreamWrite(b, 0, (event(),))])
    with pytest.raises(ConcurrencyConflict) as refused:
        await store.append([StreamWrite(a, 0, (event(),)), StreamWrite(b, 0, (event(),))])
    assert refused.value.stream_id == b
    assert await store.read_stream(a) == []
    outbox = await store.pool.fetchval("SELECT count(*) FROM outbox WHERE stream_id = $1", a)
    assert outbox == 0


async def test_racing_appends_at_the_same_version_land_exactly_once(
    store: EventStore, ids: Ids
) -> None:
    stream = f"stock:{ids('SKU')}:WH"
    results = await asyncio.gather(
        *(store.append([StreamWrite(stream, 0, (event(),))]) for _ in range(20)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, ConcurrencyConflict) for r in results if isinstance(r, Exception))
    assert len(await store.read_stream(stream)) == 1


async def test_events_cannot_be_updated_deleted_or_truncated(store: EventStore, ids: Ids) -> None:
    stream = f"stock:{ids('SKU')}:WH"
    await store.append([StreamWrite(stream, 0, (event(),))])
    for sql in (
        "UPDATE events SET data = '{}' WHERE stream_id = $1",
        "DELETE FROM events WHERE stream_id = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await store.pool.execute(sql, stream)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await store.pool.execute("TRUNCATE events")
    assert len(await store.read_stream(stream)) == 1


async def test_application_role_cannot_update_or_delete_events(
    database_url: str, store: EventStore, ids: Ids
) -> None:
    stream = f"stock:{ids('SKU')}:WH"
    await store.append([StreamWrite(stream, 0, (event(),))])
    conn = await asyncpg.connect(database_url, user="stockledger_app")
    try:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", stream) == 1
        for sql in (
            "UPDATE events SET type = 'x' WHERE stream_id = $1",
            "DELETE FROM events WHERE stream_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(sql, stream)
    finally:
        await conn.close()


async def test_read_all_never_skips_an_event_that_commits_late(store: EventStore, ids: Ids) -> None:
    """A transaction that inserts, then sleeps before committing, must still be read."""
    cursor = max([e.position for e in await store.read_all(0, 100_000)], default=0)
    late_stream, early_stream = f"stock:{ids('LATE')}:WH", f"stock:{ids('EARLY')}:WH"
    late_id, late_at = uuid4(), datetime.now(UTC)
    late_hash = chain(
        GENESIS,
        canonical(
            event_id=late_id,
            type="StockReceived",
            stream_id=late_stream,
            version=1,
            recorded_at=late_at,
            schema_version=1,
            data={},
            metadata={},
        ),
    )
    conn = await store.pool.acquire()
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(  # the late writer takes its xid (and so its position) first
            "INSERT INTO events (position, event_id, stream_id, version, type, schema_version, "
            "data, metadata, recorded_at, correlation_id, hash) VALUES "
            "((pg_current_xact_id()::text::bigint << 16) + 1, $1, $2, 1, 'StockReceived', 1, "
            "'{}', '{}', $3, 'c', $4)",
            late_id,
            late_stream,
            late_at,
            late_hash,
        )
        await store.append([StreamWrite(early_stream, 0, (event(),))])  # commits first
        seen = await store.read_all(cursor, 100_000)
        assert late_stream not in {e.stream_id for e in seen}
        assert early_stream not in {e.stream_id for e in seen}, "passed an uncommitted gap"
        await tx.commit()
    finally:
        await store.pool.release(conn)

    async def both_visible() -> list[RecordedEvent] | None:
        # The horizon is cluster-wide: another database's open writer can hold it a moment.
        found = await store.read_all(cursor, 100_000)
        streams = {e.stream_id for e in found}
        return found if {late_stream, early_stream} <= streams else None

    seen = await eventually(both_visible, within=60, what="both events past the horizon")
    order = [e.stream_id for e in seen]
    assert order.index(late_stream) < order.index(early_stream)
    assert [e.position for e in seen] == sorted(e.position for e in seen)


async def test_reads_by_correlation_and_order(store: EventStore, ids: Ids) -> None:
    order = ids("ORDER")
    a, b = f"stock:{ids('A')}:WH", f"stock:{ids('B')}:WH"
    await store.append(
        [
            StreamWrite(a, 0, (event(orderId=order, correlation=order),)),
            StreamWrite(b, 0, (event(orderId=order, correlation=order),)),
        ]
    )
    await store.append([StreamWrite(a, 1, (event(),))])
    assert [e.stream_id for e in await store.read_order(order)] == [a, b]
    assert [e.stream_id for e in await store.read_correlation(order)] == [a, b]
