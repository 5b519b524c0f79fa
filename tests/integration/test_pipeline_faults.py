"""Nothing committed is lost on the way to Kafka: relay kills, late commits, broker outages,
poison messages. Each test runs on a ledger (database) of its own."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from stockledger.config import Settings
from stockledger.domain import commands as c
from stockledger.domain.stock.events import Line
from stockledger.ops.local_services import free_port, start_kafka
from stockledger.pipeline.leader import RELAY_LOCK as LEADER_LOCK
from stockledger.pipeline.relay import Relay
from stockledger.store.db import create_pool
from stockledger.store.event_store import EventStore
from stockledger.store.snapshots import StateLoader
from stockledger.write.ledger import Caller, Ledger, utcnow

from ..support import TcpProxy, eventually
from .kafka_reader import first_occurrences_in_order, read_topic
from .pipeline import pipeline_settings, start_pipeline

WORKLOAD = int(os.environ.get("STOCKLEDGER_FAULT_EVENTS", "5000"))  # nightly: 50000
CALLER = Caller(principal="fault-test")


async def committed(pool: asyncpg.Pool[Any]) -> set[tuple[str, int]]:
    return {
        (r["stream_id"], r["version"])
        for r in await pool.fetch("SELECT stream_id, version FROM events")
    }


async def outbox_empty(pool: asyncpg.Pool[Any]) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM outbox") == 0)


async def write_workload(
    ledger: Ledger,
    events: int,
    ids: Any,
    pace: float = 0.0,
    more: Callable[[], bool] = lambda: False,
) -> None:
    """Receipts and multi-line reservations until `events` events are committed (and for as
    long as `more()` says so)."""
    skus = [ids("K") for _ in range(40)]
    rng = random.Random(3)
    for sku in skus:
        await ledger.execute(c.ReceiveStock(sku, "WH", 10_000, "PO", Decimal(1), "S"), CALLER)
    written = len(skus)
    while written < events or more():
        batch = []
        for _ in range(50):
            lines = tuple(Line(s, "WH", 1) for s in rng.sample(skus, rng.randint(1, 3)))
            batch.append(c.ReserveStock(ids("R"), ids("O"), lines, utcnow() + timedelta(hours=1)))
            written += len(lines) + 1
        await asyncio.gather(*(ledger.execute(cmd, CALLER) for cmd in batch))
        if pace:
            await asyncio.sleep(pace)


@pytest.fixture
async def ledger_db(new_database: Callable[[], str]) -> Any:
    url = await asyncio.to_thread(new_database)
    pool = await create_pool(url, size=10)
    yield url, pool
    await pool.close()


async def leading(pool: asyncpg.Pool[Any]) -> bool:
    """Some session holds the relay's leader lock (advisory locks show in pg_locks)."""
    held = await pool.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND ((classid::bigint << 32) | objid::bigint) = $1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        LEADER_LOCK,
    )
    return bool(held)


def relay_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STOCKLEDGER_DATABASE_URL": settings.require_database_url(),
        "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": str(settings.kafka_bootstrap_servers),
        "STOCKLEDGER_KAFKA_TOPIC": settings.kafka_topic,
        "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",
        "STOCKLEDGER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "stockledger.cli", "relay"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_relay_killed_again_and_again_loses_nothing(
    ledger_db: Any, kafka_broker: str, ids: Any
) -> None:
    url, pool = ledger_db
    # Widen the window between the broker's ack and the DELETE that marks rows sent, so the
    # kills below really land there (fault injection inside Postgres, no hook in the relay).
    await pool.execute("""
        CREATE FUNCTION slow_mark() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;
        CREATE TRIGGER slow_mark BEFORE DELETE ON outbox
          FOR EACH STATEMENT EXECUTE FUNCTION slow_mark();
    """)
    # ...and let Postgres notice a killed relay mid-DELETE and roll the mark back, instead of
    # finishing a statement nobody is waiting for.
    await pool.execute(
        f"ALTER DATABASE \"{url.rsplit('/', 1)[1]}\" SET client_connection_check_interval = '10ms'"
    )
    settings = pipeline_settings(url, kafka_broker, None)
    ledger = Ledger(EventStore(pool), StateLoader(pool))
    kills = 0
    # Keep writing until the relay was killed at least 5 times while it had work in hand.
    writing = asyncio.create_task(
        write_workload(ledger, WORKLOAD, ids, pace=0.2, more=lambda: kills < 5)
    )
    rng = random.Random(11)
    try:
        while not writing.done():
            relay = relay_process(settings)
            await eventually(lambda: leading(pool), within=20, what="relay took the lead")
            await asyncio.sleep(rng.uniform(0.5, 1.5))  # mid-publish (it starts its producer first)
            busy = not await outbox_empty(pool)
            relay.send_signal(signal.SIGKILL)  # no chance to mark what it sent
            await asyncio.to_thread(relay.wait)
            kills += busy
        await writing
        relay = relay_process(settings)
        try:
            await eventually(lambda: outbox_empty(pool), within=60, what="outbox drained")
        finally:
            relay.terminate()
            await asyncio.to_thread(relay.wait)
    finally:
        await ledger.close()
    seen = await read_topic(kafka_broker, settings.kafka_topic)
    stored = await committed(pool)
    assert len(stored) >= WORKLOAD
    assert set(seen) == stored, "every committed event reaches Kafka, and only those"
    assert first_occurrences_in_order(seen)
    assert len(seen) > len(stored), "some kills landed between the broker's ack and the mark"
    print(f"\n{kills} relay kills; {len(seen) - len(stored)} duplicates for {len(stored)} events")


