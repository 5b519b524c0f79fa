"""The HTTP app on a real Postgres, driven through httpx (in-process ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings

from .replicated import pair  # noqa: F401  (a primary with a standby, for the tests that need it)

KEYS = {
    "orders": "k-orders",
    "warehouse": "k-warehouse",
    "auditor": "k-auditor",
    "admin": "k-admin",
}
API_KEYS = ",".join(f"{key}:{role}-svc:{role}" for role, key in KEYS.items())


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, api_keys=API_KEYS, snapshot_every=5, expiry_interval_seconds=0.2
    )


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


class Api:
    """Small helpers that read like the user journeys."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, path: str, body: Any = None, role: str = "admin", **headers: str
    ) -> httpx.Response:
        extra = {k.replace("_", "-"): v for k, v in headers.items()}
        return await self.http.post(path, json=body, headers={**auth(role), **extra})

    async def get(self, path: str, role: str = "admin", **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=auth(role))

    async def report(self, path: str, role: str = "auditor", **params: Any) -> dict[str, Any]:
        """A report's JSON body (200), its X-As-Of-Position header checked against it."""
        response = await self.get(path, role=role, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert response.headers["X-As-Of-Position"] == str(body["asOfPosition"])
        return body

    async def receive(
        self, sku: str, wh: str, qty: int, expect: int = 201, **extra: Any
    ) -> httpx.Response:
        body = {
            "sku": sku,
            "warehouseId": wh,
            "quantity": qty,
            "purchaseOrderId": "PO-1",
            "unitCost": "2.50",
            "supplier": "Acme",
            **extra,
        }
        response = await self.post("/v1/receipts", body)
        assert expect == 0 or response.status_code == expect, response.text
        return response

    async def reserve(
        self, order: str, *lines: tuple[str, str, int], **headers: str
    ) -> httpx.Response:
        body = {
            "orderId": order,
            "lines": [{"sku": s, "warehouseId": w, "quantity": q} for s, w, q in lines],
        }
        return await self.post("/v1/reservations", body, role="orders", **headers)

    async def stock(self, sku: str, wh: str, **params: Any) -> dict[str, Any]:
        response = await self.get(f"/v1/stock/{sku}/{wh}", **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
