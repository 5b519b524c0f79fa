"""Ledgers of their own, for tests that tamper with events or must see the whole store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from stockledger.store.db import alembic_config


def _upgrade(url: str, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "heads") -> None:
    await asyncio.to_thread(_upgrade, url, revision)  # alembic's env runs its own event loop


@asynccontextmanager
async def fresh_database(server_url: str, revision: str = "heads") -> AsyncIterator[str]:
    """A new database on the test server, migrated to `revision`; dropped afterwards."""
    name = f"stockledger_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    try:
        await upgrade(url, revision)
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class Ledgers:
    """Copies of one migrated template database: a fresh ledger in ~0.3 s instead of ~2 s."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.template: str | None = None
        self.made: list[str] = []

    def url(self, name: str) -> str:
        return urlunsplit(urlsplit(self.server_url)._replace(path="/" + name))

    async def _admin(self, sql: str) -> None:
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    async def new(self) -> str:
        if self.template is None:
            template = f"stockledger_template_{uuid.uuid4().hex[:12]}"
            await self._admin(f'CREATE DATABASE "{template}"')
            self.made.append(template)
            await upgrade(self.url(template))
            self.template = template
        name = f"stockledger_test_{uuid.uuid4().hex[:12]}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return self.url(name)

    async def drop_all(self) -> None:
        """Concurrently: each DROP DATABASE waits for a checkpoint, and those coalesce."""
        copies = [n for n in self.made if n != self.template]
        await asyncio.gather(
            *(self._admin(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)') for n in copies)
        )
        if self.template is not None:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def ledgers(postgres_server: str) -> AsyncIterator[Ledgers]:
    """Fresh ledgers of their own (import this fixture into the test module)."""
    made = Ledgers(postgres_server)
    yield made
    await made.drop_all()
