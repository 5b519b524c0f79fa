"""Alembic environment: the URL comes from the settings (or `-x url=...`), run through asyncpg."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from stockledger.config import Settings
from stockledger.store.db import sqlalchemy_url


def _url() -> str:
    given = context.config.attributes.get("url")
    override = context.get_x_argument(as_dictionary=True).get("url")
    return sqlalchemy_url(given or override or Settings().require_database_url())


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=None)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


async def _migrate() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_migrate())
