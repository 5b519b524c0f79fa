"""Background work that runs once per deployment, however many processes serve.

`serve --workers N`, several machines behind a load balancer, or a `relay` beside them: each
process runs every background role's standby loop, and one per database leads it. Leadership
is a *session* advisory lock held on a connection of its own, so it ends exactly when that
session does: a process that dies or loses its connection lets go at once, and a standby
takes over on its next try (every `standby_seconds`). The locks use Postgres' two-int key
space, apart from the one-bigint keys of the stream locks (store/event_store.py); the relay
keeps its historic one-bigint key (RELAY_LOCK).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import asyncpg
import structlog

from ..metrics import LEADER

log = structlog.get_logger()

ROLE_LOCKS = {
    "expiry": 1,
    "checkpoints": 2,
    "projector": 3,
    "verifier": 4,
    "webhooks": 5,
}  # pg_advisory_lock(CLASS, n)
CLASS = 0x53544C47  # "STLG"

Work: TypeAlias = "Callable[[asyncpg.Connection[Any]], Awaitable[None]]"

# No primary to lead on: none answers, the session was cut, or only a standby is up (the URL
# may list several hosts with target_session_attrs=read-write). The lock lived in the session,
# so a new primary has no holder, and whoever connects to it first leads.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # no read-write host; a connection cut mid-reply
)
CONNECT_SECONDS = 3.0


RELAY_LOCK = 0x5354_4F43_4B4C_4447  # "STOCKLDG": one relay per database


def _lock_sql(role: str) -> tuple[str, tuple[int, ...]]:
    if role == "relay":
        return "SELECT pg_try_advisory_lock($1)", (RELAY_LOCK,)
    return "SELECT pg_try_advisory_lock($1, $2)", (CLASS, ROLE_LOCKS[role])


async def lead(
    dsn: str,
    role: str,
    work: Work,
    *,
    standby_seconds: float = 1.0,
    watch: bool = True,
    errors: tuple[type[BaseException], ...] = (),
) -> None:
    """Stand by until this process holds `role`'s lock, run `work(conn)` while it does.

    With `watch`, the session is pinged every `standby_seconds` and `work` is cancelled the
    moment it is lost (work that uses the connection itself passes watch=False and must fail
    when it goes). `errors` are further exceptions that end a term of leadership (logged)."""
    sql, args = _lock_sql(role)
    ending: tuple[type[BaseException], ...] = (*UNREACHABLE, *errors)
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=CONNECT_SECONDS)
        except UNREACHABLE as error:
            log.warning("leader election cannot reach postgres", role=role, error=repr(error))
            await asyncio.sleep(standby_seconds)
            continue
        try:
            if await conn.fetchval(sql, *args):
                log.info("leading", role=role)
                LEADER.labels(role).set(1)
                await (_watched(conn, work, standby_seconds) if watch else work(conn))
        except ending as error:
            log.warning("stepped down", role=role, error=repr(error))
        finally:
            LEADER.labels(role).set(0)
            with contextlib.suppress(Exception):
                await conn.close()  # closing the session releases the lock
        await asyncio.sleep(standby_seconds)


async def _watched(conn: asyncpg.Connection[Any], work: Work, every: float) -> None:
    task = asyncio.ensure_future(work(conn))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=every)
            if not task.done():
                await asyncio.wait_for(conn.execute("SELECT 1"), every * 5)  # still ours?
        task.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
