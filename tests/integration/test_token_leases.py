"""Leases of rate-limit tokens against a real Redis: what two processes sharing one bucket can
let through, held to the bound written in api/token_leases.py.

Two `Leases` are two processes here: they share nothing but the Redis bucket.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from stockledger.api.token_leases import Leases, lease_cap
from stockledger.config import RateLimit


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server)
    yield client
    await client.aclose()


async def _hammer(leases: Leases, key: str, limit: RateLimit, until: float) -> list[float]:
    """Spend as fast as the loop allows until `until`; the monotonic times of the passes."""
    passed = []
    while (now := time.monotonic()) < until:
        verdict = await leases.spend(key, limit)
        if verdict.allowed:
            passed.append(now)
        else:
            await asyncio.sleep(min(verdict.retry_seconds, 0.005))
    return passed


async def test_two_processes_never_pass_more_than_the_bucket_plus_one_lease_each(
    redis: aioredis.Redis, ids: Callable[[str], str]
) -> None:
    limit = RateLimit(rate=200, burst=64)  # leases of up to 4; the bucket refills in 0.32 s
    k = lease_cap(limit)
    assert k == 4
    key = ids("ratelimit")
    processes = [Leases(redis), Leases(redis)]
    start = time.monotonic()
    runs = await asyncio.gather(*(_hammer(p, key, limit, start + 1.5) for p in processes))
    elapsed = time.monotonic() - start
    passes = sorted(t for run in runs for t in run)

    # Over the whole run every pass used a token debited in Redis during the run.
    assert len(passes) <= limit.burst + limit.rate * elapsed + 1
    assert len(passes) >= limit.burst  # the burst at least, whatever the machine's load
    # In any window [a, b]: what the bucket allows in it, plus what each process held at a.
    for i, a in enumerate(passes):
        for span in (0.01, 0.05, 0.1, 0.25, 0.5):
            inside = bisect.bisect_right(passes, a + span) - i
            assert inside <= limit.burst + limit.rate * span + 1 + len(processes) * k, (a, span)


async def test_a_burst_split_over_two_processes_passes_whole_but_for_the_last_leases(
    redis: aioredis.Redis, ids: Callable[[str], str]
) -> None:
    limit = RateLimit(rate=0.01, burst=64)  # no token comes back while the test runs
    key = ids("ratelimit")
    processes = [Leases(redis), Leases(redis)]
    verdicts = await asyncio.gather(*(processes[n % 2].spend(key, limit) for n in range(300)))
    passed = sum(v.allowed for v in verdicts)
    # Never more than the burst; fewer only by what a process still holds when it is asked
    # no more (at most one lease each).
    assert limit.burst - 2 * lease_cap(limit) <= passed <= limit.burst
    refused = [v for v in verdicts if not v.allowed]
    assert all(v.remaining == 0 and 90 <= v.retry_seconds <= 100 for v in refused)

    again = await processes[0].spend(key, limit)  # refused from what this process knows
    assert not again.allowed
    assert 90 <= again.retry_seconds <= 100
