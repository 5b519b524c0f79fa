"""Readiness of the services beside the primary (Redis, Kafka, a read replica), checked
cheaply with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError


async def kafka_reachable(servers: str) -> bool:
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        with contextlib.suppress(OSError, TimeoutError, ValueError):
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1)
            writer.close()
            return True
    return False


async def redis_checks(redis: aioredis.Redis | None) -> dict[str, str]:
    checks: dict[str, str] = {}
    if redis is not None:
        try:
            await asyncio.wait_for(redis.ping(), 1)
            checks["redis"] = "ok"
        except (RedisError, OSError, TimeoutError) as error:
            checks["redis"] = f"unreachable: {type(error).__name__} (reads use postgres)"
    return checks


async def replica_checks(replica: asyncpg.Pool[Any] | None) -> dict[str, str]:
    """The read replica (STOCKLEDGER_READ_DATABASE_URL), when there is one."""
    if replica is None:
        return {}
    try:
        await asyncio.wait_for(replica.fetchval("SELECT pg_is_in_recovery()"), 2)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        why = f"unreachable: {type(error).__name__} (exports and reports read the primary)"
        return {"replica": why}
    return {"replica": "ok"}
