"""The Postgres primary dies or restarts under keyed load from two `serve` processes: every
request is answered (a 503 with Retry-After is an answer; a hang or a 500 is a failure), every
201 is kept, keyed retries replay, positions never go back, and the service follows the new
primary without a restart.

The primary and its synchronous standby run from the machine's Postgres binaries
(ops/local_services/replication.py); without them these tests are skipped."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from stockledger.ops.local_services.replication import ReplicatedPostgres
from stockledger.pipeline.leader import CLASS, RELAY_LOCK, ROLE_LOCKS

from ..integration.kafka_reader import read_records
from ..support import eventually, run_cli
from .conftest import auth
from .processes import serving
from .replicated import needs_binaries

pytestmark = needs_binaries

# Keyed load, half on each process, and how long it goes on after the first 201 on the new
# primary. CI: 8 clients, 3 s; full size (docs/ha.md): 64 clients, 30 s.
CLIENTS = int(os.environ.get("STOCKLEDGER_FAILOVER_CLIENTS", "8"))
AFTER_SECONDS = float(os.environ.get("STOCKLEDGER_FAILOVER_AFTER_SECONDS", "3"))
ANSWER_SECONDS = 5.0  # every answer, 503s included, within this


@dataclass
class Load:
    """Receipts, each under its own Idempotency-Key, retried with that key until 201."""

    skus: list[str]
    statuses: Counter[int] = field(default_factory=Counter)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> the 201 body
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> request body
    slowest: float = 0.0
    failures: list[str] = field(default_factory=list)
    first_201_after: dict[str, float] = field(default_factory=dict)

    async def client(self, http: httpx.AsyncClient, running: Callable[[], bool]) -> None:
        while running():
            key = uuid.uuid4().hex
            sku = random.choice(self.skus)
            body = {"sku": sku, "warehouseId": "WH-A", "quantity": 1, "purchaseOrderId": "PO",
                    "unitCost": "1.00", "supplier": "S"}  # fmt: skip
            self.bodies[key] = body
            while True:
                reply = await self.send(http, key, body)
                if reply is None or reply.status_code != 503:
                    break
                await asyncio.sleep(float(reply.headers.get("Retry-After", "1")) / 4)
            if reply is not None and reply.status_code == 201:
                self.created[key] = reply.json()
                self.first_201_after.setdefault("any", time.monotonic())

    async def send(
        self, http: httpx.AsyncClient, key: str, body: dict[str, Any]
    ) -> httpx.Response | None:
        started = time.monotonic()
        headers = {**auth("admin"), "Idempotency-Key": key}
        try:
            reply = await http.post("/v1/receipts", json=body, headers=headers)
        except httpx.HTTPError as error:
            self.failures.append(f"no answer for {key}: {error!r}")
            return None
        took = time.monotonic() - started
        self.slowest = max(self.slowest, took)
        self.statuses[reply.status_code] += 1
        if reply.status_code == 503 and "Retry-After" not in reply.headers:
            self.failures.append(f"503 without Retry-After: {reply.text}")
        elif reply.status_code not in (201, 503):
            self.failures.append(f"{reply.status_code}: {reply.text}")
        return reply


async def _run_with_fault(
    urls: list[str], fault: Callable[[], Any], recover: Callable[[], Any]
) -> tuple[Load, float]:
    """Load through both processes; `fault` mid-load, `recover` after it; returns the load
    and the seconds from the fault to the first 201 after it."""
    load = Load([f"FO-{uuid.uuid4().hex[:6]}-{n}" for n in range(4)])
    clients = [httpx.AsyncClient(base_url=urls[n % len(urls)], timeout=15) for n in range(CLIENTS)]
    stop_at = float("inf")
    running = lambda: time.monotonic() < stop_at  # noqa: E731
    tasks = [asyncio.create_task(load.client(c, running)) for c in clients]
    try:
        await eventually(lambda: _some(load), within=30, what="load under way")
        struck = time.monotonic()
        await asyncio.to_thread(fault)
        load.first_201_after.clear()
        await asyncio.to_thread(recover)
        await eventually(
            lambda: _back(load), within=60, interval=0.05, what="a 201 after the fault"
        )
        back = load.first_201_after["any"] - struck
        stop_at = time.monotonic() + AFTER_SECONDS
        async with asyncio.timeout(60):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for c in clients:
            await c.aclose()
    return load, back


async def _some(load: Load) -> bool:
    return len(load.created) >= 20


async def _back(load: Load) -> bool:
    return "any" in load.first_201_after


async def _check_nothing_lost(url: str, load: Load, http: httpx.AsyncClient) -> None:
    assert load.failures == [], load.failures[:5]
    assert load.slowest <= ANSWER_SECONDS, f"slowest answer {load.slowest:.1f} s"
    conn = await asyncpg.connect(url)
    try:
        ids = [e["eventId"] for body in load.created.values() for e in body["events"]]
        found = await conn.fetchval(
            "SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", ids
        )
        assert found == len(ids), "every 201's events are in the new primary's store"
        per_sku = Counter(load.bodies[k]["sku"] for k in load.created)
        for sku, count in per_sku.items():
            on_hand = await conn.fetchval(
                "SELECT sum(d_on_hand) FROM events WHERE stream_id = $1", f"stock:{sku}:WH-A"
            )
            assert on_hand == count, f"{sku}: the stream is exactly the 201s"
        total = await conn.fetchval("SELECT count(*) FROM events")
        for key in random.sample(sorted(load.created), 20):  # keyed retries replay
            headers = {**auth("admin"), "Idempotency-Key": key}
            again = await http.post("/v1/receipts", json=load.bodies[key], headers=headers)
            assert again.status_code == 201
            assert again.json()["events"] == load.created[key]["events"]
        assert await conn.fetchval("SELECT count(*) FROM events") == total
    finally:
        await conn.close()


async def _positions_never_go_back(url: str, fault_at: datetime, back_at: datetime) -> None:
    """Every event recorded after the service came back sits above every event recorded
    before the fault: the new primary's positions (xid8-based) continue the old one's."""
    conn = await asyncpg.connect(url)
    try:
        old = await conn.fetchval(
            "SELECT max(position) FROM events WHERE recorded_at < $1", fault_at
        )
        new = await conn.fetchval(
            "SELECT min(position) FROM events WHERE recorded_at > $1", back_at
        )
    finally:
        await conn.close()
    assert old is not None
    assert new is not None
    assert old < new, (old, new)


async def _leaders(url: str, roles: frozenset[str] = frozenset({"expiry"})) -> bool:
    """Every one of `roles` has its leader (holds its advisory lock) on this server."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT classid::bigint AS a, objid::bigint AS b, objsubid FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    finally:
        await conn.close()
    held = {(r["a"], r["b"]) for r in rows if r["objsubid"] == 2}
    held_big = {(r["a"] << 32) | r["b"] for r in rows if r["objsubid"] == 1}
    leading = {role for role, n in ROLE_LOCKS.items() if (CLASS, n) in held}
    leading |= {"relay"} if RELAY_LOCK in held_big else set()
    return roles <= leading


