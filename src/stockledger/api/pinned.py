"""Where a read runs: the primary, or the hot standby of STOCKLEDGER_READ_DATABASE_URL.

History, time travel, the trails and the global feed read the standby (`on_replica`) unless
`consistency=strong` asks for the primary. The standby's commit horizon is read first, and the
answer reaches no event beyond it (`X-As-Of-Position` says which): what a standby shows is
what it had replayed, never more, and the same as the primary would show at that position.

Exports, reports and valuation reports read the events up to one position (`asOfPosition`,
`X-As-Of-Position`). A standby's commit horizon (`pg_snapshot_xmin(pg_current_snapshot())`,
as on the primary) is derived from the WAL it has replayed, so below it the standby holds
exactly what the primary held: a read pinned there gives the same answer on either. So the
standby serves every read it can (no asOfPosition: its own horizon, never beyond its replay;
an asOfPosition it has reached), and the primary the rest (an asOfPosition the standby has not
replayed yet, or a standby that does not answer). A primary that does not answer does not stop
what the standby can serve.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import asyncpg
import structlog

from ..audit.event_export import horizon
from ..read.sources import ReadSources
from ..wiring import Services
from .problems import Problem

log = structlog.get_logger()

REPLICA_SECONDS = 2.0  # a standby slower than this to say its horizon is passed over
REPLICA_DOWN = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
T = TypeVar("T")


class Pinned(NamedTuple):
    """The position a read is pinned to, and the pool that serves it."""

    position: int
    pool: asyncpg.Pool[Any]

    def reads(self, services: Services) -> ReadSources:
        """The read sources on the same server as `pool`."""
        if self.pool is services.replica and services.replica_reads is not None:
            return services.replica_reads
        return services.reads


async def pinned_position(
    services: Services, wanted: int | None, what: str = "an export", *, standby: bool = True
) -> Pinned:
    """`wanted`, or everything committed now, and where to read it; 422 when `wanted` is beyond
    the primary's commit horizon (exports and reports alike). `standby=False`: the primary's
    (for an answer read from the primary anyway)."""
    if services.replica is not None and standby:
        try:
            replayed = await asyncio.wait_for(horizon(services.replica), REPLICA_SECONDS)
        except REPLICA_DOWN as error:
            log.warning("read replica unavailable; reading the primary", error=repr(error))
        else:
            if wanted is None or wanted <= replayed:
                return Pinned(replayed if wanted is None else wanted, services.replica)
    committed = await horizon(services.pool)
    if wanted is None:
        return Pinned(committed, services.pool)
    if wanted > committed:
        raise Problem(
            422,
            "validation-error",
            f"asOfPosition {wanted} is beyond what has committed ({committed}): {what} "
            "there could still change",
            committedPosition=committed,
        )
    return Pinned(wanted, services.pool)


class Replicated(NamedTuple, Generic[T]):
    """An answer, and the position it reaches when a standby gave it (None: the primary)."""

    answer: T
    through: int | None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.through is None else {"X-As-Of-Position": str(self.through)}


async def on_replica(
    services: Services,
    consistency: Literal["eventual", "strong"],
    read: Callable[[ReadSources, int | None], Awaitable[T]],
) -> Replicated[T]:
    """`read` on the standby up to its commit horizon (the second argument), unless `strong`
    is asked or it does not answer: on the primary, unbounded (None)."""
    standby, standby_reads = services.replica, services.replica_reads
    if standby is not None and standby_reads is not None and consistency == "eventual":
        try:
            through = await asyncio.wait_for(horizon(standby), REPLICA_SECONDS)
            return Replicated(await read(standby_reads, through), through)
        except REPLICA_DOWN as error:
            log.warning("read replica unavailable; reading the primary", error=repr(error))
    return Replicated(await read(services.reads, None), None)
