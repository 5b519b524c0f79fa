"""Bad input gets a clear problem+json error with the right status, and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .conftest import Api, auth


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def test_no_key_unknown_key_and_wrong_role(client: httpx.AsyncClient, ids: Any) -> None:
    path = f"/v1/stock/{ids('SKU')}/WH-A"
    assert_problem(await client.get(path), 401, "unauthorized")
    assert_problem(
        await client.get(path, headers={"Authorization": "Bearer nope"}), 401, "unauthorized"
    )
    assert_problem(await client.get(path, headers={"X-API-Key": "nope"}), 401, "unauthorized")
    receipt = {
        "sku": "A",
        "warehouseId": "W",
        "quantity": 1,
        "purchaseOrderId": "P",
        "unitCost": 1,
        "supplier": "S",
    }
    for role in ("orders", "auditor"):
        denied = await client.post("/v1/receipts", json=receipt, headers=auth(role))
        assert_problem(denied, 403, "forbidden")
    assert (await client.get(path, headers={"X-API-Key": "k-orders"})).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": 2**63},
        {"quantity": 1.5},
        {"quantity": "10"},
        {"sku": "x" * 10_000},
        {"sku": "bad sku"},
        {"sku": "-lead"},
        {"unitCost": "0"},
        {"unitCost": "1.1234567"},
        {"unitCost": "NaN"},
        {"causedBy": "mallory"},
        {"version": 3},
        {"supplier": ""},
    ],
)
async def test_invalid_receipts_are_422_and_change_nothing(
    api: Api, ids: Any, change: dict[str, Any]
) -> None:
    sku = ids("SKU")
    body = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantity": 1,
        "purchaseOrderId": "PO-1",
        "unitCost": "1.00",
        "supplier": "Acme",
        **change,
    }
    problem = assert_problem(await api.post("/v1/receipts", body), 422, "validation-error")
    assert problem["errors"]
    assert (await api.get(f"/v1/stock/{sku}/WH-A")).status_code == 404


async def test_reservation_line_limits(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    line = {"sku": sku, "warehouseId": "WH-A", "quantity": 1}
    for lines in ([], [line] * 101):
        response = await api.post(
            "/v1/reservations", {"orderId": "O", "lines": lines}, role="orders"
        )
        assert_problem(response, 422, "validation-error")


async def test_malformed_json_and_headers(api: Api, client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/v1/receipts",
        content=b"{not json",
        headers={**auth("admin"), "content-type": "application/json"},
    )
    assert_problem(broken, 422, "validation-error")
    long_key = await api.post(
        "/v1/reservations", {"orderId": "O", "lines": []}, role="orders", Idempotency_Key="k" * 256
    )
    assert_problem(long_key, 422, "validation-error")
    bad_match = await api.post(
        "/v1/adjustments",
        {"sku": "A", "warehouseId": "W", "quantityChange": 1, "reason": "theft", "notes": "n"},
        If_Match="seven",
    )
    assert_problem(bad_match, 422, "validation-error")


async def test_if_match_takes_an_entity_tag_and_refuses_other_forms(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 10)
    body = {"sku": sku, "warehouseId": "WH-A", "quantityChange": -1, "reason": "theft"}
    for version, tag in enumerate(('"1"', 'W/"2"', "3"), start=2):
        taken = await api.post("/v1/adjustments", {**body, "notes": tag}, If_Match=tag)
        assert taken.status_code == 201, taken.text
        assert taken.json()["events"][0]["version"] == version
    stale = await api.post("/v1/adjustments", {**body, "notes": "stale"}, If_Match='"1"')
    assert_problem(stale, 412, "version-conflict")
    for tag in ("", '""', '"4', '""4""', "W/4", '"12345678901"', "4, 5"):
        refused = await api.post("/v1/adjustments", {**body, "notes": "x"}, If_Match=tag)
        assert_problem(refused, 422, "validation-error")
    latin1 = [(k.encode(), v.encode()) for k, v in auth("admin").items()]
    superscript = await api.http.post(  # "²".isdigit(), yet int("²") raises: was a 500
        "/v1/adjustments", json=body, headers=[*latin1, (b"if-match", b"\xb2")]
    )
    assert_problem(superscript, 422, "validation-error")
    assert (await api.stock(sku, "WH-A"))["version"] == 4


async def test_a_shipment_without_reservation_or_lines_is_422(api: Api, ids: Any) -> None:
    body = {"shipmentId": ids("S"), "orderId": ids("O")}
    for shipment in (body, {**body, "reservationId": None, "lines": None}):
        refused = await api.post("/v1/shipments", shipment, role="orders")
        assert_problem(refused, 422, "validation-error")


async def test_body_over_256_kib_is_413_before_parsing(client: httpx.AsyncClient) -> None:
    big = b'{"orderId": "' + b"x" * (256 * 1024) + b'"}'
    response = await client.post(
        "/v1/reservations",
        content=big,
        headers={**auth("orders"), "content-type": "application/json"},
    )
    assert_problem(response, 413, "payload-too-large")

    async def chunks() -> Any:  # no content-length: counted while streaming
        for _ in range(300):
            yield b" " * 1024

    streamed = await client.post(
        "/v1/reservations",
        content=chunks(),
        headers={**auth("orders"), "content-type": "application/json"},
    )
    assert_problem(streamed, 413, "payload-too-large")


async def test_unknown_things_are_404(api: Api, client: httpx.AsyncClient, ids: Any) -> None:
    assert_problem(await api.get(f"/v1/stock/{ids('SKU')}/WH-A"), 404, "not-found")
    assert_problem(await api.get(f"/v1/stock/{ids('SKU')}"), 404, "not-found")
    assert_problem(await api.get(f"/v1/stock/{ids('SKU')}/WH-A/history"), 404, "not-found")
    assert_problem(await api.get(f"/v1/reservations/{ids('R')}"), 404, "not-found")
    assert_problem(await api.post(f"/v1/transfers/{ids('T')}/receive", {}), 404, "not-found")
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")


async def test_history_parameters_are_validated(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 1)
    for params in (
        {"limit": 1001},
        {"limit": 0},
        {"after": -1},
        {"types": "StockStolen"},
        {"types": ""},  # the document's array has at least one type
        {"types": "StockReceived,"},
        {"types": "StockReceived, StockShipped"},
        {"types": "stockreceived"},
    ):
        response = await api.get(f"/v1/stock/{sku}/WH-A/history", **params)
        assert_problem(response, 422, "validation-error")


async def test_a_parameter_given_twice_is_refused_not_half_read(api: Api) -> None:
    """One value per query parameter, as the OpenAPI document says (FastAPI alone would take
    the last and ignore the rest)."""
    got = await api.http.get("/v1/stock?warehouseId=null&warehouseId=WH-A", headers=auth("orders"))
    assert got.status_code == 422, got.text
    assert got.json()["errors"][0]["location"] == "query.warehouseId"


async def test_a_method_not_served_is_405_naming_every_method_served(
    client: httpx.AsyncClient,
) -> None:
    """Allow lists every method served at the path (RFC 9110), also where several routes share
    it: GET and PUT /v1/items/{sku}, GET, PUT and DELETE /v1/reorder-rules/{sku}/{wh}."""
    paths: dict[str, dict[str, Any]] = (await client.get("/openapi.json")).json()["paths"]
    assert sorted(paths["/v1/items/{sku}"]) == ["get", "put"]
    for template, operations in paths.items():
        path = re.sub(r"\{[^}]+\}", "X-1", template)
        served = ", ".join(sorted(method.upper() for method in operations))
        for method in ("OPTIONS", "PATCH"):  # served on no path
            response = await client.request(method, path, headers=auth("admin"))
            assert_problem(response, 405, "method-not-allowed")
            assert response.headers["allow"] == served, (method, template)
