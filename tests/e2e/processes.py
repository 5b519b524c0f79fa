"""`stockledger serve` as real processes for the tests (several, on one database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from stockledger.ops.local_services import free_port

from .conftest import API_KEYS

START_SECONDS = 60


class Served:
    """One `serve` process: its port, its process and the file its logs go to."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, logs: Path) -> None:
        self.process = process
        self.port = port
        self.logs = logs
        self.url = f"http://127.0.0.1:{port}"


def _env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "STOCKLEDGER_DATABASE_URL": database_url,
        "STOCKLEDGER_API_KEYS": API_KEYS,
        "STOCKLEDGER_PORT": str(port),
        "STOCKLEDGER_LOG_LEVEL": "WARNING",
        **extra,
    }


def _wait_healthy(served: Served) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            if httpx.get(f"{served.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert served.process.poll() is None, served.logs.read_text()[-3000:]
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.05)  # polling the condition above


@contextmanager
def serving(
    database_url: str, tmp: Path, count: int, *args: str, **env: str
) -> Iterator[list[Served]]:
    """`count` serve processes on one database (with `env`: Kafka and the rest)."""
    started: list[Served] = []
    try:
        for n in range(count):
            port = free_port()
            logs = tmp / f"serve-{n}-{port}.log"
            with logs.open("wb") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "stockledger.cli", "serve", *args],
                    env=_env(database_url, port, **env),
                    stdout=sink,
                    stderr=sink,
                    start_new_session=True,
                )
            started.append(Served(process, port, logs))
        for served in started:
            _wait_healthy(served)
        yield started
    finally:
        for served in started:
            if served.process.poll() is None:
                os.killpg(served.process.pid, signal.SIGTERM)
        for served in started:
            try:
                served.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(served.process.pid, signal.SIGKILL)
                served.process.wait(5)
