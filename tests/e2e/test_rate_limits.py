"""Rate limits: real `serve` processes sharing one budget in a real Redis.

Each test has a Redis prefix of its own, so its buckets start full. Rates of 0.01/s (a token
back every 100 s) make the bursts exact: nothing refills while a test runs, unless it says so.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings
from stockledger.ops.local_services import free_port

from ..support import eventually
from .conftest import API_KEYS, auth
from .processes import Served, serving


@pytest.fixture
def two_servers(
    database_url: str, redis_server: str, tmp_path: Path, ids: Callable[[str], str]
) -> Iterator[list[Served]]:
    env = {
        "STOCKLEDGER_REDIS_URL": redis_server,
        "STOCKLEDGER_REDIS_PREFIX": f"{ids('rl')}:",
        "STOCKLEDGER_RATE_LIMITS": "orders=0.01/s:6,auditor=2/s:3",
    }
    with serving(database_url, tmp_path, 2, "--no-expiry", **env) as servers:
        yield servers


@pytest.fixture
def leasing_servers(
    database_url: str, redis_server: str, tmp_path: Path, ids: Callable[[str], str]
) -> Iterator[list[Served]]:
    """Two processes sharing a burst of 64: each takes leases of up to 64 / 16 = 4 tokens."""
    env = {
        "STOCKLEDGER_REDIS_URL": redis_server,
        "STOCKLEDGER_REDIS_PREFIX": f"{ids('rl')}:",
        "STOCKLEDGER_RATE_LIMITS": "orders=0.01/s:64",
    }
    with serving(database_url, tmp_path, 2, "--no-expiry", **env) as servers:
        yield servers


@asynccontextmanager
async def clients(servers: list[Served]) -> AsyncIterator[list[httpx.AsyncClient]]:
    opened = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in servers]
    try:
        yield opened
    finally:
        await asyncio.gather(*(c.aclose() for c in opened))


async def _receive(http: httpx.AsyncClient, sku: str, qty: int) -> None:
    body = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantity": qty,
        "purchaseOrderId": "PO-RL",
        "unitCost": "1.00",
        "supplier": "Acme",
    }
    response = await http.post("/v1/receipts", json=body, headers=auth("warehouse"))
    assert response.status_code == 201, response.text


async def _level(http: httpx.AsyncClient, sku: str) -> dict[str, Any]:
    response = await http.get(
        f"/v1/stock/{sku}/WH-A", params={"consistency": "strong"}, headers=auth("admin")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _reservation(order: str, sku: str) -> dict[str, Any]:
    return {"orderId": order, "lines": [{"sku": sku, "warehouseId": "WH-A", "quantity": 1}]}


async def test_two_processes_share_one_budget_and_say_so_in_the_headers(
    two_servers: list[Served], ids: Callable[[str], str]
) -> None:
    async with clients(two_servers) as (first, second):
        remaining = []
        for n in range(6):  # alternate processes: one bucket of 6 between them
            http = (first, second)[n % 2]
            response = await http.get("/v1/me", headers=auth("orders"))
            assert response.status_code == 200, response.text
            assert response.headers["RateLimit-Limit"] == "6"
            assert "Retry-After" not in response.headers
            remaining.append(int(response.headers["RateLimit-Remaining"]))
            assert 0 < int(response.headers["RateLimit-Reset"]) <= 600  # 100 s a token
        assert remaining == [5, 4, 3, 2, 1, 0]

        for http in (first, second):
            refused = await http.get("/v1/me", headers=auth("orders"))
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            problem = refused.json()
            assert problem["type"] == "/problems/rate-limited"
            assert problem["status"] == 429
            assert "orders-svc" in problem["detail"]
            assert refused.headers["RateLimit-Limit"] == "6"
            assert refused.headers["RateLimit-Remaining"] == "0"
            assert 90 <= int(refused.headers["Retry-After"]) <= 100  # the next token, ~100 s
            assert int(refused.headers["RateLimit-Reset"]) >= int(refused.headers["Retry-After"])
            assert refused.headers["X-Request-Id"]


async def test_a_burst_from_both_processes_at_once_lets_exactly_the_burst_through(
    two_servers: list[Served], ids: Callable[[str], str]
) -> None:
    async with clients(two_servers) as pair:

        async def read(n: int) -> int:
            http = pair[n % 2]
            return (await http.get("/v1/me", headers=auth("orders"))).status_code

        statuses = Counter(await asyncio.gather(*(read(n) for n in range(40))))
        assert statuses == {200: 6, 429: 34}


async def test_a_refused_reservation_appends_nothing(
    two_servers: list[Served], ids: Callable[[str], str]
) -> None:
    async with clients(two_servers) as (first, second):
        sku = ids("SKU")
        await _receive(first, sku, 100)
        for n in range(6):
            body = _reservation(ids("ORDER"), sku)
            reply = await (first, second)[n % 2].post(
                "/v1/reservations", json=body, headers=auth("orders")
            )
            assert reply.status_code == 201, reply.text
        before = await _level(first, sku)
        assert before["reserved"] == 6

        order = ids("ORDER")
        for http in (first, second):
            refused = await http.post(
                "/v1/reservations",
                json=_reservation(order, sku),
                headers={**auth("orders"), "Idempotency-Key": ids("KEY")},
            )
            assert refused.status_code == 429, refused.text

        after = await _level(second, sku)
        assert after["reserved"] == 6
        assert after["version"] == before["version"]  # no event for the refused order
        history = await first.get(f"/v1/stock/{sku}/WH-A/history", headers=auth("admin"))
        assert order not in history.text


async def test_unlisted_roles_and_operations_are_never_limited(
    two_servers: list[Served], ids: Callable[[str], str]
) -> None:
    async with clients(two_servers) as (first, second):
        for _ in range(7):  # spend the orders budget
            await first.get("/v1/me", headers=auth("orders"))
        assert (await second.get("/v1/me", headers=auth("orders"))).status_code == (429)

        for n in range(30):  # warehouse and admin are not listed
            for role in ("warehouse", "admin"):
                reply = await (first, second)[n % 2].get("/v1/me", headers=auth(role))
                assert reply.status_code == 200, reply.text
                assert "RateLimit-Limit" not in reply.headers

        for path in ("/health", "/ready", "/metrics", "/openapi.json", "/asyncapi.json", "/ui/"):
            for http in (first, second):  # with the spent key, as a scraper might send it
                reply = await http.get(path, headers=auth("orders"))
                assert reply.status_code == 200, (path, reply.text)
                assert "RateLimit-Limit" not in reply.headers

        metrics = (await first.get("/metrics")).text
        assert 'stockledger_rate_limited_total{role="orders"}' in metrics


async def test_the_budget_comes_back_at_the_rate(two_servers: list[Served]) -> None:
    async with clients(two_servers) as (first, second):

        async def read(n: int) -> int:
            http = (first, second)[n % 2]
            return (await http.get("/v1/me", headers=auth("auditor"))).status_code

        statuses = Counter(await asyncio.gather(*(read(n) for n in range(12))))
        assert statuses[200] >= 3  # auditor: 2/s, 3 at once: the burst, and what came back
        assert statuses[429] >= 1  # unless 12 requests took over 4 s

        async def passes() -> bool:
            return await read(0) == 200

        await eventually(passes, within=5, what="a token back within 1/2 s")


async def test_without_redis_answering_requests_pass_unchecked_and_are_counted(
    database_url: str, ids: Callable[[str], str]
) -> None:
    silent = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = Settings(
        database_url=database_url,
        api_keys=API_KEYS,
        redis_url=silent,
        rate_limits="orders=0.01/s:1",
    )
    app = create_app(settings, run_expiry=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            path = "/v1/me"
            for _ in range(5):  # a budget of 1, yet the ledger keeps answering
                reply = await http.get(path, headers=auth("orders"))
                assert reply.status_code == 200, reply.text
                assert "RateLimit-Limit" not in reply.headers
            metrics = (await http.get("/metrics")).text
            errors = [
                line
                for line in metrics.splitlines()
                if line.startswith("stockledger_rate_limit_errors_total ")
            ]
            assert errors
            assert float(errors[0].split()[1]) >= 5


def test_a_malformed_setting_is_refused_with_the_entry_named() -> None:
    with pytest.raises(ValueError, match="orders=fast"):
        Settings(rate_limits="orders=fast")


async def test_leases_never_let_two_processes_past_the_burst(
    leasing_servers: list[Served],
) -> None:
    """Each process spends leases of the shared bucket locally (api/token_leases.py): together
    they pass no more than the burst, and fewer only by what a process still held when the
    requests stopped (a lease each, at most 4)."""
    async with clients(leasing_servers) as pair:

        async def read(n: int) -> httpx.Response:
            return await pair[n % 2].get("/v1/me", headers=auth("orders"))

        replies = await asyncio.gather(*(read(n) for n in range(200)))
    statuses = Counter(r.status_code for r in replies)
    assert set(statuses) == {200, 429}
    assert 64 - 2 * 4 <= statuses[200] <= 64
    for reply in replies:
        assert reply.headers["RateLimit-Limit"] == "64"
        assert 0 <= int(reply.headers["RateLimit-Remaining"]) < 64
        if reply.status_code == 429:
            assert 90 <= int(reply.headers["Retry-After"]) <= 100
