"""What the HTTP metrics middleware adds per request, against the bare ASGI call it wraps.

    .venv/bin/python -m bench.middleware_cost

Both are timed in the same run, alternately; the route template is already cached (as after
the first request of a route)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from stockledger.api.middleware import HttpMetrics

REQUESTS = 200_000


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: Any) -> None:
    return None


def _endpoint() -> None:
    return None


async def main() -> None:
    wrapped = HttpMetrics(_app)
    wrapped._templates[_endpoint] = "/v1/stock/{sku}/{warehouse_id}"
    scope = {"type": "http", "method": "GET", "path": "/v1/stock/A/B", "endpoint": _endpoint}
    timings: dict[str, list[float]] = {"bare": [], "with HttpMetrics": []}
    for _ in range(2):
        for name, target in (("bare", _app), ("with HttpMetrics", wrapped)):
            started = time.perf_counter()
            for _ in range(REQUESTS):
                await target(dict(scope), _receive, _send)
            timings[name].append((time.perf_counter() - started) / REQUESTS * 1e6)
    bare, metered = min(timings["bare"]), min(timings["with HttpMetrics"])
    print(
        f"bare ASGI call {bare:.2f} us, with HttpMetrics {metered:.2f} us: +{metered - bare:.2f} us"
    )


if __name__ == "__main__":
    asyncio.run(main())
