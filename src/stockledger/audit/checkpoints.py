"""Signed checkpoints: the heads of every stream at a global position, under an HMAC.

A checkpoint covers every event with `position <= checkpoint.position` and no other. It
records how many events that is, how many streams, and `digest` = SHA-256 over one line per
stream, `"<streamId>:<version>:<hash hex>\\n"` for the stream's highest version in range, lines
sorted by streamId (byte order). `signature` = HMAC-SHA256 with STOCKLEDGER_AUDIT_KEY over the
UTF-8 string `"stockledger-checkpoint:<position>:<eventCount>:<streamCount>:<digest hex>:
<createdAt>"` (no line break; createdAt in the hash chain's fixed UTC format). Whoever rewrites
a stream, even with a recomputed chain, or removes its newest events, no longer matches the
signed digest without the key.

Commit order: positions are taken at INSERT and become visible at COMMIT (event_store.py), so a
checkpoint only ever covers events below the commit horizon (`pg_snapshot_xmin`), exactly like
the global feed. Below it every transaction has finished, so no event can ever appear at or
below a signed position later.

Cost: each process keeps the heads in memory and reads only the events that are new since its
last checkpoint; its first one reads every event once (10,000 at a time, in the background).
One process at a time writes (an advisory lock); a checkpoint that would not cover anything new
is skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from ..store.hashchain import canonical_time
from ..write.ledger import utcnow

log = structlog.get_logger()

_LOCK = 0x5E1F_C0DE  # advisory lock: one checkpoint writer at a time across processes
_CHUNK = 10_000
_HORIZON = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)"
_BELOW_HORIZON = (
    "SELECT position, stream_id, version, hash FROM events "
    f"WHERE position > $1 AND position < {_HORIZON} ORDER BY position LIMIT $2"
)
_PENDING = (
    "SELECT count(*) FROM (SELECT 1 FROM events "
    f"WHERE position > $1 AND position < {_HORIZON} LIMIT $2) t"
)
_COLUMNS = "id, position, event_count, stream_count, digest, created_at, signature"


def heads_digest(heads: dict[str, tuple[int, bytes]]) -> bytes:
    digest = hashlib.sha256()
    for stream_id in sorted(heads, key=str.encode):
        version, link = heads[stream_id]
        digest.update(f"{stream_id}:{version}:{link.hex()}\n".encode())
    return digest.digest()


def signed_message(
    position: int, event_count: int, stream_count: int, digest: bytes, created_at: datetime
) -> bytes:
    return (
        f"stockledger-checkpoint:{position}:{event_count}:{stream_count}:{digest.hex()}:"
        f"{canonical_time(created_at)}"
    ).encode()


def sign(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    position: int
    event_count: int
    stream_count: int
    digest: bytes
    created_at: datetime
    signature: bytes

    def message(self) -> bytes:
        return signed_message(
            self.position, self.event_count, self.stream_count, self.digest, self.created_at
        )

    def out(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "position": self.position,
            "eventCount": self.event_count,
            "streamCount": self.stream_count,
            "digest": self.digest.hex(),
            "createdAt": self.created_at.isoformat(),
            "signature": self.signature.hex(),
        }


@dataclass(slots=True)
class Heads:
    """Every stream's head among the events up to `position`, advanced in position order."""

    position: int = 0
    count: int = 0
    streams: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def apply(self, position: int, stream_id: str, version: int, link: bytes) -> None:
        self.position = position
        self.count += 1
        if version > self.streams.get(stream_id, (0, b""))[0]:
            self.streams[stream_id] = (version, link)


async def list_checkpoints(
    pool: asyncpg.Pool[Any], after: int = 0, limit: int = 100
) -> list[Checkpoint]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2",
        after,
        limit,
    )
    return [Checkpoint(*row.values()) for row in rows]


class Checkpointer:
    """Writes a signed checkpoint every `every_seconds` (if anything landed) or `every_events`."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        key: str,
        *,
        every_seconds: float = 300.0,
        every_events: int = 10_000,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.pool = pool
        self.key = key
        self.every_seconds = every_seconds
        self.every_events = every_events
        self.clock = clock
        self.heads = Heads()  # this process's running heads; caught up before each checkpoint
        self._writing = asyncio.Lock()  # one catch-up at a time, or events would count twice

    async def write(self) -> Checkpoint | None:
        """Sign a checkpoint of everything below the commit horizon; None if nothing is new."""
        async with self._writing:
            return await self._write()

    async def _write(self) -> Checkpoint | None:
        while len(rows := await self.pool.fetch(_BELOW_HORIZON, self.heads.position, _CHUNK)):
            for row in rows:
                self.heads.apply(*row.values())
            if len(rows) < _CHUNK:
                break
        heads = self.heads
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _LOCK):
                return None  # another process is writing one right now
            newest = await conn.fetchval("SELECT max(position) FROM audit_checkpoints")
            if newest is not None and newest >= heads.position:
                return None
            digest = heads_digest(heads.streams)
            at = self.clock()
            message = signed_message(heads.position, heads.count, len(heads.streams), digest, at)
            row = await conn.fetchrow(
                "INSERT INTO audit_checkpoints (position, event_count, stream_count, digest, "
                f"created_at, signature) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
                heads.position,
                heads.count,
                len(heads.streams),
                digest,
                at,
                sign(self.key, message),
            )
        assert row is not None
        checkpoint = Checkpoint(*row.values())
        log.info("audit checkpoint", position=checkpoint.position, events=checkpoint.event_count)
        return checkpoint

    async def due(self) -> bool:
        """M events landed since the newest checkpoint, or any did and N seconds passed."""
        newest = await self.pool.fetchrow(
            "SELECT position, created_at FROM audit_checkpoints ORDER BY position DESC LIMIT 1"
        )
        since = newest["position"] if newest else 0
        pending: int = await self.pool.fetchval(_PENDING, since, self.every_events)
        if pending >= self.every_events:
            return True
        age = (self.clock() - newest["created_at"]).total_seconds() if newest else float("inf")
        return pending > 0 and age >= self.every_seconds

    async def run(self) -> None:
        while True:
            await asyncio.sleep(min(self.every_seconds, 1.0))
            try:
                if await self.due():
                    await self.write()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("audit checkpoint failed", error=repr(error))
