"""Several `stockledger serve` processes on one database: the write path across processes.

Real processes, real Postgres; each test writes SKUs and orders of its own.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from stockledger.pipeline.leader import CLASS, RELAY_LOCK, ROLE_LOCKS

from ..support import eventually
from .conftest import auth
from .processes import Served, serving


def _clients(servers: list[Served]) -> list[httpx.AsyncClient]:
    # Idle connections expire well before the server's keep-alive (5 s): a client that reuses
    # one just as the server closes it reads a reset (httpx does not retry a POST).
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2)
    return [httpx.AsyncClient(base_url=s.url, timeout=30, limits=limits) for s in servers]


async def _close(clients: list[httpx.AsyncClient]) -> None:
    await asyncio.gather(*(c.aclose() for c in clients))


def _reservation(order: str, *lines: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "orderId": order,
        "lines": [{"sku": s, "warehouseId": w, "quantity": q} for s, w, q in lines],
    }


class Orders:
    """The order service's client: every reservation carries an Idempotency-Key, and a request
    cut on the wire (a reset under load) is sent again with the same key, as the contract tells
    clients to. The cuts are kept: a test allows a few, never a pattern."""

    def __init__(self, ids: Any) -> None:
        self.ids = ids
        self.cuts: list[str] = []

    async def reserve(
        self, http: httpx.AsyncClient, *lines: tuple[str, str, int]
    ) -> httpx.Response:
        body = _reservation(self.ids("ORDER"), *lines)
        headers = {**auth("orders"), "Idempotency-Key": self.ids("KEY")}
        for _ in range(3):
            try:
                return await http.post("/v1/reservations", json=body, headers=headers)
            except httpx.TransportError as error:
                self.cuts.append(f"{error!r} <- {error.__cause__!r} <- {_root(error)!r}")
        return await http.post("/v1/reservations", json=body, headers=headers)

    def assert_few_cuts(self) -> None:
        if self.cuts:  # shown in the run's warnings summary: what cut them, for the record
            warnings.warn(f"{len(self.cuts)} request(s) cut and retried: {self.cuts}", stacklevel=2)
        assert len(self.cuts) <= 3, self.cuts


def _root(error: BaseException) -> BaseException:
    while (deeper := error.__cause__ or error.__context__) is not None:
        error = deeper
    return error


async def _receive(http: httpx.AsyncClient, sku: str, wh: str, qty: int) -> None:
    body = {
        "sku": sku,
        "warehouseId": wh,
        "quantity": qty,
        "purchaseOrderId": "PO-SCALE",
        "unitCost": "1.00",
        "supplier": "Acme",
    }
    response = await http.post("/v1/receipts", json=body, headers=auth("warehouse"))
    assert response.status_code == 201, response.text


async def _strong(http: httpx.AsyncClient, sku: str, wh: str) -> dict[str, Any]:
    response = await http.get(
        f"/v1/stock/{sku}/{wh}", params={"consistency": "strong"}, headers=auth("admin")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _reserved_events(http: httpx.AsyncClient, sku: str, wh: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"types": "StockReserved", "limit": 1000}
        if after:
            params["after"] = after
        page = await http.get(f"/v1/stock/{sku}/{wh}/history", params=params, headers=auth("admin"))
        assert page.status_code == 200, page.text
        events += page.json()["events"]
        after = page.json().get("next")
        if not after:
            return events


def _refused_total(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("stockledger_commands_refused_total "):
            return float(line.split()[1])
    return 0.0


# -- hedged requests: one key, many processes ---------------------------------------------


@pytest.mark.parametrize("processes", [2, 4])
async def test_an_order_sent_to_every_process_at_once_gets_one_answer_everywhere(
    database_url: str, tmp_path: Path, ids: Any, processes: int
) -> None:
    sku, wh = ids("HEDGE"), "WH-A"
    with serving(database_url, tmp_path, processes, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await _receive(clients[0], sku, wh, 60)  # 100 orders of 1: stock runs out midway
            orders = [(ids("ORDER"), ids("KEY")) for _ in range(100)]

            async def send(http: httpx.AsyncClient, order: str, key: str) -> httpx.Response:
                headers = {**auth("orders"), "Idempotency-Key": key}
                body = _reservation(order, (sku, wh, 1))
                return await http.post("/v1/reservations", json=body, headers=headers)

            copies = [[send(http, order, key) for http in clients] for order, key in orders]
            answered = await asyncio.wait_for(
                asyncio.gather(*(asyncio.gather(*c) for c in copies)), timeout=10
            )
            statuses: Counter[int] = Counter()
            for replies in answered:
                assert len({r.status_code for r in replies}) == 1, [r.text for r in replies]
                assert all(r.json() == replies[0].json() for r in replies)
                replayed = [r.headers.get("Idempotent-Replayed") == "true" for r in replies]
                assert replayed.count(False) == 1, "exactly one copy executed"
                statuses[replies[0].status_code] += 1
                if replies[0].status_code == 409:
                    assert replies[0].json()["type"] == "/problems/insufficient-stock"
            assert statuses == {201: 60, 409: 40}
            level = await _strong(clients[0], sku, wh)
            assert (level["reserved"], level["available"]) == (60, 0)
            reserved = await _reserved_events(clients[0], sku, wh)
            assert len(reserved) == 60
            assert len({e["data"]["orderId"] for e in reserved}) == 60  # once per order
            again = await asyncio.gather(
                *(send(clients[-1], order, key) for order, key in orders[:10])
            )
            assert all(r.headers.get("Idempotent-Replayed") == "true" for r in again)
        finally:
            await _close(clients)


# -- one hot SKU, four processes -------------------------------------------------------------


async def test_four_processes_on_one_hot_sku_refuse_no_valid_reservation(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    sku, wh = ids("FLASH"), "WH-A"
    with serving(database_url, tmp_path, 4, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await _receive(clients[0], sku, wh, 1_000_000)
            gate = asyncio.Semaphore(160)
            orders = Orders(ids)

            async def reserve(n: int) -> int:
                async with gate:
                    reply = await orders.reserve(clients[n % len(clients)], (sku, wh, 1))
                    return reply.status_code

            statuses = Counter(await asyncio.gather(*(reserve(n) for n in range(1600))))
            assert statuses == {201: 1600}
            orders.assert_few_cuts()
            level = await _strong(clients[0], sku, wh)
            assert level["reserved"] == 1600
            assert level["version"] == 1601  # one receipt, one event per reservation, no gap
            for http in clients:
                assert _refused_total((await http.get("/metrics")).text) == 0
        finally:
            await _close(clients)


async def test_a_sell_out_across_four_processes_is_exact(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    sku, wh = ids("SELLOUT"), "WH-A"
    with serving(database_url, tmp_path, 4, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await _receive(clients[0], sku, wh, 300)
            orders = Orders(ids)
            replies = await asyncio.gather(
                *(orders.reserve(clients[n % 4], (sku, wh, 1)) for n in range(900))
            )
            assert Counter(r.status_code for r in replies) == {201: 300, 409: 600}
            orders.assert_few_cuts()
            assert {r.json()["type"] for r in replies if r.status_code == 409} == {
                "/problems/insufficient-stock"
            }
            level = await _strong(clients[0], sku, wh)
            assert (level["reserved"], level["available"]) == (300, 0)
        finally:
            await _close(clients)


async def test_a_reorder_point_crossed_from_four_processes_opens_exactly_one_alert(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    sku, wh = ids("ALERT"), "WH-A"
    with serving(database_url, tmp_path, 4, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await _receive(clients[0], sku, wh, 45)
            rule = {"reorderPoint": 10, "reorderQuantity": 50}
            put = await clients[1].put(
                f"/v1/reorder-rules/{sku}/{wh}", json=rule, headers=auth("warehouse")
            )
            assert put.status_code == 201, put.text
            orders = Orders(ids)
            replies = await asyncio.gather(
                *(orders.reserve(clients[n % 4], (sku, wh, 1)) for n in range(40))
            )
            assert Counter(r.status_code for r in replies) == {201: 40}
            orders.assert_few_cuts()
            trail = await clients[2].get(
                f"/v1/stock/{sku}/{wh}", headers=auth("admin"), params={"consistency": "strong"}
            )
            assert trail.json()["available"] == 5
            events = await clients[3].get(
                "/v1/exports/events", params={"sku": sku}, headers=auth("auditor")
            )
            kinds = [
                e["type"]
                for e in map(orjson.loads, events.content.splitlines())
                if e["streamId"] == f"reorder:{sku}:{wh}"
            ]
            assert kinds == ["ReorderRuleSet", "LowStockDetected"]  # 45 -> 5 crossed 10 once
        finally:
            await _close(clients)


async def test_kits_and_their_components_reserved_from_four_processes_never_oversell(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    """Two kits sharing a component, and the components alone, reserved at once from four
    processes: no component ever goes below zero available, every unit reserved belongs to an
    accepted order, and every refusal was right (stock only falls here, so an order refused
    then is still short at the end) and appended nothing."""
    wh = "WH-A"
    mug, tea, spoon = ids("MUG"), ids("TEA"), ids("SPOON")
    gift, brew = ids("GIFT"), ids("BREW")
    kits = {gift: {mug: 2, tea: 1}, brew: {tea: 1, spoon: 3}}
    stock = {mug: 60, tea: 50, spoon: 90}
    shapes = [
        ((gift, 1),),
        ((brew, 1),),
        ((gift, 1), (brew, 1)),
        ((gift, 2), (tea, 1)),
        ((tea, 2),),
        ((mug, 1), (spoon, 2)),
    ]
    chooser = random.Random(11)
    orders = [shapes[chooser.randrange(len(shapes))] for _ in range(240)]

    def needs(lines: tuple[tuple[str, int], ...]) -> Counter[str]:
        units: Counter[str] = Counter()
        for sku, quantity in lines:
            for part, per in kits.get(sku, {sku: 1}).items():
                units[part] += quantity * per
        return units

    with serving(database_url, tmp_path, 4, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await asyncio.gather(*(_receive(clients[0], s, wh, q) for s, q in stock.items()))
            for kit, parts in kits.items():
                body = {"components": [{"sku": s, "quantity": q} for s, q in parts.items()]}
                put = await clients[1].put(f"/v1/kits/{kit}", json=body, headers=auth("admin"))
                assert put.status_code == 201, put.text
            client = Orders(ids)
            replies = await asyncio.gather(
                *(
                    client.reserve(clients[n % 4], *((s, wh, q) for s, q in lines))
                    for n, lines in enumerate(orders)
                )
            )
            client.assert_few_cuts()
            statuses = Counter(r.status_code for r in replies)
            assert set(statuses) <= {201, 409}, statuses
            assert statuses[201] > 0
            assert statuses[409] > 0  # the workload asks for more than there is
            taken: Counter[str] = Counter()
            touching: Counter[str] = Counter()
            for lines, reply in zip(orders, replies, strict=True):
                if reply.status_code == 201:
                    taken.update(needs(lines))
                    touching.update(needs(lines).keys())
                else:
                    assert reply.json()["type"] == "/problems/insufficient-stock"
            levels = {s: await _strong(clients[0], s, wh) for s in stock}
            for sku, level in levels.items():
                assert level["reserved"] == taken[sku], sku
                assert 0 <= level["reserved"] <= level["onHand"] == stock[sku]
                # the receipt, then one event per accepted order holding it: refusals added none
                assert level["version"] == 1 + touching[sku], sku
            for lines, reply in zip(orders, replies, strict=True):
                if reply.status_code == 409:
                    short = [s for s, q in needs(lines).items() if q > levels[s]["available"]]
                    assert short, (lines, reply.json())
        finally:
            await _close(clients)


async def test_multi_line_reservations_in_random_orders_from_four_processes_never_deadlock(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    wh = "WH-A"
    skus = [ids("MULTI") for _ in range(8)]
    chooser = random.Random(7)
    with serving(database_url, tmp_path, 4, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await asyncio.gather(*(_receive(clients[0], sku, wh, 100_000) for sku in skus))
            orders = [
                [(sku, wh, chooser.randint(1, 3)) for sku in chooser.sample(skus, 3)]
                for _ in range(400)
            ]
            client = Orders(ids)
            replies = await asyncio.wait_for(
                asyncio.gather(
                    *(client.reserve(clients[n % 4], *lines) for n, lines in enumerate(orders))
                ),
                timeout=60,
            )
            assert Counter(r.status_code for r in replies) == {201: 400}
            client.assert_few_cuts()
            wanted: Counter[str] = Counter()
            for lines in orders:
                for sku, _, quantity in lines:
                    wanted[sku] += quantity
            for sku in skus:
                level = await _strong(clients[0], sku, wh)
                assert level["reserved"] == wanted[sku]
                assert 0 <= level["reserved"] <= level["onHand"]
                events = await _reserved_events(clients[0], sku, wh)
                assert level["version"] == len(events) + 1  # the receipt, then one per line
        finally:
            await _close(clients)


# -- processes that die or stop --------------------------------------------------------------


async def _reservations_whole(http: httpx.AsyncClient, sku: str, wh: str) -> int:
    """Every StockReserved on the stock stream has its reservation stream, and the levels
    equal the events: nothing half-written. Returns the reserved quantity."""
    events = await _reserved_events(http, sku, wh)
    for event in events:
        reservation_id = event["data"]["reservationId"]
        got = await http.get(f"/v1/reservations/{reservation_id}", headers=auth("admin"))
        assert got.status_code == 200, got.text
    level = await _strong(http, sku, wh)
    assert level["reserved"] == len(events)
    return len(events)


async def test_sigkill_of_one_process_mid_batch_leaves_nothing_half_written_and_no_lock(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    sku, wh = ids("KILL"), "WH-A"
    with serving(database_url, tmp_path, 2, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await _receive(clients[0], sku, wh, 100_000)

            async def reserve(http: httpx.AsyncClient) -> int | None:
                body = _reservation(ids("ORDER"), (sku, wh, 1))
                try:
                    reply = await http.post("/v1/reservations", json=body, headers=auth("orders"))
                except httpx.TransportError:
                    return None  # the killed process's requests: cut, not answered
                return reply.status_code

            load = [asyncio.ensure_future(reserve(clients[n % 2])) for n in range(600)]
            await eventually(
                lambda: _count_reserved_soon(clients[1], sku, wh), what="writes under way"
            )
            os.killpg(servers[0].process.pid, signal.SIGKILL)
            statuses = Counter(await asyncio.gather(*load))
            assert set(statuses) <= {201, None}
            assert statuses[201] > 0
            # The survivor goes on with the same stream at once: no lock was left behind.
            after = await asyncio.wait_for(
                asyncio.gather(*(reserve(clients[1]) for _ in range(50))), timeout=10
            )
            assert after == [201] * 50
            assert await _reservations_whole(clients[1], sku, wh) >= statuses[201] + 50
        finally:
            await _close(clients)


async def _count_reserved_soon(http: httpx.AsyncClient, sku: str, wh: str) -> bool:
    level = await _strong(http, sku, wh)
    return int(level["reserved"]) >= 50


async def test_sigterm_under_load_stops_the_process_in_bounded_time(
    database_url: str, tmp_path: Path, ids: Any
) -> None:
    sku, wh = ids("TERM"), "WH-A"
    with serving(database_url, tmp_path, 1, "--no-expiry") as servers:
        clients = _clients(servers)
        try:
            await _receive(clients[0], sku, wh, 100_000)

            async def reserve() -> int | None:
                body = _reservation(ids("ORDER"), (sku, wh, 1))
                try:
                    headers = {**auth("orders"), "Idempotency-Key": ids("KEY")}
                    reply = await clients[0].post("/v1/reservations", json=body, headers=headers)
                except httpx.TransportError:
                    return None
                return reply.status_code

            load = [asyncio.ensure_future(reserve()) for _ in range(600)]
            await eventually(
                lambda: _count_reserved_soon(clients[0], sku, wh), what="writes under way"
            )
            stopped_at = time.monotonic()
            os.killpg(servers[0].process.pid, signal.SIGTERM)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, servers[0].process.wait, 20)
            assert time.monotonic() - stopped_at < 15
            statuses = Counter(await asyncio.gather(*load))
            assert set(statuses) <= {201, 503, None}, statuses
        finally:
            await _close(clients)
    with serving(database_url, tmp_path, 1, "--no-expiry") as again:
        clients = _clients(again)
        try:
            assert await _reservations_whole(clients[0], sku, wh) >= statuses[201]
        finally:
            await _close(clients)


# -- serve --workers N ------------------------------------------------------------------------


async def _lock_holders(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT classid::bigint AS classid, objid::bigint AS objid, objsubid, "
            "count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "GROUP BY 1, 2, 3"
        )
    finally:
        await conn.close()
    held: dict[tuple[int, int, int], int] = {
        (r["classid"], r["objid"], r["objsubid"]): r["n"] for r in rows
    }
    holders = {role: held.get((CLASS, n, 2), 0) for role, n in ROLE_LOCKS.items()}
    holders["relay"] = held.get((RELAY_LOCK >> 32, RELAY_LOCK & 0xFFFF_FFFF, 1), 0)
    return holders


async def test_serve_with_workers_answers_from_every_worker_and_elects_one_leader_per_role(
    database_url: str, new_database: Any, kafka_broker: str, tmp_path: Path, ids: Any
) -> None:
    # The roles' locks are per database: count only this deployment's.
    own = await asyncio.get_running_loop().run_in_executor(None, new_database)
    env = {
        "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
        "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",
        "STOCKLEDGER_KAFKA_TOPIC": ids("topic"),
        "STOCKLEDGER_KAFKA_CONSUMER_GROUP": ids("group"),
        "STOCKLEDGER_AUDIT_KEY": "workers-audit-key",
    }
    with serving(own, tmp_path, 1, "--workers", "2", **env) as servers:
        base = servers[0].url
        expected = {
            "expiry": 1,
            "checkpoints": 1,
            "projector": 1,
            "verifier": 1,
            "relay": 1,
            "webhooks": 1,  # its secrets key is derived from the audit key set here
        }
        await eventually(
            lambda: _one_each(own, expected), within=30, what="one leader per background role"
        )
        busy: set[str] = set()  # workers (pids) seen serving a request

        async def scrape() -> str:
            async with httpx.AsyncClient(base_url=base, timeout=5) as fresh:  # a new connection
                return (await fresh.get("/metrics")).text

        async def both_answered() -> bool:
            # /metrics of either worker reports both (multiprocess mode); requests in flight
            # per worker, sampled while connections at once keep both of them serving.
            for metrics in await asyncio.gather(*(scrape() for _ in range(16))):
                for line in metrics.splitlines():
                    if line.startswith("stockledger_http_requests_in_flight{"):
                        labels, value = line.rsplit(" ", 1)
                        if float(value) > 0:
                            busy.add(labels)
            return len(busy) == 2

        await eventually(both_answered, within=30, what="answers from both workers")
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            sku = ids("WORKERS")
            await _receive(http, sku, "WH-A", 5)
            for _ in range(20):  # several connections: whichever worker answers, it's one ledger
                async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:
                    assert (await _strong(fresh, sku, "WH-A"))["onHand"] == 5
        holders = await _lock_holders(own)
        assert holders == expected  # still one each, not one per worker


async def _one_each(database_url: str, expected: dict[str, int]) -> bool:
    return await _lock_holders(database_url) == expected