async def test_late_commits_and_rollbacks_publish_exactly_the_committed_set(
    ledger_db: Any, kafka_broker: str, ids: Any
) -> None:
    url, pool = ledger_db
    # Fault injection inside Postgres: at COMMIT each transaction sleeps a random while after
    # its positions were taken, and some roll back, so commits land out of position order.
    await pool.execute("""
        CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_sleep(random() * 0.05);
          IF random() < 0.05 THEN RAISE EXCEPTION 'injected rollback'; END IF;
          RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON events
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
    """)
    settings = pipeline_settings(url, kafka_broker, None)
    relay = asyncio.create_task(Relay(pool, settings, poll_seconds=0.05).run())
    stores = [Ledger(EventStore(pool), StateLoader(pool)) for _ in range(8)]  # 8 "processes"
    failures = 0

    async def writer(ledger: Ledger) -> None:
        nonlocal failures
        for _ in range(60):
            sku = ids("LATE")
            try:
                await ledger.execute(c.ReceiveStock(sku, "WH", 1, "PO", Decimal(1), "S"), CALLER)
            except asyncpg.RaiseError:
                failures += 1

    try:
        await asyncio.gather(*(writer(ledger) for ledger in stores))
        await eventually(lambda: outbox_empty(pool), within=30, what="outbox drained")
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        for ledger in stores:
            await ledger.close()
    seen = await read_topic(kafka_broker, settings.kafka_topic)
    assert failures > 0, "the injected rollbacks happened"
    assert set(seen) == await committed(pool)


async def test_a_long_transaction_on_another_database_does_not_stall_the_relay(
    ledger_db: Any, new_database: Callable[[], str], kafka_broker: str, ids: Any
) -> None:
    """A transaction held open elsewhere in the cluster (a `pg_dump`, a forgotten session)
    holds back every snapshot's horizon. A relay that read the event log below the commit
    horizon would wait for it; the outbox relay publishes whatever rows have committed."""
    url, pool = ledger_db
    elsewhere = await asyncpg.connect(await asyncio.to_thread(new_database))
    holding = elsewhere.transaction()
    await holding.start()
    await elsewhere.fetchval("SELECT pg_current_xact_id()")  # an xid: it holds the horizon
    settings = pipeline_settings(url, kafka_broker, None)
    relay = asyncio.create_task(Relay(pool, settings, poll_seconds=0.05).run())
    ledger = Ledger(EventStore(pool), StateLoader(pool))
    try:
        await write_workload(ledger, 1000, ids)
        await eventually(lambda: outbox_empty(pool), within=30, what="outbox drained")
        still_open = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
            " AND backend_xid IS NOT NULL AND datname <> current_database()"
        )
        assert still_open >= 1, "the other transaction stayed open throughout"
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await ledger.close()
        await holding.rollback()
        await elsewhere.close()
    seen = await read_topic(kafka_broker, settings.kafka_topic)
    assert set(seen) == await committed(pool)
    assert first_occurrences_in_order(seen)


