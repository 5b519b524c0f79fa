"""Connection pool and migrations."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg
import orjson

# The Alembic environment is package data (`stockledger/migrations/`), so an installed wheel
# migrates with no checkout around it; the top-level `migrations` of the repository is a
# symlink to it, and the top-level alembic.ini serves the `alembic` command in a checkout.
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
CONNECT_SECONDS = 4.0  # under the 5 s a command may take to be answered 503


def sqlalchemy_url(dsn: str) -> str:
    """A libpq/asyncpg DSN as SQLAlchemy's asyncpg URL. Several hosts
    (`postgresql://u@h1:5432,h2:5432/db`) become SQLAlchemy's `?host=h1:5432&host=h2:5432`."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            rest = dsn[len(prefix) :]
            break
    else:
        raise ValueError("STOCKLEDGER_DATABASE_URL must be a postgresql:// URL")
    parts = urlsplit("//" + rest)
    user, _, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return "postgresql+asyncpg://" + rest
    query = [*parse_qsl(parts.query), *(("host", h) for h in hosts.split(","))]
    login = f"{user}@" if user else ""
    return f"postgresql+asyncpg://{login}{parts.path}?{urlencode(query)}"


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def _keep_session(conn: asyncpg.Connection[Any]) -> None:
    """Pooled connections carry no session state (no LISTEN, session advisory lock or SET; the
    relay's lock and LISTEN live on a connection of its own), so asyncpg's reset query (RESET
    ALL, UNLISTEN *, unlock all, CLOSE ALL) is skipped: it cost one round trip on every release.
    asyncpg still rolls back a transaction left open before this is called."""


async def create_pool(dsn: str, size: int = 10, *, min_size: int = 1) -> asyncpg.Pool[Any]:
    pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=60,
        # A host that does not answer (a primary being replaced) costs a request at most this
        # long before the next host in the URL is tried, or the request is answered 503.
        timeout=CONNECT_SECONDS,
        server_settings={"DateStyle": "ISO, MDY"},  # timestamps as text (exports) are ISO
    )
    return pool


def alembic_config(dsn: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.cmd_opts = None
    config.attributes["url"] = dsn
    return config


def migrate(dsn: str) -> None:
    """`alembic upgrade heads` against this database (blocking; run before serving)."""
    from alembic import command

    command.upgrade(alembic_config(dsn), "heads")


@functools.cache
def head_revisions() -> frozenset[str]:
    """Every head of the migration graph (`alembic_version` holds one row per head)."""
    from alembic.script import ScriptDirectory

    return frozenset(
        ScriptDirectory.from_config(alembic_config("postgresql://unused/")).get_heads()
    )


# What a bulk load fills: the ledger, its per-event value deltas and the snapshots.
LEDGER_TABLES = ("events", "stock_values", "snapshots")


async def settle(
    pool: asyncpg.Pool[Any] | asyncpg.Connection[Any], tables: Sequence[str] = LEDGER_TABLES
) -> None:
    """VACUUM (ANALYZE) tables a bulk load has just filled (`seed`, `migrate`'s backfill).

    Freshly inserted rows have no planner statistics and pages the visibility map does not
    mark all-visible yet, so until autovacuum happens by, the reports' index-only scans over
    `events` and `stock_values` fetch the heap for every row: R1 (the movement report over a
    2,000,000-event ledger) took 7.93 s on a freshly seeded ledger, 1.75 s once autovacuum had
    visited it (bench/README.md). One pass right after the load leaves it as autovacuum would."""
    for table in tables:
        await pool.execute(f"VACUUM (ANALYZE) {table}")
