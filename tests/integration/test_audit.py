"""Tamper evidence: `verify` names the exact stream and version of each kind of tampering done
as a superuser (trigger disabled), and catches forged or contradicted checkpoints.

Each test gets a ledger of its own, so a report must be exactly the expected breaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from typer.testing import CliRunner

from stockledger.audit.checkpoints import Checkpointer, list_checkpoints, sign, signed_message
from stockledger.audit.integrity import IntegrityReport, verify_integrity
from stockledger.cli import app as cli
from stockledger.store.db import create_pool
from stockledger.store.event_store import EventStore
from stockledger.store.hashchain import canonical, chain
from stockledger.store.rows import StreamWrite
from tests.databases import Ledgers, ledgers

from ..support import edit_events
from .test_event_store import event

__all__ = ["ledgers"]  # the fixture

Ids = Callable[[str], str]
KEY = "audit-key-for-tests"


@dataclass
class Ledger:
    url: str
    pool: asyncpg.Pool[Any]
    store: EventStore
    checkpointer: Checkpointer

    async def verify(self, stream: str | None = None, key: str | None = KEY) -> IntegrityReport:
        return await verify_integrity(self.pool, key, stream)


@pytest.fixture
async def ledger(ledgers: Ledgers) -> AsyncIterator[Ledger]:
    url = await ledgers.new()
    pool = await create_pool(url, 4)
    try:
        yield Ledger(url, pool, EventStore(pool), Checkpointer(pool, KEY))
    finally:
        await pool.close()


async def seed(ledger: Ledger, ids: Ids, streams: int = 3, versions: int = 4) -> list[str]:
    """`streams` stock streams with `versions` events each, then a signed checkpoint of them."""
    names = [f"stock:{ids('SKU')}:WH" for _ in range(streams)]
    for version in range(versions):
        await ledger.store.append(
            [StreamWrite(s, version, (event(quantity=version + 1),)) for s in names]
        )
    await until_checkpoint_covers(ledger, streams * versions)
    return names


async def until_checkpoint_covers(ledger: Ledger, events: int) -> None:
    """Checkpoints cover only what is below the commit horizon, which is cluster-wide: another
    session's open transaction can hold it back for a moment, so wait for it (bounded)."""
    deadline = asyncio.get_running_loop().time() + 30  # generous, and only an upper bound
    while True:
        await ledger.checkpointer.write()
        if ledger.checkpointer.heads.count >= events:
            return
        assert asyncio.get_running_loop().time() < deadline, "commit horizon stuck"
        await asyncio.sleep(0.02)


async def tamper(ledger: Ledger, *statements: tuple[Any, ...]) -> None:
    """What a database superuser could do: switch the append-only trigger off, edit, back on."""
    async with ledger.pool.acquire() as conn:
        await edit_events(conn, *statements)


def found(report: IntegrityReport) -> list[tuple[str, str | None, int | None]]:
    return [(b.kind, b.stream_id, b.version) for b in report.breaks]


async def test_an_untouched_ledger_verifies(ledger: Ledger, ids: Ids) -> None:
    await seed(ledger, ids)
    report = await ledger.verify()
    assert report.ok, report.out()
    assert (report.events, report.streams) == (12, 3)
    assert report.checkpoints == len(await list_checkpoints(ledger.pool)) >= 1
    assert report.out()["breaks"] == []


async def test_an_edited_payload_is_named_by_stream_and_version(ledger: Ledger, ids: Ids) -> None:
    streams = await seed(ledger, ids)
    await tamper(
        ledger,
        (
            "UPDATE events SET data = jsonb_set(data, '{quantity}', '400') "
            "WHERE stream_id = $1 AND version = 3",
            streams[1],
        ),
    )
    report = await ledger.verify()
    assert found(report) == [("hash-mismatch", streams[1], 3)]
    assert not report.ok


async def test_a_deleted_version_is_named_and_contradicts_the_checkpoint(
    ledger: Ledger, ids: Ids
) -> None:
    streams = await seed(ledger, ids)
    await tamper(ledger, ("DELETE FROM events WHERE stream_id = $1 AND version = 2", streams[0]))
    report = await ledger.verify()
    assert found(report) == [
        ("missing-version", streams[0], 2),
        ("checkpoint-mismatch", None, None),
    ]
    assert "11 events" in report.breaks[1].detail


async def test_two_swapped_versions_are_named_at_the_first_of_them(
    ledger: Ledger, ids: Ids
) -> None:
    streams = await seed(ledger, ids)
    swap = "UPDATE events SET version = $2 WHERE stream_id = $1 AND version = $3"
    await tamper(
        ledger, (swap, streams[2], 99, 2), (swap, streams[2], 2, 3), (swap, streams[2], 3, 99)
    )
    report = await ledger.verify()
    assert found(report) == [("hash-mismatch", streams[2], 2)]


async def test_a_rewritten_stream_with_a_recomputed_chain_is_caught_by_the_checkpoint(
    ledger: Ledger, ids: Ids
) -> None:
    streams = await seed(ledger, ids)
    stored = await ledger.store.read_stream(streams[0])
    previous = stored[0].hash
    assert previous is not None
    rewrites: list[tuple[Any, ...]] = []
    for e in stored[1:]:
        data = {**e.data, "quantity": 1000}
        body = canonical(
            event_id=e.event_id,
            type=e.type,
            stream_id=e.stream_id,
            version=e.version,
            recorded_at=e.recorded_at,
            schema_version=e.schema_version,
            data=data,
            metadata=e.metadata,
        )
        previous = chain(previous, body)
        rewrites.append(
            (
                "UPDATE events SET data = $2, hash = $3 WHERE event_id = $1",
                e.event_id,
                data,
                previous,
            )
        )
    await tamper(ledger, *rewrites)
    report = await ledger.verify()
    assert found(report) == [("checkpoint-mismatch", None, None)]
    assert "different stream heads" in report.breaks[0].detail


