"""Clients generated from the served OpenAPI document work, as an order service generates them.

A real `stockledger serve` (Postgres, Redis and the Kafka-protocol broker: the projections run)
serves /openapi.json; openapi-python-client generates a Python client from it without one
warning, and the README's core journey runs through that client: a receipt, a reservation
under an Idempotency-Key and its replay, confirm, shipment, the level, the history, time
travel, and a 409 and a 422 read as typed problems. openapi-typescript's output for the same
document type-checks under `tsc --strict`, with a journey of its own that holds the types to
what the server takes (a shipment without a shipmentId does not compile).

The TypeScript tools come from the npm registry, installed once per pair of versions into the
pytest cache. Without Node.js and npm the TypeScript test is skipped, and fails under CI=true.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from .conftest import KEYS
from .processes import Served, serving

PACKAGE = "stockledger_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
NPM_TOOLS = ("openapi-typescript@7", "typescript@5")
JOURNEY_TS = Path(__file__).with_name("generated_journey.ts")
PROJECTION_SECONDS = 30


@pytest.fixture(scope="module")
def served(
    new_database: Callable[[], str],
    redis_server: str,
    kafka_broker: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """One `serve` with the whole pipeline, on a ledger of its own."""
    run = os.urandom(4).hex()
    env = {
        "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
        "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",  # the test broker has no InitProducerId
        "STOCKLEDGER_KAFKA_TOPIC": f"clients-{run}",
        "STOCKLEDGER_KAFKA_CONSUMER_GROUP": f"clients-{run}",
        "STOCKLEDGER_REDIS_URL": redis_server,
        "STOCKLEDGER_REDIS_PREFIX": f"clients-{run}:",
    }
    folder = tmp_path_factory.mktemp("clients")
    with serving(new_database(), folder, 1, "--no-expiry", **env) as (server,):
        yield server


@pytest.fixture(scope="module")
def document(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The document as the server serves it, in a file."""
    response = httpx.get(f"{served.url}/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    path = tmp_path_factory.mktemp("document") / "openapi.json"
    path.write_text(json.dumps(response.json()))
    return path


@pytest.fixture(scope="module")
def client_package(document: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The generated Python client, importable as PACKAGE while the module's tests run."""
    folder = tmp_path_factory.mktemp("python-client")
    config = folder / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))  # its formatting is not the point
    output = ["--output-path", str(folder / PACKAGE), "--config", str(config)]
    generated = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none", *output],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    printed = generated.stdout + generated.stderr
    assert generated.returncode == 0, printed
    assert "warning" not in printed.lower(), printed
    sys.path.insert(0, str(folder))
    try:
        yield PACKAGE
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


class Generated:
    """The generated client's modules, by the names the document gives them."""

    def __init__(self, package: str, url: str) -> None:
        self.package = package
        self.url = url
        self.models = self.module("models")
        self.opened: list[Any] = []

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{name}")

    def operation(self, tag: str, operation_id: str) -> Any:
        return self.module(f"api.{tag}.{operation_id}")

    def client(self, role: str) -> Any:
        """A client that sends `Authorization: Bearer <role's key>`."""
        client = self.module("client").AuthenticatedClient(base_url=self.url, token=KEYS[role])
        self.opened.append(client)
        return client

    def close(self) -> None:
        for client in self.opened:
            client.get_httpx_client().close()


@pytest.fixture
def api(client_package: str, served: Served) -> Iterator[Generated]:
    generated = Generated(client_package, served.url)
    yield generated
    generated.close()


def _until(probe: Callable[[], Any], what: str, within: float = PROJECTION_SECONDS) -> Any:
    deadline = time.monotonic() + within
    while not (found := probe()):
        assert time.monotonic() < deadline, f"{what} not within {within} s"
        time.sleep(0.05)  # polling the condition above
    return found


