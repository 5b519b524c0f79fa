"""The Redis stock projection: one hash per stock stream, written by a compare-and-set on
version (Lua), so a late or duplicate write can never take a level back in time.

Redis may lose everything (restarted without its data, or FLUSHDB). A hash that is there is
still right, but a SKU's warehouse set may be missing members, so the projection keeps a
`filled` key that only a complete fill sets: a flush removes it with the rest. Without it,
reads of a SKU's warehouses go to Postgres, and the projector refills every hash from the
Postgres read model (`refill`). A fill first stores a fresh token under `refilling` and marks
`filled` only if that token is still there at the end, so a flush during the fill is noticed
and the fill runs again.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from ..config import Settings
from ..domain.stock.state import Levels, StockLevel
from ..domain.streams import stock_stream
from ..metrics import REDIS_ERRORS

log = structlog.get_logger()

DEFAULT_PREFIX = "stockledger:"  # STOCKLEDGER_REDIS_PREFIX: deployments can share one Redis

# KEYS: stream hash, SKU's warehouse set. ARGV: version, onHand, reserved, inTransit, damaged,
# updatedAt, projectedAt, allow_equal (replay repairs a same-version drift), warehouseId,
# incoming, qualityControl, expired.
_CAS = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local next = tonumber(ARGV[1])
if current < next or (ARGV[8] == '1' and current == next) then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'onHand', ARGV[2], 'reserved', ARGV[3],
             'inTransit', ARGV[4], 'damaged', ARGV[5], 'updatedAt', ARGV[6],
             'projectedAt', ARGV[7], 'incoming', ARGV[10], 'qualityControl', ARGV[11],
             'expired', ARGV[12])
  redis.call('SADD', KEYS[2], ARGV[9])
  return 1
end
return 0
"""
# KEYS: refilling, filled. ARGV: the fill's token. Marks complete only the fill that began
# after the last loss (a flush in between removed the token).
_MARK_FILLED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Projected:
    """A level as a read model holds it, and when a projector last wrote it."""

    level: StockLevel
    projected_at: datetime


def redis_client(settings: Settings) -> aioredis.Redis | None:
    """The deployment's Redis client (keys prefixed by RedisStock), or None without Redis."""
    if not settings.redis_url:
        return None
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        health_check_interval=10,
    )


def level_key(prefix: str, sku: str, warehouse_id: str) -> str:
    """The Redis hash of one stock stream's levels."""
    return prefix + stock_stream(sku, warehouse_id)


class RedisStock:
    """Every key starts with `prefix` (STOCKLEDGER_REDIS_PREFIX)."""

    def __init__(self, client: aioredis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._cas = client.register_script(_CAS)
        self._mark_filled = client.register_script(_MARK_FILLED)
        self.pending: dict[str, StockLevel] = {}  # rows not yet written while Redis is down

    def level_key(self, sku: str, warehouse_id: str) -> str:
        return level_key(self.prefix, sku, warehouse_id)

    def sku_key(self, sku: str) -> str:
        """The set of the SKU's warehouses."""
        return f"{self.prefix}sku:{sku}"

    @property
    def filled_key(self) -> str:
        """Set by a complete fill; gone when Redis lost its data."""
        return f"{self.prefix}filled"

    async def filled(self) -> bool:
        """Raises RedisError/OSError when Redis is unreachable."""
        return bool(await self.client.exists(self.filled_key))

    async def refill(
        self, batches: AsyncGenerator[Sequence[StockLevel], None], *, allow_equal: bool = False
    ) -> bool:
        """Write every row `batches` yields, then mark the projection complete, unless Redis
        failed or was flushed meanwhile (False: nothing marked, try again later)."""
        token = uuid.uuid4().hex
        try:
            await self.client.set(f"{self.prefix}refilling", token)
        except (RedisError, OSError) as error:
            REDIS_ERRORS.inc()
            log.warning("redis refill cannot start", error=repr(error))
            return False
        async with contextlib.aclosing(batches):
            async for rows in batches:
                await self.write(rows, allow_equal=allow_equal)
                if self.pending:
                    return False  # Redis went away again; the next check starts over
        try:
            marked = await self._mark_filled(
                keys=[f"{self.prefix}refilling", self.filled_key], args=[token]
            )
        except (RedisError, OSError) as error:
            REDIS_ERRORS.inc()
            log.warning("redis refill cannot be marked", error=repr(error))
            return False
        return bool(marked)

    async def write(self, rows: Sequence[StockLevel], *, allow_equal: bool = False) -> None:
        """CAS-write rows (and any left over from an outage); keep them for later on failure."""
        for row in rows:
            kept = self.pending.get(row.stream_id)
            if kept is None or kept.version < row.version:
                self.pending[row.stream_id] = row
        if not self.pending:
            return
        batch = list(self.pending.values())
        now = datetime.now(UTC).isoformat()
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for row in batch:
                    assert row.updated_at is not None  # a row that is written has events
                    await self._cas(
                        keys=[self.level_key(row.sku, row.warehouse_id), self.sku_key(row.sku)],
                        args=[
                            row.version,
                            row.levels.on_hand,
                            row.levels.reserved,
                            row.levels.in_transit,
                            row.levels.damaged,
                            row.updated_at.isoformat(),
                            now,
                            "1" if allow_equal else "0",
                            row.warehouse_id,
                            row.levels.incoming,
                            row.levels.quality_control,
                            row.levels.expired,
                        ],
                        client=pipe,
                    )
                await pipe.execute()
        except (RedisError, OSError) as error:
            REDIS_ERRORS.inc()
            log.warning("redis write failed; will retry", rows=len(self.pending), error=repr(error))
            return
        for row in batch:
            if self.pending.get(row.stream_id) is row:
                del self.pending[row.stream_id]

    async def level(self, sku: str, warehouse_id: str) -> Projected | None:
        """Raises RedisError/OSError when Redis is unreachable (callers fall back)."""
        found = await self.client.hgetall(self.level_key(sku, warehouse_id))
        return _decode(sku, warehouse_id, found) if found else None

    async def sku_levels(self, sku: str) -> list[Projected] | None:
        """None when the projection is not complete (Redis lost its data and is being
        refilled): the SKU's warehouse set may lack members, so the caller reads Postgres."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.smembers(self.sku_key(sku))
            pipe.exists(self.filled_key)
            members, filled = await pipe.execute()
        if not filled:
            return None
        warehouses = sorted(_text(w) for w in members)
        async with self.client.pipeline(transaction=False) as pipe:
            for warehouse_id in warehouses:
                pipe.hgetall(self.level_key(sku, warehouse_id))
            found = await pipe.execute()
        return [_decode(sku, w, f) for w, f in zip(warehouses, found, strict=True) if f]


def _decode(sku: str, warehouse_id: str, fields: dict[Any, Any]) -> Projected:
    f = {_text(k): _text(v) for k, v in fields.items()}
    level = StockLevel(
        sku,
        warehouse_id,
        Levels(
            int(f["onHand"]),
            int(f["reserved"]),
            int(f["inTransit"]),
            int(f["damaged"]),
            int(f.get("incoming", 0)),  # hashes written before purchase orders lack both
            int(f.get("qualityControl", 0)),
            int(f.get("expired", 0)),  # and before lots, this one
        ),
        int(f["version"]),
        datetime.fromisoformat(f["updatedAt"]),
    )
    return Projected(level, datetime.fromisoformat(f["projectedAt"]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
