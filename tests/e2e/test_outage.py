"""When Postgres cannot be reached: 503 problem bodies, /ready says so, and service resumes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI

from stockledger.api.app import create_app
from stockledger.api.deps import get_services
from stockledger.config import Settings

from ..support import TcpProxy
from .conftest import API_KEYS, auth
from .test_errors import assert_problem


@pytest.fixture
async def outage(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, TcpProxy]]:
    parts = urlsplit(database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    app = create_app(Settings(database_url=proxied, api_keys=API_KEYS), run_expiry=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, proxy
    await proxy.cut()


async def test_database_down_is_503_and_recovers(
    outage: tuple[httpx.AsyncClient, TcpProxy], ids: Any
) -> None:
    http, proxy = outage
    sku = ids("SKU")
    receipt = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantity": 1,
        "purchaseOrderId": "PO",
        "unitCost": "1",
        "supplier": "S",
    }
    assert (await http.post("/v1/receipts", json=receipt, headers=auth("admin"))).status_code == 201
    await proxy.cut()
    assert_problem(
        await http.get(f"/v1/stock/{sku}/WH-A", headers=auth("admin")), 503, "service-unavailable"
    )
    down = await http.post("/v1/receipts", json=receipt, headers=auth("admin"))
    body = assert_problem(down, 503, "service-unavailable")
    assert "Traceback" not in str(body)
    ready = await http.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not-ready"
    await proxy.start()  # same port again
    deadline = asyncio.get_running_loop().time() + 10
    while (await http.get("/ready")).status_code != 200:
        assert asyncio.get_running_loop().time() < deadline, "did not recover"
        await asyncio.sleep(0.05)
    level = await http.get(f"/v1/stock/{sku}/WH-A", headers=auth("admin"))
    assert level.json()["onHand"] == 1


async def test_unexpected_error_is_a_500_problem_without_internals(settings: Settings) -> None:
    app: FastAPI = create_app(settings, run_expiry=False)

    def broken() -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    app.dependency_overrides[get_services] = broken
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/v1/stock/A/B", headers=auth("admin"))
    body = assert_problem(response, 500, "internal-error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in str(body)