def test_the_readme_journey_runs_through_a_generated_python_client(
    api: Generated, ids: Callable[[str], str]
) -> None:
    m = api.models
    ops, orders = api.client("warehouse"), api.client("orders")
    sku, warehouse, order = ids("SKU"), ids("WH"), ids("ORDER")

    # Ops receive stock.
    receive = api.operation("commands", "receive")
    receipt = m.ReceiptIn(
        sku=sku,
        warehouse_id=warehouse,
        quantity=10,
        purchase_order_id="PO-7",
        unit_cost="2.35",
        supplier="Acme",
    )
    received = receive.sync_detailed(client=ops, body=receipt)
    assert received.status_code == 201, received.content
    assert isinstance(received.parsed, m.CommandOut)
    (event,) = received.parsed.events
    assert (event.type_, event.data["unitCost"]) == ("StockReceived", "2.35")
    assert received.parsed.stock[0].on_hand == 10
    assert received.headers["X-Correlation-Id"] == "PO-7"

    # The order service reserves under an Idempotency-Key, and a retry replays the answer.
    reserve = api.operation("commands", "reserve")
    line = m.LineIn(sku=sku, warehouse_id=warehouse, quantity=3)
    reservation = m.ReservationIn(order_id=order, lines=[line])
    key = ids("order-try")
    first = reserve.sync_detailed(client=orders, body=reservation, idempotency_key=key)
    assert first.status_code == 201, first.content
    assert isinstance(first.parsed, m.ReservationCommandOut)
    reserved = first.parsed
    assert reserved.status == m.ReservationCommandOutStatus.ACTIVE
    assert reserved.stock[0].reserved == 3
    assert first.headers["Location"] == f"/v1/reservations/{reserved.reservation_id}"
    assert "Idempotent-Replayed" not in first.headers
    again = reserve.sync_detailed(client=orders, body=reservation, idempotency_key=key)
    assert again.status_code == 201  # the original status, as documented
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed == reserved  # the original body: nothing appended

    confirm = api.operation("commands", "confirm")
    confirmed = confirm.sync_detailed(reserved.reservation_id, client=orders, body=m.ConfirmIn())
    assert confirmed.status_code == 201, confirmed.content
    assert confirmed.parsed.status == m.ReservationCommandOutStatus.CONFIRMED

    ship = api.operation("commands", "ship")
    shipment = m.ReservationShipmentIn(
        shipment_id=ids("SHIP"), order_id=order, reservation_id=reserved.reservation_id
    )
    shipped = ship.sync_detailed(client=orders, body=shipment)
    assert shipped.status_code == 201, shipped.content
    assert {e.type_ for e in shipped.parsed.events} == {"StockShipped"}
    assert [(x.on_hand, x.reserved) for x in shipped.parsed.stock] == [(7, 0)]

    # Ops read the level (folded from the store, then as the projections serve it).
    stock_level = api.operation("queries", "stock_level")
    strong = stock_level.sync_detailed(
        sku, warehouse, client=ops, consistency=m.StockLevelConsistency.STRONG
    )
    assert strong.status_code == 200, strong.content
    level = strong.parsed
    assert (level.on_hand, level.reserved, level.available) == (7, 0, 7)
    assert strong.headers["ETag"] == f'"{level.version}"'
    assert strong.headers["X-Stock-Source"] == "event-store"

    def projected() -> Any:
        answer = stock_level.sync_detailed(sku, warehouse, client=ops)
        caught_up = answer.status_code == 200 and answer.parsed.version == level.version
        return answer if caught_up and answer.headers["X-Stock-Source"] != "event-store" else None

    eventual = _until(projected, "the projections serving the level")
    assert eventual.parsed.on_hand == 7
    assert "X-Projected-At" in eventual.headers

    sku_stock = api.operation("queries", "sku_stock").sync_detailed(sku, client=ops)
    assert sku_stock.status_code == 200, sku_stock.content
    assert isinstance(sku_stock.parsed, m.SkuStockOut)
    assert sku_stock.parsed.totals.on_hand == 7

    # The history, each event with the balance after it.
    history = api.operation("queries", "stock_history").sync_detailed(sku, warehouse, client=ops)
    assert history.status_code == 200, history.content
    assert isinstance(history.parsed, m.HistoryOut)
    balances = [(e.type_, e.balance.on_hand, e.balance.reserved) for e in history.parsed.events]
    assert balances == [
        ("StockReceived", 10, 0),
        ("StockReserved", 10, 3),
        ("StockShipped", 7, 0),
    ]

    # Time travel, by version and by instant.
    stock_at = api.operation("queries", "stock_at")
    after_reserving = stock_at.sync_detailed(sku, warehouse, client=ops, version=2)
    assert after_reserving.status_code == 200, after_reserving.content
    assert (after_reserving.parsed.on_hand, after_reserving.parsed.reserved) == (10, 3)
    received_at = history.parsed.events[0].recorded_at
    then = stock_at.sync_detailed(sku, warehouse, client=ops, timestamp=received_at)
    assert (then.parsed.version, then.parsed.on_hand, then.parsed.reserved) == (1, 10, 0)
    before = stock_at.sync_detailed(
        sku, warehouse, client=ops, timestamp=received_at - timedelta(seconds=1)
    )
    assert before.status_code == 404
    assert isinstance(before.parsed, m.ProblemOut)

    # Refusals are typed problems: 409 names the short lines, 422 each error.
    short = reserve.sync_detailed(
        client=orders,
        body=m.ReservationIn(
            order_id=ids("ORDER"), lines=[m.LineIn(sku=sku, warehouse_id=warehouse, quantity=50)]
        ),
    )
    assert short.status_code == 409
    problem = short.parsed
    assert isinstance(problem, m.ProblemOut)
    assert problem.type_ == "/problems/insufficient-stock"
    ((sku_, warehouse_, requested, available),) = [
        (x.sku, x.warehouse_id, x.requested, x.available) for x in problem.lines
    ]
    assert (sku_, warehouse_, requested, available) == (sku, warehouse, 50, 7)

    nothing = m.ReceiptIn.from_dict({**receipt.to_dict(), "quantity": 0})
    invalid = receive.sync_detailed(client=ops, body=nothing)
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, m.ProblemOut)
    assert invalid.parsed.type_ == "/problems/validation-error"
    assert [e.location for e in invalid.parsed.errors] == ["body.quantity"]


