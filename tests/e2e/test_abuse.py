"""Careless and hostile clients: hand-written edge cases for every command, bounded work per
request (size, nesting, time, page sizes), and a real `stockledger serve` that drops slow and
idle connections and never logs a key."""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings

from .conftest import API_KEYS, KEYS, Api, auth
from .test_errors import assert_problem

SKU = "SKU-ABUSE"
LINE = {"sku": SKU, "warehouseId": "WH", "quantity": 1}
COMMANDS: dict[str, dict[str, Any]] = {
    "/v1/receipts": {
        "sku": SKU,
        "warehouseId": "WH",
        "quantity": 1,
        "purchaseOrderId": "PO",
        "unitCost": "1",
        "supplier": "S",
    },
    "/v1/reservations": {"orderId": "O", "lines": [LINE]},
    "/v1/shipments": {"shipmentId": "S", "orderId": "O", "lines": [LINE]},
    "/v1/returns": {
        "returnId": "R",
        "orderId": "O",
        "sku": SKU,
        "warehouseId": "WH",
        "quantity": 1,
        "reason": "defective",
        "condition": "resellable",
    },
    "/v1/transfers": {
        "transferId": "T",
        "sku": SKU,
        "fromWarehouseId": "WH",
        "toWarehouseId": "WH-B",
        "quantity": 1,
    },
    "/v1/transfers/T/receive": {"receivedQuantity": 1},
    "/v1/adjustments": {
        "sku": SKU,
        "warehouseId": "WH",
        "quantityChange": 1,
        "reason": "damage",
        "notes": "n",
    },
    "/v1/counts": {"sku": SKU, "warehouseId": "WH", "countedQuantity": 1},
}
HUGE, NOT_INT, TEXT = 2**63, 1.5, "10"
# (path, where the quantity sits, its invalid values): 0 and -1 are valid for some fields.
# Receipts are covered in test_errors.py.
QUANTITIES: list[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = [
    ("/v1/reservations", ("lines", 0, "quantity"), (0, -1, HUGE, NOT_INT, TEXT)),
    ("/v1/shipments", ("lines", 0, "quantity"), (0, -1, HUGE, NOT_INT, TEXT)),
    ("/v1/returns", ("quantity",), (0, -1, HUGE, NOT_INT, TEXT)),
    ("/v1/transfers", ("quantity",), (0, -1, HUGE, NOT_INT, TEXT)),
    ("/v1/transfers/T/receive", ("receivedQuantity",), (-1, HUGE, NOT_INT, TEXT)),
    ("/v1/adjustments", ("quantityChange",), (0, HUGE, -HUGE, NOT_INT, TEXT)),
    ("/v1/counts", ("countedQuantity",), (-1, HUGE, NOT_INT, TEXT)),
]


def with_value(body: dict[str, Any], where: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "where", "value"),
    [(p, w, v) for p, w, values in QUANTITIES for v in values],
    ids=lambda x: str(x)[:20],
)
async def test_bad_quantities_are_422_for_every_command(
    api: Api, path: str, where: tuple[Any, ...], value: Any
) -> None:
    response = await api.post(path, with_value(COMMANDS[path], where, value))
    assert_problem(response, 422, "validation-error")


async def test_a_10_kb_sku_is_422_in_every_body_and_path(api: Api) -> None:
    sku = "S" * 10_240
    for path, body in COMMANDS.items():
        if "sku" in body and path != "/v1/receipts":  # receipts: test_errors.py
            assert_problem(await api.post(path, {**body, "sku": sku}), 422, "validation-error")
    line = {**LINE, "sku": sku}
    reservation = await api.post("/v1/reservations", {"orderId": "O", "lines": [line]})
    assert_problem(reservation, 422, "validation-error")
    for path in (f"/v1/stock/{sku}/WH", f"/v1/stock/{sku}", f"/v1/stock/{sku}/WH/history"):
        assert_problem(await api.get(path), 422, "validation-error")


async def test_text_that_postgres_cannot_store_is_422(api: Api) -> None:
    nul = "before\u0000after"
    receipt = {**COMMANDS["/v1/receipts"], "supplier": nul}
    assert_problem(await api.post("/v1/receipts", receipt), 422, "validation-error")
    adjustment = {**COMMANDS["/v1/adjustments"], "notes": nul}
    assert_problem(await api.post("/v1/adjustments", adjustment), 422, "validation-error")
    trail = await api.get("/v1/correlations/a%00b/events", role="auditor")
    assert_problem(trail, 422, "validation-error")


