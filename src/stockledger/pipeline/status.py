"""Signals that tell the truth when something is wrong: outbox gauges, role reports, /ready.

The outbox gauges are measured by every `serve` process on its own (a sampler, one cheap query
a second), never by the relay, so they stay true when the relay is down, stuck or elsewhere.
The elected roles (relay, projector, verifier) upsert a row in `pipeline_status` every few
seconds with their lag and their problem, if any; a row that stops moving means nobody leads
that role. `/ready` in any process reads the same rows, so every replica says the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import structlog

from ..config import Settings
from ..metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from .leader import RELAY_LOCK

log = structlog.get_logger()

REPORT_EVERY_SECONDS = 2.0
STALE_AFTER_SECONDS = 15.0  # a role whose report is older than this has no leader at work

# The oldest outbox row by its primary key (an index probe), then its event's time; the count
# is an index-only scan of the outbox's primary key.
_OUTBOX = """
SELECT (SELECT count(*) FROM outbox) AS backlog,
       (SELECT e.recorded_at FROM events e
        WHERE e.position = (SELECT min(position) FROM outbox)) AS oldest
"""

_REPORT = """
INSERT INTO pipeline_status (role, lag_seconds, problem, details, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (role) DO UPDATE SET lag_seconds = EXCLUDED.lag_seconds,
    problem = EXCLUDED.problem, details = EXCLUDED.details, updated_at = EXCLUDED.updated_at
"""

_READ = """
SELECT (SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
         AS relay_leaders,
       (SELECT count(*) FROM parked_streams) AS parked,
       (SELECT coalesce(json_object_agg(role, json_build_object(
            'lag', lag_seconds, 'problem', problem, 'details', details,
            'age', extract(epoch FROM now() - updated_at))), '{}')
        FROM pipeline_status) AS roles
"""


async def report(
    pool: asyncpg.Pool[Any],
    role: str,
    *,
    lag_seconds: float = 0.0,
    problem: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Say how an elected role is doing (best effort: a failed report is only logged)."""
    try:
        await pool.execute(_REPORT, role, lag_seconds, problem, details or {})
    except (OSError, asyncpg.PostgresError) as error:
        log.warning("status report failed", role=role, error=repr(error))


class Every:
    """A throttle for a role's routine reports: `due()` at most once per period, at once after
    `now()` (a problem was just reported, so the recovery must not wait)."""

    def __init__(self, seconds: float = REPORT_EVERY_SECONDS) -> None:
        self.seconds = seconds
        self._last = -seconds

    def due(self) -> bool:
        if time.monotonic() - self._last <= self.seconds:
            return False
        self._last = time.monotonic()
        return True

    def now(self) -> None:
        self._last = -self.seconds


@dataclass
class Outbox:
    backlog: int = 0
    oldest_age_seconds: float = 0.0


class OutboxSampler:
    """Keeps the outbox gauges true, once a second; /ready takes a fresh `sample()`."""

    def __init__(self, pool: asyncpg.Pool[Any], every_seconds: float = 1.0) -> None:
        self.pool = pool
        self.every_seconds = every_seconds

    async def sample(self) -> Outbox:
        row = await self.pool.fetchrow(_OUTBOX)
        assert row is not None
        oldest: datetime | None = row["oldest"]
        age = max((datetime.now(UTC) - oldest).total_seconds(), 0.0) if oldest else 0.0
        OUTBOX_BACKLOG.set(row["backlog"])
        OUTBOX_OLDEST_AGE.set(age)
        return Outbox(row["backlog"], age)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self.sample()
            await asyncio.sleep(self.every_seconds)


async def pipeline_readiness(
    pool: asyncpg.Pool[Any], settings: Settings, outbox: Outbox, kafka_reachable: bool
) -> dict[str, str]:
    """What is wrong with the pipeline, check by check ("ok" when nothing is)."""
    row = await asyncio.wait_for(pool.fetchrow(_READ, RELAY_LOCK), 2)
    assert row is not None
    roles: dict[str, Any] = orjson.loads(row["roles"])
    checks: dict[str, str] = {}
    max_age = settings.ready_max_outbox_age_seconds
    relay = roles.get("relay") or {}
    if not kafka_reachable:
        checks["kafka"] = "unreachable (events wait in the outbox)"
    elif relay.get("problem") and relay["age"] <= STALE_AFTER_SECONDS:
        checks["kafka"] = f"not publishing: {relay['problem']}"
    elif outbox.oldest_age_seconds > max_age:
        checks["kafka"] = "not publishing: events are not leaving the outbox"
    else:
        checks["kafka"] = "ok"
    checks["outbox"] = (
        "ok"
        if outbox.oldest_age_seconds <= max_age
        else f"oldest unpublished event is {outbox.oldest_age_seconds:.0f} s old, backlog "
        f"{outbox.backlog:,} (STOCKLEDGER_READY_MAX_OUTBOX_AGE_SECONDS={max_age:g})"
    )
    checks["relay"] = "ok" if row["relay_leaders"] > 0 else "no relay leader holds the lock"
    checks["projector"] = _projector(roles.get("projector"), settings)
    checks["projections"] = _projections(row["parked"], roles.get("verifier"))
    return checks


def _projector(status: dict[str, Any] | None, settings: Settings) -> str:
    max_lag = settings.ready_max_projection_lag_seconds
    if status is None or status["age"] > STALE_AFTER_SECONDS:
        return "no projector is reporting (none elected, or it cannot reach Kafka)"
    if status["lag"] > max_lag:
        return (
            f"projections are {status['lag']:.0f} s behind the topic "
            f"(STOCKLEDGER_READY_MAX_PROJECTION_LAG_SECONDS={max_lag:g})"
        )
    return "ok"


def _projections(parked: int, verifier: dict[str, Any] | None) -> str:
    problems = []
    if parked:
        problems.append(f"{parked} parked stream(s) (see parked_streams)")
    if verifier and verifier.get("problem") and verifier["age"] <= STALE_AFTER_SECONDS * 4:
        problems.append(verifier["problem"])
    return "; ".join(problems) or "ok"
