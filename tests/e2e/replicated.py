"""A primary with a synchronous hot standby, and a migrated ledger on it, for the failover and
read-replica tests (skipped without the machine's Postgres binaries)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from stockledger.ops.local_services import replication
from stockledger.ops.local_services.replication import ReplicatedPostgres
from stockledger.store.db import migrate

needs_binaries = pytest.mark.skipif(
    not replication.available(), reason=f"no Postgres binaries in {replication.PG_BIN}"
)
DATABASE = "stockledger"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[ReplicatedPostgres, str]]:
    """The running pair and the ledger's URL naming both hosts (read-write)."""
    pg = ReplicatedPostgres(tmp_path / "pg")
    pg.start()
    try:
        asyncio.run(_create_database(pg.primary.url()))
        url = pg.url(DATABASE)
        migrate(url)
        pg.wait_replayed()  # the standby has the schema before a test reads there
        yield pg, url
    finally:
        pg.stop()


async def _create_database(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
