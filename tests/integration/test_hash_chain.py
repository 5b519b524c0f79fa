"""The hash chain: appends extend it in SQL exactly as the documented algorithm says, races
cannot fork it, and the migration backfills events written before it existed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from stockledger.store.db import create_pool
from stockledger.store.event_store import EventStore
from stockledger.store.hashchain import GENESIS, canonical, chain
from stockledger.store.rows import ConcurrencyConflict, RecordedEvent, StreamWrite
from tests.databases import fresh_database, upgrade

from .test_event_store import event

Ids = Callable[[str], str]


def recompute(events: list[RecordedEvent]) -> list[bytes]:
    hashes, previous = [], GENESIS
    for e in events:
        body = canonical(
            event_id=e.event_id,
            type=e.type,
            stream_id=e.stream_id,
            version=e.version,
            recorded_at=e.recorded_at,
            schema_version=e.schema_version,
            data=e.data,
            metadata=e.metadata,
        )
        previous = chain(previous, body)
        hashes.append(previous)
    return hashes


@pytest.fixture
def store(pool: asyncpg.Pool[Any]) -> EventStore:
    return EventStore(pool)


async def test_appends_chain_each_stream_from_32_zero_bytes(store: EventStore, ids: Ids) -> None:
    a, b = f"stock:{ids('A')}:WH", f"stock:{ids('B')}:WH"
    first = await store.append(
        [StreamWrite(a, 0, (event(), event(notes="ü"))), StreamWrite(b, 0, (event(),))]
    )
    later = await store.append([StreamWrite(a, 2, (event(), event()))])
    for stream in (a, b):
        stored = await store.read_stream(stream)
        assert [e.hash for e in stored] == recompute(stored)
    returned = {(e.stream_id, e.version): e.hash for e in first + later}
    stored = [e for s in (a, b) for e in await store.read_stream(s)]
    assert returned == {(e.stream_id, e.version): e.hash for e in stored}


async def test_racing_appends_never_fork_the_chain(store: EventStore, ids: Ids) -> None:
    stream = f"stock:{ids('SKU')}:WH"
    await store.append([StreamWrite(stream, 0, (event(),))])
    results = await asyncio.gather(
        *(store.append([StreamWrite(stream, 1, (event(),))]) for _ in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ConcurrencyConflict) for r in results if isinstance(r, BaseException))
    stored = await store.read_stream(stream)
    assert [e.hash for e in stored] == recompute(stored)


async def test_migration_backfills_existing_events_and_keeps_the_trigger(
    postgres_server: str, ids: Ids
) -> None:
    stream = f"stock:{ids('OLD')}:WH"
    async with fresh_database(postgres_server, revision="0001") as url:
        conn = await asyncpg.connect(url)
        try:
            at = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
            for version in (1, 2, 3):
                await conn.execute(
                    "INSERT INTO events (position, event_id, stream_id, version, type, "
                    "schema_version, data, metadata, recorded_at, correlation_id) VALUES "
                    "($1, $2, $3, $4, 'StockReceived', 1, $5::jsonb, $6::jsonb, $7, 'c')",
                    version,
                    uuid4(),
                    stream,
                    version,
                    f'{{"quantity": {version}, "note": "ä"}}',
                    '{"causedBy": "old"}',
                    at + timedelta(seconds=version),
                )
            await upgrade(url)
            pool = await create_pool(url, size=2)
            try:
                stored = await EventStore(pool).read_stream(stream)
                assert [e.hash for e in stored] == recompute(stored)
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                    await pool.execute("UPDATE events SET hash = $1", GENESIS)
                appended = await EventStore(pool).append([StreamWrite(stream, 3, (event(),))])
                stored = await EventStore(pool).read_stream(stream)
                assert [e.hash for e in stored] == recompute(stored)
                assert appended[0].hash == stored[-1].hash
            finally:
                await pool.close()
        finally:
            await conn.close()