async def test_instants_beyond_utc_years_1_to_9999_are_before_or_after_every_event(
    api: Api, ids: Any
) -> None:
    """Valid RFC 3339 that datetime cannot hold in UTC: answered, never a 500 or a refusal."""
    sku = ids("SKU")
    await api.receive(sku, "WH", 1)
    path = f"/v1/stock/{sku}/WH"
    dawn, dusk = "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"
    assert (await api.get(f"{path}/at", timestamp=dawn)).status_code == 404
    assert (await api.get(f"{path}/at", timestamp=dusk)).json()["onHand"] == 1
    for bounds, count in (({"from": dawn}, 1), ({"to": dusk}, 1), ({"from": dusk}, 0)):
        history = await api.get(f"{path}/history", **bounds)
        assert len(history.json()["events"]) == count, bounds
    assert (await api.get(f"{path}/history", to=dawn)).json()["events"] == []


async def test_a_query_instant_is_rfc_3339_with_an_offset(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH", 1)
    path = f"/v1/stock/{sku}/WH"
    for taken in ("2020-01-01T00:00:00Z", "2020-01-01t00:00:00.5z", "2020-01-01T01:00:00+01:00"):
        assert (await api.get(f"{path}/history", to=taken)).status_code == 200, taken
    for moment in (
        "0.5",  # pydantic alone reads Unix seconds
        "1700000000",
        "2026-11-01",
        "2026-11-01T00:00:00",  # no offset
        "2026-11-01 00:00:00Z",
        "2026-11-01T00:00Z",
        "2026-11-01T23:59:60Z",  # a leap second: RFC 3339, but not a datetime
        "0000-06-01T00:00:00Z",
        "2026-13-01T00:00:00Z",
    ):
        for bound in ("from", "to"):
            history = await api.get(f"{path}/history", **{bound: moment})
            assert_problem(history, 422, "validation-error")
        assert_problem(await api.get(f"{path}/at", timestamp=moment), 422, "validation-error")


async def test_a_level_beyond_32_bits_is_refused_not_overflowed(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH", 1_000_000_000)
    await api.receive(sku, "WH", 1_000_000_000)
    third = await api.post(
        "/v1/receipts", {**COMMANDS["/v1/receipts"], "sku": sku, "quantity": 10**9}
    )
    assert_problem(third, 409, "conflict")  # what the ledger holds refuses it, as when short
    assert (await api.stock(sku, "WH"))["onHand"] == 2_000_000_000
    assert (await api.get(f"/v1/stock/{sku}/WH/history")).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 33 + b"]" * 33,  # 33 levels: one too many
        b'{"orderId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # would recurse in json
        b'{"orderId": "O", "ttlSeconds": NaN}',
        b'{"orderId": "\xff\xfe"}',  # not UTF-8
        b'{"orderId": "\\ud800"}',  # a lone surrogate
        b'{"orderId": "O",',
    ],
    ids=["33-levels", "100k-levels", "nan", "not-utf8", "lone-surrogate", "truncated"],
)
async def test_json_that_is_too_deep_or_not_json_is_422_before_parsing(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    for headers in (auth("orders"), {}):  # refused before anything parses it, key or not
        response = await client.post(
            "/v1/reservations",
            content=raw,
            headers={**headers, "content-type": "application/json"},
        )
        problem = assert_problem(response, 422, "validation-error")
        assert problem["errors"][0]["location"] == "body"


async def test_32_levels_pass_the_depth_check(client: httpx.AsyncClient) -> None:
    nested = b'{"orderId": ' + b"[" * 31 + b"]" * 31 + b', "lines": []}'
    response = await client.post(
        "/v1/reservations",
        content=nested,
        headers={**auth("orders"), "content-type": "application/json"},
    )
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["location"] != "body"  # the schema refused it, not the guard


async def test_page_sizes_and_line_counts_are_bounded(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH", 1)
    pages = (
        f"/v1/stock/{sku}/WH/history",
        "/v1/events",
        f"/v1/orders/{ids('O')}/events",
        f"/v1/correlations/{ids('C')}/events",
        "/v1/audit/checkpoints",
    )
    for path in pages:
        for limit in (0, -1, 1001, 10**30, "ten"):
            assert_problem(await api.get(path, limit=limit), 422, "validation-error")
        assert (await api.get(path, limit=1000)).status_code == 200
    lines = [{**LINE, "sku": sku}] * 101
    shipment = {"shipmentId": ids("S"), "orderId": "O", "lines": lines}
    assert_problem(await api.post("/v1/shipments", shipment), 422, "validation-error")


@pytest.fixture
async def impatient() -> AsyncIterator[httpx.AsyncClient]:
    """An app that gives a request body 0.2 s to arrive (no database needed for that)."""
    app = create_app(
        Settings(
            database_url="postgresql://unused/", api_keys=API_KEYS, http_body_timeout_seconds=0.2
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_a_body_that_trickles_in_is_cut_off_with_408(impatient: httpx.AsyncClient) -> None:
    never = asyncio.Event()

    async def trickle() -> Any:
        yield b'{"orderId": '
        await never.wait()  # the rest never comes

    response = await impatient.post(
        "/v1/reservations",
        content=trickle(),
        headers={**auth("orders"), "content-type": "application/json"},
    )
    assert_problem(response, 408, "request-timeout")
    assert response.headers["connection"] == "close"


# -- a real server -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Any]]:
    """`stockledger serve` as a process: its port, and the file its stderr (logs) goes to."""
    port = _free_port()
    logs = tmp_path_factory.mktemp("serve") / "stderr.log"
    env = {
        **os.environ,
        "STOCKLEDGER_DATABASE_URL": database_url,
        "STOCKLEDGER_API_KEYS": API_KEYS,
        "STOCKLEDGER_PORT": str(port),
        "STOCKLEDGER_HTTP_BODY_TIMEOUT_SECONDS": "0.5",
        "STOCKLEDGER_HTTP_KEEP_ALIVE_SECONDS": "1",
        "STOCKLEDGER_AUDIT_KEY": "serve-audit-key",
    }
    with logs.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "stockledger.cli", "serve", "--no-expiry"],
            env=env,
            stdout=sink,
            stderr=sink,
        )
        try:
            deadline = 30.0
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, logs.read_text()
                deadline -= 0.05
                assert deadline > 0, "serve did not start"
                time.sleep(0.05)  # polling the condition above
            yield port, logs
        finally:
            process.terminate()
            process.wait(10)


def _read_until_closed(conn: socket.socket) -> bytes:
    conn.settimeout(10)  # a bound for the test, not a wait it relies on
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def test_the_server_drops_slow_bodies_and_idle_connections(served: tuple[int, Any]) -> None:
    port, _ = served
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(
            b"POST /v1/receipts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + KEYS["admin"].encode() + b"\r\n"
            b'Content-Length: 100\r\n\r\n{"sku": '
        )
        answer = _read_until_closed(slow)  # the server answers and closes: 0.5 s body timeout
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"/problems/request-timeout" in answer
    with socket.create_connection(("127.0.0.1", port)) as idle:
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until_closed(idle)  # kept alive, then closed after 1 s of silence
    assert answer.startswith(b"HTTP/1.1 200")


def test_the_server_logs_denials_with_the_principal_and_never_a_key(
    served: tuple[int, Any],
) -> None:
    port, logs = served
    base = f"http://127.0.0.1:{port}"
    body = {**COMMANDS["/v1/receipts"], "sku": "SKU-SERVED"}
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/v1/events", headers={"X-API-Key": "sk-not-a-key-81f2"}).status_code == 401
        assert http.post("/v1/receipts", json=body, headers=auth("orders")).status_code == 403
        assert http.post("/v1/receipts", json=body, headers=auth("warehouse")).status_code == 201
        metrics = http.get("/metrics").text
    written = logs.read_text()
    denial = next(x for x in written.splitlines() if '"denied"' in x and "forbidden" in x)
    assert '"principal": "orders-svc"' in denial
    for secret in ("sk-not-a-key-81f2", "serve-audit-key", *KEYS.values()):
        assert secret not in written
        assert secret not in metrics


def test_a_range_header_of_thousands_of_ranges_is_answered_at_once(
    served: tuple[int, Any],
) -> None:
    """The console's files need no key, so a crafted `Range` must cost a server next to nothing:
    Starlette before 0.49.1 merged byte ranges in quadratic time (CVE-2025-62727), ~2 s of CPU
    for this header on this file. Every other byte of the file, then the last byte thousands of
    times: each range would be compared with every earlier one."""
    port, _ = served
    asset = f"http://127.0.0.1:{port}/ui/assets/main.js"
    with httpx.Client(timeout=10) as http:
        size = len(http.get(asset).content)
        ranges = [f"{i}-{i}" for i in range(0, size, 2)] + [f"{size - 1}-{size - 1}"] * 3000
        started = time.perf_counter()
        answer = http.get(asset, headers={"Range": "bytes=" + ",".join(ranges)})
        took = time.perf_counter() - started
    assert len(ranges) > 5000
    assert answer.status_code in (200, 206, 416), answer.text[:200]
    assert took < 0.5, f"{len(ranges)} ranges took {took:.2f} s"