async def test_primary_killed_and_standby_promoted_loses_nothing(
    pair: tuple[ReplicatedPostgres, str],
    tmp_path: Path,
    kafka_broker: str,
    redis_server: str,
) -> None:
    """With the whole pipeline: the topic holds exactly the new primary's events (none
    missing, none replaced) and the read models converge (verify is clean)."""
    pg, url = pair
    pipeline = {
        "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
        "STOCKLEDGER_KAFKA_TOPIC": f"failover-{uuid.uuid4().hex[:8]}",
        "STOCKLEDGER_KAFKA_CONSUMER_GROUP": f"failover-{uuid.uuid4().hex[:8]}",
        "STOCKLEDGER_KAFKA_PARTITIONS": "3",
        "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",
        "STOCKLEDGER_REDIS_URL": redis_server,
        "STOCKLEDGER_REDIS_PREFIX": f"failover-{uuid.uuid4().hex[:8]}:",
    }
    with serving(url, tmp_path, 2, **pipeline) as servers:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=15) as http:
            marks: dict[str, datetime] = {}

            def kill() -> None:
                marks["fault"] = datetime.now(UTC)
                pg.kill_primary()
                time.sleep(1.0)  # no primary for a while: commands must get 503s, not hang

            def promote() -> None:
                pg.promote()
                marks["promoted"] = datetime.now(UTC)

            load, back = await _run_with_fault([s.url for s in servers], kill, promote)
            assert load.statuses[503] > 0, "the outage was seen"
            await _check_nothing_lost(url, load, http)
            await _positions_never_go_back(url, marks["fault"], marks["promoted"])
            # The elected roles are led again, on the new primary.
            roles = frozenset({"expiry", "relay", "projector", "verifier"})
            await eventually(lambda: _leaders(url, roles), within=15, what="leaders re-elected")
            await _topic_is_the_store(url, kafka_broker, pipeline["STOCKLEDGER_KAFKA_TOPIC"])
            env = {k: v for k, v in pipeline.items() if k.startswith("STOCKLEDGER_REDIS")}
            await eventually(
                lambda: _verify_clean(url, env), within=60, interval=1, what="verify clean"
            )
            print(f"failover: first 201 {back:.1f} s after the kill, {load.statuses}")


async def _topic_is_the_store(url: str, bootstrap: str, topic: str) -> None:
    """Every event of the store is on the topic, and every message on the topic is the
    store's event with that id at the same stream and version."""
    conn = await asyncpg.connect(url)
    try:
        await eventually(
            lambda: _outbox_empty(conn), within=30, what="the outbox drained on the new primary"
        )
        stored = {
            str(r["event_id"]): (r["stream_id"], r["version"])
            for r in await conn.fetch("SELECT event_id, stream_id, version FROM events")
        }
    finally:
        await conn.close()
    sent: dict[str, tuple[str, int]] = {}
    for record in await read_records(bootstrap, topic):
        envelope = orjson.loads(record.value or b"{}")
        sent[envelope["eventId"]] = (envelope["streamId"], envelope["version"])
    assert sent == stored


async def _outbox_empty(conn: asyncpg.Connection[Any]) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM outbox") == 0)


async def _verify_clean(url: str, env: dict[str, str]) -> bool:
    done = await asyncio.to_thread(run_cli, "verify", STOCKLEDGER_DATABASE_URL=url, **env)
    return done.returncode == 0


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_primary_restarted_under_load_loses_nothing(
    pair: tuple[ReplicatedPostgres, str], tmp_path: Path, mode: str
) -> None:
    pg, url = pair
    with serving(url, tmp_path, 2) as servers:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=15) as http:

            def stop() -> None:
                pg.stop_primary(mode)
                time.sleep(1.0)

            load, back = await _run_with_fault(
                [s.url for s in servers], stop, lambda: pg.start_node(pg.primary)
            )
            await _check_nothing_lost(url, load, http)
            await eventually(lambda: _leaders(url), within=15, what="a leader re-elected")
            print(f"restart ({mode}): first 201 {back:.1f} s after the stop, {load.statuses}")
