"""What the rate limiter adds per request (server CPU), against the bare ASGI call it wraps.

    .venv/bin/python -m bench.limiter_cost

The limiter runs as in a server, on the machine's Redis (127.0.0.1:6379, or
STOCKLEDGER_REDIS_URL), with a limit far above the load (`orders=1000000/s:1000000`, as P1L):
1, 8 and 64 requests of one principal at a time (a server's requests arrive spread out, so
concurrent checks are fewer than its connections), each through `RateLimiter` into an app that
answers at once. Timed as process CPU (the Redis server's work is not counted, only what the
client side costs the API process), bare and limited alternately, best of `ROUNDS`."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from types import SimpleNamespace
from typing import Any

import redis.asyncio as aioredis

from stockledger.api.auth import PRINCIPAL, Principal
from stockledger.api.rate_limits import RateLimiter
from stockledger.config import Role, parse_rate_limits

REQUESTS, ROUNDS = 12_800, 5


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: Any) -> None:
    return None


async def _cpu_per_request(app: Any, services: Any, concurrency: int) -> float:
    principal = Principal("orders-svc", Role.ORDERS)
    application = SimpleNamespace(state=SimpleNamespace(services=services))

    async def one() -> None:
        scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/reservations"}
        scope |= {"headers": [], "state": {PRINCIPAL: principal}, "app": application}
        await app(scope, _receive, _send)

    start = time.process_time()
    for _ in range(REQUESTS // concurrency):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    return (time.process_time() - start) / REQUESTS


async def main() -> None:
    url = os.environ.get("STOCKLEDGER_REDIS_URL", "redis://127.0.0.1:6379/0")
    redis = aioredis.Redis.from_url(url)
    services = SimpleNamespace(redis=redis)
    limits = parse_rate_limits("orders=1000000/s:1000000")
    for concurrency in (1, 8, 64):
        limited = RateLimiter(_app, limits, prefix=f"limiter-cost-{uuid.uuid4().hex[:8]}:")
        timings: dict[str, list[float]] = {"bare": [], "limited": []}
        for _ in range(ROUNDS):
            timings["bare"].append(await _cpu_per_request(_app, services, concurrency))
            timings["limited"].append(await _cpu_per_request(limited, services, concurrency))
        bare, with_limits = min(timings["bare"]), min(timings["limited"])
        print(
            f"{concurrency:>2} at a time: bare {bare * 1e6:.1f} us, with the rate limiter "
            f"{with_limits * 1e6:.1f} us of CPU a request: the limiter adds "
            f"{(with_limits - bare) * 1e6:.1f} us (best of {ROUNDS} x {REQUESTS:,})"
        )
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
