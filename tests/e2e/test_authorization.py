"""Who may do what: every endpoint of the live OpenAPI schema against every role (README, Roles),
identity only from the key, and no key ever in logs or /metrics."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from .conftest import KEYS, Api, auth
from .test_errors import assert_problem

ROLES = ("orders", "warehouse", "auditor", "admin")
ANYONE = frozenset(ROLES)
ORDERS = frozenset({"orders", "admin"})
WAREHOUSE = frozenset({"warehouse", "admin"})
HISTORY = frozenset({"warehouse", "auditor", "admin"})
RESERVATIONS = frozenset({"orders", "auditor", "admin"})
AUDIT = frozenset({"auditor", "admin"})
ADMIN = frozenset({"admin"})
PUBLIC = None

# The roles' matrix, endpoint by endpoint. A new endpoint fails the walk below until it is here.
MATRIX: dict[tuple[str, str], frozenset[str] | None] = {
    ("POST", "/v1/receipts"): WAREHOUSE,
    ("POST", "/v1/reservations"): ORDERS,
    ("POST", "/v1/reservations/{reservation_id}/confirm"): ORDERS,
    ("POST", "/v1/reservations/{reservation_id}/release"): ORDERS,
    ("POST", "/v1/shipments"): ORDERS,
    ("POST", "/v1/returns"): WAREHOUSE,
    ("POST", "/v1/transfers"): WAREHOUSE,
    ("POST", "/v1/transfers/{transfer_id}/receive"): WAREHOUSE,
    ("POST", "/v1/adjustments"): WAREHOUSE,
    ("POST", "/v1/counts"): WAREHOUSE,
    ("GET", "/v1/stock/{sku}/{warehouse_id}"): ANYONE,
    ("GET", "/v1/stock/{sku}"): ANYONE,
    ("GET", "/v1/stock/{sku}/{warehouse_id}/at"): HISTORY,
    ("GET", "/v1/stock/{sku}/{warehouse_id}/history"): HISTORY,
    ("GET", "/v1/stock/{sku}/{warehouse_id}/lots"): HISTORY,
    ("GET", "/v1/lots"): HISTORY,
    ("GET", "/v1/lots/{sku}/{lot_id}/trail"): HISTORY,
    ("GET", "/v1/serials/{sku}/{serial}"): HISTORY,
    ("GET", "/v1/reservations/{reservation_id}"): RESERVATIONS,
    ("GET", "/v1/correlations/{correlation_id}/events"): AUDIT,
    ("GET", "/v1/orders/{order_id}/events"): AUDIT,
    ("GET", "/v1/events"): AUDIT,
    ("GET", "/v1/exports/events"): AUDIT,
    ("GET", "/v1/exports/manifest"): AUDIT,
    ("GET", "/v1/valuation"): HISTORY,
    ("GET", "/v1/valuation/{sku}/{warehouse_id}"): HISTORY,
    ("GET", "/v1/reports/cogs"): HISTORY,
    ("GET", "/v1/reports/movements"): HISTORY,
    ("GET", "/v1/reports/turnover"): HISTORY,
    ("GET", "/v1/audit/verify"): AUDIT,
    ("GET", "/v1/audit/checkpoints"): AUDIT,
    ("PUT", "/v1/items/{sku}"): WAREHOUSE,
    ("POST", "/v1/items/{sku}/deactivate"): WAREHOUSE,
    ("POST", "/v1/items/{sku}/activate"): WAREHOUSE,
    ("PUT", "/v1/warehouses/{warehouse_id}"): WAREHOUSE,
    ("POST", "/v1/warehouses/{warehouse_id}/deactivate"): WAREHOUSE,
    ("PUT", "/v1/reorder-rules/{sku}/{warehouse_id}"): WAREHOUSE,
    ("DELETE", "/v1/reorder-rules/{sku}/{warehouse_id}"): WAREHOUSE,
    ("GET", "/v1/reorder-rules/{sku}/{warehouse_id}"): HISTORY,
    ("GET", "/v1/reorder-rules"): HISTORY,
    ("PUT", "/v1/kits/{sku}"): WAREHOUSE,
    ("GET", "/v1/kits/{sku}"): ANYONE,
    ("GET", "/v1/alerts"): HISTORY,
    ("GET", "/v1/items"): ANYONE,
    ("GET", "/v1/stock"): ANYONE,
    ("GET", "/v1/warehouses"): ANYONE,
    ("GET", "/v1/items/{sku}"): ANYONE,
    ("GET", "/v1/warehouses/{warehouse_id}"): ANYONE,
    ("GET", "/v1/me"): ANYONE,
    ("POST", "/v1/webhooks"): ADMIN,
    ("GET", "/v1/webhooks"): ADMIN,
    ("GET", "/v1/webhooks/{webhook_id}"): ADMIN,
    ("DELETE", "/v1/webhooks/{webhook_id}"): ADMIN,
    ("POST", "/v1/webhooks/{webhook_id}/enable"): ADMIN,
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): ADMIN,
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): ADMIN,
    ("PUT", "/v1/purchase-orders/{purchase_order_id}"): WAREHOUSE,
    ("POST", "/v1/purchase-orders/{purchase_order_id}/reschedule"): WAREHOUSE,
    ("POST", "/v1/purchase-orders/{purchase_order_id}/cancel"): WAREHOUSE,
    ("GET", "/v1/purchase-orders/{purchase_order_id}"): ANYONE,
    ("GET", "/v1/purchase-orders"): ANYONE,
    ("POST", "/v1/inspections"): WAREHOUSE,
    ("GET", "/v1/atp/{sku}"): ANYONE,
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    ("GET", "/v1/schemas/events/{type}/{schemaVersion}"): PUBLIC,
}


async def endpoints(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    schema = (await client.get("/openapi.json")).json()
    return [(m.upper(), path) for path, ops in schema["paths"].items() for m in ops]


async def test_the_matrix_names_every_endpoint_of_the_live_schema(
    client: httpx.AsyncClient,
) -> None:
    assert sorted(await endpoints(client)) == sorted(MATRIX)
    for path in ("/docs", "/openapi.json"):
        assert (await client.get(path)).status_code == 200


async def test_every_endpoint_allows_and_denies_exactly_the_matrix(
    client: httpx.AsyncClient, ids: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    checked = 0
    for method, template in await endpoints(client):
        allowed = MATRIX[(method, template)]
        path = template.format(
            reservation_id=ids("R"),
            transfer_id=ids("T"),
            sku=ids("SKU"),
            warehouse_id="WH",
            correlation_id=ids("C"),
            order_id=ids("O"),
            type="StockReceived",
            schemaVersion=1,
            webhook_id=uuid.uuid4(),
            lot_id=ids("L"),
            serial=ids("SN"),
            delivery_id=uuid.uuid4(),
            purchase_order_id=ids("PO"),
        )
        for role in (None, *ROLES):
            headers = auth(role) if role else {}
            body: dict[str, Any] | None = {} if method in ("POST", "PUT") else None
            response = await client.request(method, path, json=body, headers=headers)
            where = f"{method} {path} as {role}: {response.status_code} {response.text[:200]}"
            if allowed is PUBLIC or (role is not None and role in allowed):
                assert response.status_code not in (401, 403), where
            elif role is None:
                assert_problem(response, 401, "unauthorized")
            else:
                assert_problem(response, 403, "forbidden")
                denial = _last_denial(capsys.readouterr().err)
                assert denial["principal"] == f"{role}-svc", where
                assert denial["path"] == path
            checked += 1
    assert checked == len(MATRIX) * 5


def _last_denial(logs: str) -> dict[str, Any]:
    lines = [json.loads(x) for x in logs.splitlines() if x.startswith("{")]
    denials = [x for x in lines if x.get("event") == "denied"]
    assert denials, f"no denial logged in {logs[-500:]!r}"
    last: dict[str, Any] = denials[-1]
    return last


# -- identity comes only from the key -----------------------------------------------------


def commands(sku: str, ids: Any) -> dict[str, dict[str, Any]]:
    """A valid body for every command (the path parameters are made up)."""
    return {
        "/v1/receipts": {
            "sku": sku,
            "warehouseId": "WH",
            "quantity": 1,
            "purchaseOrderId": "PO",
            "unitCost": "1",
            "supplier": "S",
        },
        "/v1/reservations": {
            "orderId": "O",
            "lines": [{"sku": sku, "warehouseId": "WH", "quantity": 1}],
        },
        f"/v1/reservations/{ids('R')}/confirm": {},
        f"/v1/items/{sku}/deactivate": {"reason": "r"},
        f"/v1/items/{sku}/activate": {},
        f"/v1/warehouses/{ids('WH')}/deactivate": {"reason": "r"},
        f"/v1/reservations/{ids('R')}/release": {"reason": "r"},
        "/v1/shipments": {
            "shipmentId": ids("S"),
            "orderId": "O",
            "lines": [{"sku": sku, "warehouseId": "WH", "quantity": 1}],
        },
        "/v1/returns": {
            "returnId": ids("RET"),
            "orderId": "O",
            "sku": sku,
            "warehouseId": "WH",
            "quantity": 1,
            "reason": "defective",
            "condition": "resellable",
        },
        "/v1/transfers": {
            "transferId": ids("T"),
            "sku": sku,
            "fromWarehouseId": "WH",
            "toWarehouseId": "WH-B",
            "quantity": 1,
        },
        f"/v1/transfers/{ids('T')}/receive": {"receivedQuantity": 1},
        "/v1/adjustments": {
            "sku": sku,
            "warehouseId": "WH",
            "quantityChange": 1,
            "reason": "damage",
            "notes": "n",
        },
        "/v1/counts": {"sku": sku, "warehouseId": "WH", "countedQuantity": 1},
        f"/v1/purchase-orders/{ids('PO')}/reschedule": {
            "lines": [{"sku": sku, "warehouseId": "WH", "expectedOn": "2026-12-14"}]
        },
        f"/v1/purchase-orders/{ids('PO')}/cancel": {"reason": "r"},
        "/v1/inspections": {
            "inspectionId": ids("INS"),
            "sku": sku,
            "warehouseId": "WH",
            "accepted": 1,
            "rejected": 0,
        },
        "/v1/webhooks": {"url": "https://hooks.example.com/stock"},
        f"/v1/webhooks/{uuid.uuid4()}/enable": {},
        f"/v1/webhooks/{uuid.uuid4()}/deliveries/{uuid.uuid4()}/retry": {},
    }


@pytest.mark.parametrize(
    "smuggled",
    [
        {"causedBy": "mallory"},
        {"version": 7},
        {"expectedVersion": 0},
        {"metadata": {"causedBy": "mallory"}},
        {"principal": "admin"},
    ],
)
async def test_no_command_takes_identity_or_versions_from_the_body(
    api: Api, ids: Any, smuggled: dict[str, Any]
) -> None:
    sku = ids("SKU")
    bodies = commands(sku, ids)
    assert len(bodies) == sum(1 for m, _ in MATRIX if m == "POST")
    for path, body in bodies.items():
        problem = assert_problem(
            await api.post(path, {**body, **smuggled}), 422, "validation-error"
        )
        [field] = smuggled
        assert any(field in e["location"] for e in problem["errors"]), (path, problem)
    assert (await api.get(f"/v1/stock/{sku}/WH")).status_code == 404  # nothing landed


async def test_causedby_is_the_principal_of_the_key(api: Api, ids: Any) -> None:
    response = await api.receive(ids("SKU"), "WH", 1)
    assert {e["metadata"]["causedBy"] for e in response.json()["events"]} == {"admin-svc"}


# -- secrets ------------------------------------------------------------------------------


async def test_keys_never_reach_logs_or_metrics(
    client: httpx.AsyncClient, api: Api, ids: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    unknown = "sk-unknown-7f3a9c1e5b"
    sku = ids("SKU")
    body = commands(sku, ids)["/v1/receipts"]
    assert (await client.get("/v1/events", headers={"X-API-Key": unknown})).status_code == 401
    assert (await client.get("/v1/events", headers=auth("warehouse"))).status_code == 403
    assert (await api.post("/v1/receipts", body, role="orders")).status_code == 403
    assert (await api.post("/v1/receipts", body, role="warehouse")).status_code == 201
    assert (await api.post("/v1/receipts", {**body, "quantity": 0})).status_code == 422
    metrics = (await client.get("/metrics")).text
    logs = capsys.readouterr().err
    assert '"denied"' in logs  # the capture works: the denials above were logged
    for secret in (unknown, *KEYS.values()):
        assert secret not in logs
        assert secret not in metrics
