"""`stockledger dev`: one command gives a whole working stockledger, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..support import eventually, run_cli


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def _service_pids(folder: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in folder.glob("*.pid")]


RUNNING: list[tuple[subprocess.Popen[bytes], Path]] = []


@pytest.fixture(autouse=True)
def _no_dev_left_behind() -> Iterator[None]:
    """Whatever an assertion interrupts, no `dev` (nor its children) outlives the test: a
    `dev` that does not stop is killed, and so are the services its pid files name."""
    yield
    while RUNNING:
        process, folder = RUNNING.pop()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for pid in _service_pids(folder):
            if _alive(pid) and _is_service(pid):  # not a stale file's pid, reused since
                os.kill(pid, signal.SIGKILL)


def _is_service(pid: int) -> bool:
    with contextlib.suppress(OSError):
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        return b"postgres" in command or b"redis" in command
    return False


class Dev:
    def __init__(self, folder: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKLEDGER_")}
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder.parent / f"{folder.name}-{len(list(folder.parent.glob('*.out')))}.out"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stockledger.cli", "dev", "--data-dir", str(folder)],
            env={**env, "STOCKLEDGER_LOG_LEVEL": "WARNING", "COLUMNS": "200"},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.folder = folder
        RUNNING.append((self.process, folder))

    async def ready(self) -> tuple[str, dict[str, str]]:
        async def printed() -> str | None:
            text = self.log.read_text()
            assert self.process.poll() is None, text
            return text if text.count("Authorization: Bearer") == 4 else None

        text = await eventually(printed, within=90, what="dev printed its URL and keys")
        url = re.search(r"(http://127\.0\.0\.1:\d+)", text)
        assert url is not None
        assert f"ops console: {url.group(1)}/ui/" in text
        keys = dict(re.findall(r"(\w+)\s+Authorization: Bearer (\S+)", text))

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient(base_url=url.group(1), timeout=2) as http:
                    return (await http.get("/health")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(healthy, within=30, what="dev answers /health")
        return url.group(1), keys


async def _receive(http: httpx.AsyncClient, key: str, sku: str) -> None:
    body = {
        "sku": sku,
        "warehouseId": "WH-A",
        "quantity": 5,
        "purchaseOrderId": "PO-1",
        "unitCost": "1.50",
        "supplier": "Acme",
    }
    response = await http.post(
        "/v1/receipts", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 201, response.text


async def test_dev_runs_everything_stops_cleanly_and_recovers_from_a_crash(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "dev"
    first = Dev(folder)
    url, keys = await first.ready()
    assert set(keys) == {"orders", "warehouse", "auditor", "admin"}
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        await _receive(http, keys["admin"], "DEV-SKU")

        async def from_redis() -> bool:  # relay, broker, projector and Redis all work
            got = await http.get("/v1/stock/DEV-SKU/WH-A", headers={"X-API-Key": keys["admin"]})
            return bool(got.headers.get("X-Stock-Source") == "redis")

        await eventually(from_redis, within=30, what="dev's pipeline projected to redis")
    # the printed database URL is what the CLI needs to read the same ledger
    dsn = re.search(r"export STOCKLEDGER_DATABASE_URL=(\S+)", first.log.read_text())
    assert dsn is not None
    worth = await asyncio.to_thread(
        run_cli, "report", "valuation", "--warehouse", "WH-A", STOCKLEDGER_DATABASE_URL=dsn[1]
    )
    assert worth.returncode == 0, worth.stderr
    assert json.loads(worth.stdout)["totals"]["value"] == "7.5000"  # 5 @ 1.50
    children = _service_pids(folder)
    assert len(children) == 3  # postgres, redis, kafka
    first.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(first.process.wait, 60)
    assert not [pid for pid in children if _alive(pid)], "no orphan processes after SIGTERM"

    second = Dev(folder)  # data and keys survive a restart
    url, again = await second.ready()
    assert again == keys
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        level = await http.get(
            "/v1/stock/DEV-SKU/WH-A?consistency=strong", headers={"X-API-Key": keys["admin"]}
        )
        assert level.json()["onHand"] == 5
    orphans = _service_pids(folder)
    second.process.send_signal(signal.SIGKILL)  # a crash: its children are left running
    await asyncio.to_thread(second.process.wait, 60)

    third = Dev(folder)  # reaps what the crash left and starts clean
    url, _ = await third.ready()
    assert not [pid for pid in orphans if _alive(pid)]
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        await _receive(http, keys["admin"], "DEV-SKU")
    children = _service_pids(folder)
    third.process.send_signal(signal.SIGINT)  # Ctrl-C
    await asyncio.to_thread(third.process.wait, 60)
    assert not [pid for pid in children if _alive(pid)], "no orphan processes after Ctrl-C"
