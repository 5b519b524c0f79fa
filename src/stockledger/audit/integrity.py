"""Recompute every hash chain and every signed checkpoint; name the first break of each stream.

Both passes read one REPEATABLE READ snapshot, so appends running meanwhile cannot confuse
them. Chains: every stream in version order; versions must run 1, 2, 3, ... and each stored
hash must equal sha256(stored hash of the version before || canonical bytes), so an edited
payload, a deleted version or two swapped versions are named by stream and version. A stream
is not checked past its first break. Checkpoints: the events in position order, the heads
recomputed at each checkpoint's position and compared with what was signed, and the signature
checked with the key. Cost: one pass over the events per check (minutes for millions).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from ..config import Settings
from ..store.hashchain import GENESIS, canonical, chain
from ..wiring import open_services
from .checkpoints import Checkpoint, Heads, heads_digest, sign

MAX_BREAKS = 100  # reported; the count of all of them is still exact
_PREFETCH = 2000
_CHAINS = (
    "SELECT event_id, type, stream_id, version, recorded_at, schema_version, data, metadata, hash "
    "FROM events WHERE ($1::text IS NULL OR stream_id = $1) ORDER BY stream_id, version"
)
_HEADS = (
    "SELECT position, stream_id, version, hash FROM events WHERE position <= $1 ORDER BY position"
)


@dataclass(frozen=True, slots=True)
class Break:
    kind: str  # hash-mismatch | missing-version | checkpoint-mismatch | checkpoint-signature
    detail: str
    stream_id: str | None = None
    version: int | None = None
    checkpoint_id: int | None = None

    def out(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "streamId": self.stream_id,
            "version": self.version,
            "checkpointId": self.checkpoint_id,
            "detail": self.detail,
        }


@dataclass(slots=True)
class IntegrityReport:
    """What `verify_integrity` recomputed, and the breaks it found (the first 100 listed)."""

    events: int = 0
    streams: int = 0
    checkpoints: int = 0
    breaks: list[Break] = field(default_factory=list)
    break_count: int = 0

    @property
    def ok(self) -> bool:
        return self.break_count == 0

    def add(self, found: Break) -> None:
        self.break_count += 1
        if len(self.breaks) < MAX_BREAKS:
            self.breaks.append(found)

    def out(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "eventsChecked": self.events,
            "streamsChecked": self.streams,
            "checkpointsChecked": self.checkpoints,
            "breakCount": self.break_count,
            "breaks": [b.out() for b in self.breaks],
        }


async def verify_integrity(
    pool: asyncpg.Pool[Any], key: str | None, stream: str | None = None
) -> IntegrityReport:
    """Check every chain (or only `stream`'s) and, for the whole store, every checkpoint."""
    report = IntegrityReport()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await _chains(conn, stream, report)
        if stream is None:
            await _checkpoints(conn, key, report)
    return report


async def verify_database_integrity(
    settings: Settings, stream: str | None = None
) -> IntegrityReport:
    """`verify_integrity` on the CLI's own connections."""
    async with open_services(settings, pool_size=2) as services:
        return await verify_integrity(services.pool, services.audit_key, stream)


async def _chains(conn: Any, stream: str | None, report: IntegrityReport) -> None:
    current, expected, previous, broken = None, 1, GENESIS, False
    async for row in conn.cursor(_CHAINS, stream, prefetch=_PREFETCH):
        report.events += 1
        if row["stream_id"] != current:
            current, expected, previous, broken = row["stream_id"], 1, GENESIS, False
            report.streams += 1
        if broken:
            continue
        found = _link_break(row, expected, previous)
        if found is not None:
            report.add(found)
            broken = True
            continue
        expected, previous = expected + 1, row["hash"]


def _link_break(row: asyncpg.Record, expected: int, previous: bytes) -> Break | None:
    stream_id, version = row["stream_id"], row["version"]
    if version != expected:
        return Break(
            "missing-version",
            f"version {expected} is missing: the next stored version is {version}",
            stream_id,
            expected,
        )
    try:
        body = canonical(
            event_id=row["event_id"],
            type=row["type"],
            stream_id=stream_id,
            version=version,
            recorded_at=row["recorded_at"],
            schema_version=row["schema_version"],
            data=row["data"],
            metadata=row["metadata"],
        )
    except (TypeError, ValueError) as error:
        return Break("hash-mismatch", f"content is not canonical JSON: {error}", stream_id, version)
    if not hmac.compare_digest(chain(previous, body), bytes(row["hash"])):
        return Break(
            "hash-mismatch",
            "the stored hash does not match this event's content chained on the version before",
            stream_id,
            version,
        )
    return None


async def _checkpoints(conn: Any, key: str | None, report: IntegrityReport) -> None:
    rows = await conn.fetch(
        "SELECT id, position, event_count, stream_count, digest, created_at, signature "
        "FROM audit_checkpoints ORDER BY position, id"
    )
    pending = [Checkpoint(*r.values()) for r in rows]
    if not pending:
        return
    heads = Heads()
    async for row in conn.cursor(_HEADS, pending[-1].position, prefetch=_PREFETCH):
        while pending and row["position"] > pending[0].position:
            _check(pending.pop(0), heads, key, report)
        heads.apply(*row.values())
    for checkpoint in pending:
        _check(checkpoint, heads, key, report)


def _check(checkpoint: Checkpoint, heads: Heads, key: str | None, report: IntegrityReport) -> None:
    report.checkpoints += 1
    if key is None:
        report.add(
            Break(
                "checkpoint-signature",
                "no STOCKLEDGER_AUDIT_KEY: the signature cannot be checked",
                checkpoint_id=checkpoint.id,
            )
        )
    elif not hmac.compare_digest(sign(key, checkpoint.message()), checkpoint.signature):
        report.add(
            Break(
                "checkpoint-signature",
                f"checkpoint {checkpoint.id} (position {checkpoint.position}) is not signed "
                "with the audit key: forged or altered",
                checkpoint_id=checkpoint.id,
            )
        )
    actual = (heads.count, len(heads.streams), heads_digest(heads.streams))
    if actual != (checkpoint.event_count, checkpoint.stream_count, checkpoint.digest):
        report.add(
            Break(
                "checkpoint-mismatch",
                f"checkpoint {checkpoint.id} signed {checkpoint.event_count} events in "
                f"{checkpoint.stream_count} streams up to position {checkpoint.position}; the "
                f"store now has {actual[0]} events in {actual[1]} streams there"
                + ("" if actual[2] == checkpoint.digest else ", with different stream heads"),
                checkpoint_id=checkpoint.id,
            )
        )