@pytest.fixture(scope="module")
def typescript_tools(request: pytest.FixtureRequest) -> Path:
    """openapi-typescript and tsc, installed once per versions (a run installs into a folder
    of its own, then moves it into place, so parallel runs never share a half install)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not on PATH: install Node.js (with npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = "npm-" + "-".join(t.replace("@", "").replace("/", "_") for t in NPM_TOOLS)
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir(name) if cache is not None else Path(tempfile.gettempdir()) / name
    root.mkdir(parents=True, exist_ok=True)
    tools = root / "tools"
    if not (tools / "node_modules" / ".bin" / "tsc").exists():
        staging = Path(tempfile.mkdtemp(prefix="tools-", dir=root))
        installed = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(staging), *NPM_TOOLS],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        try:
            staging.rename(tools)
        except OSError:  # another run got there first
            shutil.rmtree(staging, ignore_errors=True)
    return tools / "node_modules" / ".bin"


def test_the_typescript_types_of_the_document_type_check(
    typescript_tools: Path, document: Path, tmp_path: Path
) -> None:
    tools = typescript_tools
    generated = subprocess.run(
        [str(tools / "openapi-typescript"), str(document), "--output", str(tmp_path / "api.ts")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    printed = generated.stdout + generated.stderr
    assert generated.returncode == 0, printed
    assert "warn" not in printed.lower(), printed
    shutil.copy(JOURNEY_TS, tmp_path / "journey.ts")
    options = ["--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler"]
    checked = subprocess.run(
        [str(tools / "tsc"), "--noEmit", "--strict", *options, "api.ts", "journey.ts"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
