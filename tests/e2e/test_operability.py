"""Signals that tell the truth when something is wrong: a real `serve` with its own /metrics,
a real (test) broker, unreachable or refusing the idempotent producer."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from stockledger.ops.local_services import free_port, start_kafka

from ..support import TcpProxy, eventually
from .conftest import Api
from .processes import serving


def gauge(metrics: str, name: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@asynccontextmanager
async def unreachable_broker(tmp: Path) -> AsyncIterator[tuple[str, TcpProxy]]:
    """A broker that advertises a TCP hop which is down until the test starts it."""
    hop = TcpProxy("127.0.0.1", free_port(), listen_port=free_port())
    broker = await asyncio.to_thread(
        start_kafka, tmp / "kafka", hop.target[1], advertised_port=hop.port
    )
    try:
        yield f"127.0.0.1:{hop.port}", hop
    finally:
        await hop.cut()
        await asyncio.to_thread(broker.stop)


def pipeline_env(bootstrap: str, redis_server: str, ids: Callable[[str], str]) -> dict[str, str]:
    return {
        "STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "STOCKLEDGER_KAFKA_IDEMPOTENCE": "false",
        "STOCKLEDGER_KAFKA_TOPIC": ids("topic"),
        "STOCKLEDGER_KAFKA_CONSUMER_GROUP": ids("group"),
        "STOCKLEDGER_KAFKA_PARTITIONS": "2",
        "STOCKLEDGER_REDIS_URL": redis_server,
        "STOCKLEDGER_REDIS_PREFIX": ids("deployment") + ":",
        "STOCKLEDGER_READY_MAX_OUTBOX_AGE_SECONDS": "2",
        "STOCKLEDGER_READY_MAX_PROJECTION_LAG_SECONDS": "5",
    }


async def _ready(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/ready")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_broker_unreachable_from_the_start_shows_in_metrics_and_ready(
    new_database: Callable[[], str], redis_server: str, tmp_path: Path, ids: Any
) -> None:
    database = await asyncio.to_thread(new_database)
    async with unreachable_broker(tmp_path) as (bootstrap, hop):
        env = pipeline_env(bootstrap, redis_server, ids)
        with serving(database, tmp_path, 1, **env) as (served,):
            async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
                api = Api(http)
                sku = ids("STUCK")
                for _ in range(20):
                    await api.receive(sku, "WH-A", 1)  # asserts 201: commands still land
                committed = await _count(database, "SELECT count(*) FROM events")

                async def backlog_counted() -> bool:
                    metrics = (await http.get("/metrics")).text
                    return gauge(metrics, "stockledger_outbox_backlog") == committed

                await eventually(backlog_counted, within=5, what="the backlog gauge")
                first = gauge(
                    (await http.get("/metrics")).text, "stockledger_outbox_oldest_age_seconds"
                )

                async def age_grew() -> bool:
                    metrics = (await http.get("/metrics")).text
                    age = gauge(metrics, "stockledger_outbox_oldest_age_seconds")
                    return age is not None and first is not None and age > first + 1

                await eventually(age_grew, within=5, what="the oldest event's age growing")
                ready = await _ready(http)
                assert ready["status"] == "degraded"
                assert ready["checks"]["kafka"].startswith("unreachable")
                assert "oldest unpublished event is" in ready["checks"]["outbox"]
                assert "backlog 20" in ready["checks"]["outbox"]

                await hop.start()  # the broker is reachable now

                async def drained_and_ready() -> dict[str, Any] | None:
                    body = await _ready(http)
                    return body if body["status"] == "ready" else None

                body = await eventually(drained_and_ready, within=60, what="ready again")
                assert set(body["checks"].values()) == {"ok"}
                assert await _count(database, "SELECT count(*) FROM outbox") == 0
                metrics = (await http.get("/metrics")).text
                assert gauge(metrics, "stockledger_outbox_backlog") == 0
                assert gauge(metrics, 'stockledger_relay_errors_total{kind="broker unreachable"}')


async def _count(database: str, sql: str) -> int:
    conn = await asyncpg.connect(database)
    try:
        value: int = await conn.fetchval(sql)
    finally:
        await conn.close()
    return value


def _connections_to(pid: int, port: int) -> int:
    """Established TCP connections of process `pid` to `port` (ss -tnp)."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(1 for line in out.splitlines() if f"pid={pid}," in line)


async def test_a_broker_refusing_the_idempotent_producer_is_named_once_and_backed_off(
    new_database: Callable[[], str], kafka_broker: str, redis_server: str, tmp_path: Path, ids: Any
) -> None:
    database = await asyncio.to_thread(new_database)
    env = {
        **pipeline_env(kafka_broker, redis_server, ids),
        "STOCKLEDGER_KAFKA_IDEMPOTENCE": "true",  # the test broker has no InitProducerId
        "STOCKLEDGER_LOG_LEVEL": "INFO",
    }
    with serving(database, tmp_path, 1, **env) as (served,):
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
            api = Api(http)
            sku = ids("REFUSED")

            async def refused() -> float | None:
                metrics = (await http.get("/metrics")).text
                return gauge(
                    metrics, 'stockledger_relay_errors_total{kind="idempotent producer refused"}'
                )

            await eventually(refused, within=30, what="the refusal classified")
            await asyncio.sleep(20)  # watching the backoff: what happens in 20 s is the point
            attempts = await refused()
            assert attempts is not None
            assert attempts <= 7, f"{attempts} attempts in ~20 s: no backoff"
            for _ in range(5):
                await api.receive(sku, "WH-A", 2)  # other work goes on
            assert (await api.stock(sku, "WH-A", consistency="strong"))["onHand"] == 10
            port = int(kafka_broker.rsplit(":", 1)[1])
            assert (
                _connections_to(served.process.pid, port) <= 4
            )  # projector + at most one producer
            ready = await _ready(http)
            assert ready["status"] == "degraded"
            assert "STOCKLEDGER_KAFKA_IDEMPOTENCE=false" in ready["checks"]["kafka"]
    logs = served.logs.read_text()
    named = [line for line in logs.splitlines() if "relay cannot publish" in line]
    assert len(named) == 1, named
    assert "idempotent producer refused" in named[0]
    assert "STOCKLEDGER_KAFKA_IDEMPOTENCE=false" in named[0]
    assert "Unclosed AIOKafka" not in logs
    assert "relay stepped down" not in logs


async def test_http_metrics_carry_route_templates_and_statuses(api: Api, ids: Any) -> None:
    sku = ids("METRIC")
    await api.receive(sku, "WH-A", 1)
    assert (await api.reserve(ids("O"), (sku, "WH-A", 1))).status_code == 201
    assert (await api.reserve(ids("O"), (sku, "WH-A", 1))).status_code == 409
    assert (await api.reserve(ids("O"), (sku, "WH-A", 0))).status_code == 422
    await api.stock(sku, "WH-A")
    metrics = (await api.http.get("/metrics")).text
    for status in ("201", "409", "422"):
        series = (
            f'stockledger_http_requests_total{{method="POST",route="/v1/reservations",'
            f'status="{status}"}}'
        )
        assert (gauge(metrics, series) or 0) >= 1, series
    route = 'route="/v1/stock/{sku}/{warehouse_id}"'
    assert re.search(
        r"stockledger_http_requests_total\{method=\"GET\"," + re.escape(route), metrics
    )
    assert "stockledger_http_request_duration_seconds_bucket{" in metrics
    assert "stockledger_http_requests_in_flight" in metrics
    assert sku not in metrics  # route templates, never raw paths
