"""Rate limits per principal, shared by every process of the deployment (kept in Redis).

Each principal of a limited role has a token bucket (`STOCKLEDGER_RATE_LIMITS`: `rate` a
second, at most `burst` at once) in Redis, which each process spends through leases of tokens
taken a batch at a time (`token_leases.py`, where the bound on what that costs in accuracy is
written down): a request costs a Redis round trip only when its process's lease is spent.

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

import math
import time

import structlog
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import RateLimit, Role
from .auth import PRINCIPAL, Principal
from .problems import problem_response
from .token_leases import Leases, Verdict

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
        self._leases: Leases | None = None
        self._paused_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = (
            scope.get("state", {}).get(PRINCIPAL) if scope["type"] == "http" else None
        )
        limit = self.limits.get(principal.role) if principal is not None else None
        if principal is None or limit is None or not limited(scope["path"]):
            await self.app(scope, receive, send)
            return
        verdict = await self._spend(scope, principal, limit)
        if verdict is None:
            await self.app(scope, receive, send)
            return
        headers = {
            "RateLimit-Limit": str(limit.burst),
            "RateLimit-Remaining": str(verdict.remaining),
            "RateLimit-Reset": str(max(0, math.ceil(verdict.reset_seconds))),
        }
        if not verdict.allowed:
            REFUSED.labels(principal.role.value).inc()
            retry_after = max(1, math.ceil(verdict.retry_seconds))
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

    async def _spend(self, scope: Scope, principal: Principal, limit: RateLimit) -> Verdict | None:
        """The request's verdict, or None when Redis did not give one (the request passes)."""
        if time.monotonic() < self._paused_until:
            ERRORS.inc()
            return None
        if self._leases is None:
            self._leases = Leases(scope["app"].state.services.redis)
        key = f"{self.prefix}{principal.role.value}:{principal.name}"
        try:
            return await self._leases.spend(key, limit)
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
