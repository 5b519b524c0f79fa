"""Rate limits per principal, shared by every process of the deployment (kept in Redis).

Each principal of a limited role has a token bucket (`STOCKLEDGER_RATE_LIMITS`: `rate` a
second, at most `burst` at once), kept as GCRA: one number per principal, its theoretical
arrival time (TAT), read, compared and moved by one Lua script, so a request costs at most one
Redis round trip (concurrent requests share one: `Buckets`) and two processes cannot both spend
the last token. The clock is Redis's (`TIME`), so processes on hosts whose clocks disagree
still share one budget.

The check runs after `Authenticate` (it needs the principal) and before any route, so a refused
request has decided nothing and appended nothing. Answers carry `RateLimit-Limit` (the burst),
`RateLimit-Remaining` (requests that would pass now) and `RateLimit-Reset` (seconds until the
bucket is full again), the fields of the IETF httpapi draft; a 429 adds `Retry-After`.

Redis away or slow: the request passes (fail open), counted in
`stockledger_rate_limit_errors_total` and logged at most once per `PAUSE_SECONDS`, during which
Redis is not asked again. The limiter protects capacity; refusing every order because the
limiter's store is down would turn a Redis outage into a ledger outage, while the ledger's
own guarantees (versions, idempotency) never depend on it.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import RateLimit, Role
from .auth import PRINCIPAL, Principal
from .problems import problem_response

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = structlog.get_logger()

REFUSED = Counter(
    "stockledger_rate_limited_total", "Requests refused (429) by a rate limit", ["role"]
)
ERRORS = Counter(
    "stockledger_rate_limit_errors_total",
    "Requests let through unchecked because Redis did not answer the rate limiter",
)

PAUSE_SECONDS = 1.0  # after a Redis error, let requests through unchecked this long
UNLIMITED_PATHS = frozenset({"/health", "/ready", "/metrics", "/asyncapi.json", "/openapi.json"})
UNLIMITED_PREFIXES = ("/docs", "/redoc", "/ui")

# KEYS: one bucket per request of the batch, the principal's TAT (microseconds on Redis's
# clock); ARGV: per request, the emission interval (microseconds a token takes to come back)
# and the burst. Returns, per request in order: allowed, remaining, microseconds until a
# request would pass, microseconds until the bucket is full. Requests of one batch on one key
# see each other's spending: the script runs them one after the other, atomically.
GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local answers = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - tolerance > now then
    table.insert(answers, {0, 0, new_tat - tolerance - now, tat - now})
  else
    local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
    redis.call('SET', key, string.format('%d', new_tat), 'PX', ttl_ms)
    local remaining = math.floor((now + tolerance - new_tat) / interval)
    table.insert(answers, {1, remaining, 0, new_tat - now})
  end
end
return answers
"""

Answer = tuple[int, int, int, int]


class Buckets:
    """Spends tokens in Redis, coalescing the checks of concurrent requests: while one script
    call is on the wire, the checks that arrive wait for the next one, which carries them all
    (as the ledger's group commit does for appends). Each request is still decided on its own,
    atomically, in arrival order; a request costs at most one round trip, and under load the
    client's per-command cost (~75-120 us of CPU in redis-py) is shared by the batch."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.script = redis.register_script(GCRA)
        self.pending: list[tuple[str, int, int, asyncio.Future[Answer]]] = []
        self.flushing = False
        self.task: asyncio.Task[None] | None = None  # held: the loop keeps weak references

    async def spend(self, key: str, interval_us: int, burst: int) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.pending.append((key, interval_us, burst, future))
        if not self.flushing:
            self.flushing = True
            self.task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                args: list[int] = []
                for _, interval_us, burst, _ in batch:
                    args += (interval_us, burst)
                try:
                    answers = await self.script(keys=[b[0] for b in batch], args=args)
                except BaseException as error:  # every waiter learns it (the caller decides)
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (*_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        a, r, w, f = (int(x) for x in answer)
                        future.set_result((a, r, w, f))
        finally:
            self.flushing = False


def limited(path: str) -> bool:
    """Whether a path counts against a budget (operations and documentation never do)."""
    return path not in UNLIMITED_PATHS and not path.startswith(UNLIMITED_PREFIXES)


class RateLimiter:
    """ASGI middleware, inside `Authenticate`: spends a token of the request's principal,
    answers 429 when none is left, and adds the RateLimit-* headers either way."""

    def __init__(self, app: ASGIApp, limits: dict[Role, RateLimit], prefix: str) -> None:
        self.app = app
        self.limits = limits
        self.prefix = prefix + "ratelimit:"
        self._buckets: Buckets | None = None
        self._paused_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = (
            scope.get("state", {}).get(PRINCIPAL) if scope["type"] == "http" else None
        )
        limit = self.limits.get(principal.role) if principal is not None else None
        if principal is None or limit is None or not limited(scope["path"]):
            await self.app(scope, receive, send)
            return
        answer = await self._spend(scope, principal, limit)
        if answer is None:
            await self.app(scope, receive, send)
            return
        allowed, remaining, retry_us, reset_us = answer
        headers = {
            "RateLimit-Limit": str(limit.burst),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(math.ceil(reset_us / 1_000_000)),
        }
        if not allowed:
            REFUSED.labels(principal.role.value).inc()
            retry_after = max(1, math.ceil(retry_us / 1_000_000))
            detail = (
                f"{principal.name} ({principal.role.value}) may send {limit.rate:g} requests a "
                f"second, {limit.burst} at once; retry in {retry_after} s"
            )
            headers["Retry-After"] = str(retry_after)
            await problem_response(429, "rate-limited", detail, scope["path"], headers)(
                scope, receive, send
            )
            return
        extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _spend(self, scope: Scope, principal: Principal, limit: RateLimit) -> Answer | None:
        """The script's answer, or None when Redis did not give one (the request passes)."""
        if time.monotonic() < self._paused_until:
            ERRORS.inc()
            return None
        redis: aioredis.Redis = scope["app"].state.services.redis
        if self._buckets is None:
            self._buckets = Buckets(redis)
        key = f"{self.prefix}{principal.role.value}:{principal.name}"
        try:
            return await self._buckets.spend(key, round(1_000_000 / limit.rate), limit.burst)
        except (RedisError, OSError) as error:
            ERRORS.inc()
            if time.monotonic() < self._paused_until:
                return None  # another request of the same batch has paused and logged it
            self._paused_until = time.monotonic() + PAUSE_SECONDS
            log.warning(
                "rate limits unchecked: Redis did not answer",
                error=repr(error),
                paused_seconds=PAUSE_SECONDS,
            )
            return None