async def test_broker_down_for_ten_seconds_commands_succeed_and_backlog_drains(
    new_database: Callable[[], str], redis_server: str, tmp_path: Path, ids: Any
) -> None:
    """The broker is unreachable for 10 s: every connection to it is cut and refused, as when a
    broker restarts. The outage is made by a TCP hop that the broker advertises as its address,
    not by stopping the process: the test broker keeps its log in memory, so a restarted one
    would come back empty (a real broker keeps its log on disk), and clients racing to
    re-create its topics meet a restart that no real cluster goes through."""
    hop = TcpProxy("127.0.0.1", free_port(), listen_port=free_port())
    await hop.start()
    broker = await asyncio.to_thread(
        start_kafka, tmp_path / "kafka", hop.target[1], advertised_port=hop.port
    )
    bootstrap = f"127.0.0.1:{hop.port}"
    try:
        async with (
            asyncio.timeout(180),
            start_pipeline(new_database, bootstrap, redis_server) as pipe,
        ):
            receipts = 0  # each one answered 201 (Api.receive asserts it)
            sku = ids("OUTAGE")

            async def keep_writing(seconds: float) -> None:
                nonlocal receipts
                loop = asyncio.get_running_loop()
                end = loop.time() + seconds
                while loop.time() < end:
                    await pipe.api.receive(sku, "WH-A", 1)
                    receipts += 1
                    await asyncio.sleep(0.02)

            writing = asyncio.create_task(keep_writing(14))
            await asyncio.sleep(2)
            await hop.cut()
            cut_at = await pipe.pool.fetchval("SELECT count(*) FROM events")
            await asyncio.sleep(10)
            assert await pipe.pool.fetchval("SELECT count(*) FROM outbox") > 0, "backlog builds up"
            await hop.start()  # the same port: the broker is back
            await writing
            await eventually(lambda: outbox_empty(pipe.pool), within=60, what="backlog drained")
            stored = await committed(pipe.pool)
            seen = await read_topic(bootstrap, pipe.settings.kafka_topic)
            assert set(seen) == stored, "every committed event reached Kafka, and only those"
            assert first_occurrences_in_order(seen)
            assert len(stored) - cut_at > 100, "the writes went on through the outage"
            await pipe.wait_caught_up(within=60)
            level = await pipe.api.stock(sku, "WH-A")
            assert level["onHand"] == receipts
    finally:
        await hop.cut()
        await asyncio.to_thread(broker.stop)


async def test_poison_message_parks_its_stream_and_the_rest_flows(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, ids: Any
) -> None:
    async with start_pipeline(new_database, kafka_broker, redis_server) as pipe:
        bad, good = ids("BAD"), ids("GOOD")
        await pipe.api.receive(bad, "WH-A", 1)
        await pipe.wait_caught_up()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker)
        await producer.start()
        try:
            await producer.send_and_wait(
                pipe.settings.kafka_topic,
                value=b"{not an envelope",
                key=f"stock:{bad}:WH-A".encode(),
            )
        finally:
            await producer.stop()

        async def parked() -> bool:
            return bool(
                await pipe.pool.fetchval(
                    "SELECT count(*) FROM parked_streams WHERE stream_id = $1", f"stock:{bad}:WH-A"
                )
            )

        await eventually(parked, what="poison stream parked")
        await pipe.api.receive(bad, "WH-A", 5)
        await pipe.api.receive(good, "WH-A", 5)

        async def good_flows() -> bool:
            level = await pipe.api.stock(good, "WH-A")
            return bool(level["onHand"] == 5)

        await eventually(good_flows, what="other streams keep flowing")
        held = await pipe.pool.fetchval(
            "SELECT on_hand FROM stock_levels WHERE stream_id = $1", f"stock:{bad}:WH-A"
        )
        assert held == 1, "a parked stream is not applied past its poison message"


async def test_standby_relay_takes_over_when_the_leader_dies(
    ledger_db: Any, kafka_broker: str, ids: Any
) -> None:
    url, pool = ledger_db
    settings = pipeline_settings(url, kafka_broker, None)
    leader = relay_process(settings)
    standby = None
    ledger = Ledger(EventStore(pool), StateLoader(pool))
    try:
        await eventually(lambda: leading(pool), within=20, what="first relay leads")
        standby = relay_process(settings)
        await write_workload(ledger, 300, ids)
        await eventually(lambda: outbox_empty(pool), within=20, what="leader published")
        holders = await pool.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND ((classid::bigint << 32) | objid::bigint) = $1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            LEADER_LOCK,
        )
        assert holders == 1, "exactly one active relay"
        leader.send_signal(signal.SIGKILL)
        await asyncio.to_thread(leader.wait)
        await write_workload(ledger, 300, ids)
        await eventually(lambda: outbox_empty(pool), within=20, what="standby took over")
    finally:
        await ledger.close()
        for process in (leader, standby):
            if process is not None and process.poll() is None:
                process.terminate()
                await asyncio.to_thread(process.wait)
    assert set(await read_topic(kafka_broker, settings.kafka_topic)) == await committed(pool)
