"""CPU per request of the HTTP stack, in process: the real `create_app()` (middleware, auth,
routing, parameter and body validation, the route, the response) with the ledger and the stock
reader answering a constant, against a bare Starlette route that takes only `Request` and
returns the same bytes. No sockets, no uvicorn, no I/O: what the stack itself costs.

    .venv/bin/python -m bench.stack_cost

Each case runs alternately with its ceiling, best of 3 rounds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stockledger.api.app import create_app
from stockledger.api.present import reservation_command_out
from stockledger.config import Settings
from stockledger.domain.reservation.state import ReservationState, ReservationStatus
from stockledger.domain.stock.state import Levels, StockLevel
from stockledger.write.ledger import Answer, Outcome

REQUESTS = 20_000
KEY = "bench-key"
RESERVE = orjson.dumps(
    {"orderId": "o-1", "lines": [{"sku": "SKU-1", "warehouseId": "WH-1", "quantity": 1}]}
)
OUTCOME = Outcome(
    [], [], ReservationState("r-1", 1, ReservationStatus.ACTIVE, "o-1", updated_at=None)
)
ANSWER = reservation_command_out(OUTCOME)  # the bare route sends the same body
LEVEL = StockLevel("SKU-1", "WH-1", Levels(on_hand=10), 7, datetime(2026, 1, 1, tzinfo=UTC))


class _Ledger:
    async def execute(self, *_: Any, **__: Any) -> Answer:
        return Answer(OUTCOME, None, False, "o-1")


class _Reader:
    async def level(self, *_: Any, **__: Any) -> StockLevel:
        return LEVEL


class _Services:
    ledger = _Ledger()
    reader = _Reader()
    projected = None
    loader = None
    store = None
    reservation_ttl_seconds = 900


def _bare() -> Starlette:
    async def reserve(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(orjson.dumps(ANSWER), 201, media_type="application/json")

    async def stock(request: Request) -> Response:
        return Response(orjson.dumps({"sku": "SKU-1"}), media_type="application/json")

    return Starlette(
        routes=[
            Route("/v1/reservations", reserve, methods=["POST"]),
            Route("/v1/stock/{sku}/{warehouse_id}", stock),
        ]
    )


def _scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"host", b"bench")]
    if body:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _time(app: Any, method: str, path: str, body: bytes) -> tuple[float, int]:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(REQUESTS):
        await app(_scope(method, path, body), receive, send)
    return (time.process_time() - started) / REQUESTS * 1e6, statuses[-1]


async def main() -> None:
    app = create_app(Settings(api_keys=f"{KEY}:bench:admin", log_level="warning"))
    app.state.services = _Services()
    bare = _bare()
    cases = [
        ("POST /v1/reservations", "POST", "/v1/reservations", RESERVE),
        ("GET /v1/stock/{sku}/{warehouse_id}", "GET", "/v1/stock/SKU-1/WH-1", b""),
    ]
    for name, method, path, body in cases:
        ours, theirs = [], []
        for _ in range(3):
            cost, status = await _time(app, method, path, body)
            assert status in (200, 201), status
            ours.append(cost)
            theirs.append((await _time(bare, method, path, body))[0])
        print(
            f"{name}: create_app() {min(ours):.0f} us CPU per request, bare Starlette route "
            f"{min(theirs):.0f} us: {min(ours) / min(theirs):.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