async def test_forged_and_altered_checkpoints_are_reported(ledger: Ledger, ids: Ids) -> None:
    await seed(ledger, ids)
    real = (await list_checkpoints(ledger.pool))[-1]  # the one covering all 12 events
    at = datetime.now(UTC)
    forged = await ledger.pool.fetchval(
        "INSERT INTO audit_checkpoints (position, event_count, stream_count, digest, created_at, "
        "signature) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        real.position,
        real.event_count,
        real.stream_count,
        real.digest,
        at,
        sign(
            "not-the-key",
            signed_message(real.position, real.event_count, real.stream_count, real.digest, at),
        ),
    )
    report = await ledger.verify()
    assert [(b.kind, b.checkpoint_id) for b in report.breaks] == [("checkpoint-signature", forged)]
    async with ledger.pool.acquire() as conn, conn.transaction():
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE audit_checkpoints SET event_count = 1")
    async with ledger.pool.acquire() as conn, conn.transaction():  # a superuser, trigger off
        await conn.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
        await conn.execute("UPDATE audit_checkpoints SET event_count = 1 WHERE id = $1", real.id)
        await conn.execute("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER")
    report = await ledger.verify()
    assert [(b.kind, b.checkpoint_id) for b in report.breaks] == [
        ("checkpoint-signature", real.id),
        ("checkpoint-mismatch", real.id),
        ("checkpoint-signature", forged),
    ]
    without_key = await ledger.verify(key=None)
    assert {b.kind for b in without_key.breaks} >= {"checkpoint-signature"}


async def test_checkpoints_never_cover_an_uncommitted_event(ledger: Ledger, ids: Ids) -> None:
    await seed(ledger, ids, streams=1, versions=1)
    late_stream = f"stock:{ids('LATE')}:WH"
    late_id, late_at = uuid4(), datetime.now(UTC)
    body = canonical(
        event_id=late_id,
        type="StockReceived",
        stream_id=late_stream,
        version=1,
        recorded_at=late_at,
        schema_version=1,
        data={},
        metadata={},
    )
    conn = await ledger.pool.acquire()
    try:
        tx = conn.transaction()
        await tx.start()
        late_position = await conn.fetchval(  # takes its xid, and so its position, first
            "INSERT INTO events (position, event_id, stream_id, version, type, schema_version, "
            "data, metadata, recorded_at, correlation_id, hash) VALUES "
            "((pg_current_xact_id()::text::bigint << 16) + 1, $1, $2, 1, 'StockReceived', 1, "
            "'{}', '{}', $3, 'c', $4) RETURNING position",
            late_id,
            late_stream,
            late_at,
            chain(bytes(32), body),
        )
        early = f"stock:{ids('EARLY')}:WH"
        await ledger.store.append([StreamWrite(early, 0, (event(),))])  # commits first
        await ledger.checkpointer.write()
        assert ledger.checkpointer.heads.position < late_position
        assert late_stream not in ledger.checkpointer.heads.streams
        assert early not in ledger.checkpointer.heads.streams, "covered past an open writer"
        await tx.commit()
    finally:
        await ledger.pool.release(conn)
    await until_checkpoint_covers(ledger, 3)
    assert {late_stream, early} <= set(ledger.checkpointer.heads.streams)
    report = await ledger.verify()
    assert report.ok, report.out()
    assert report.checkpoints == len(await list_checkpoints(ledger.pool)) >= 2


async def test_one_stream_can_be_verified_alone(ledger: Ledger, ids: Ids) -> None:
    streams = await seed(ledger, ids)
    await tamper(ledger, ("DELETE FROM events WHERE stream_id = $1 AND version = 4", streams[1]))
    alone = await ledger.verify(streams[0])
    assert (alone.ok, alone.events, alone.streams, alone.checkpoints) == (True, 4, 1, 0)
    assert not (await ledger.verify()).ok  # the lost head contradicts the checkpoint


async def test_the_background_checkpointer_signs_after_m_events(ledger: Ledger, ids: Ids) -> None:
    writer = Checkpointer(ledger.pool, KEY, every_seconds=0.05, every_events=3)
    task = asyncio.create_task(writer.run())
    try:
        stream = f"stock:{ids('SKU')}:WH"
        await ledger.store.append([StreamWrite(stream, 0, (event(), event(), event()))])
        deadline = asyncio.get_running_loop().time() + 30
        while not await list_checkpoints(ledger.pool):
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint written"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
    [checkpoint] = await list_checkpoints(ledger.pool)
    assert (checkpoint.event_count, checkpoint.stream_count) == (3, 1)
    assert (await ledger.verify()).ok


async def test_cli_verify_audit_exits_non_zero_on_a_break(ledger: Ledger, ids: Ids) -> None:
    env = {"STOCKLEDGER_DATABASE_URL": ledger.url, "STOCKLEDGER_AUDIT_KEY": KEY}
    stream = f"stock:{ids('CLI')}:WH"
    await ledger.store.append([StreamWrite(stream, 0, (event(), event()))])
    runner = CliRunner()
    clean = await asyncio.to_thread(runner.invoke, cli, ["verify", "--audit"], env=env)
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["ok"] is True
    await tamper(ledger, ("DELETE FROM events WHERE stream_id = $1 AND version = 1", stream))
    broken = await asyncio.to_thread(runner.invoke, cli, ["verify", "--audit"], env=env)
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["breaks"] == [
        {
            "kind": "missing-version",
            "streamId": stream,
            "version": 1,
            "checkpointId": None,
            "detail": "version 1 is missing: the next stored version is 2",
        }
    ]
