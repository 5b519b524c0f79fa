"""X1: an auditor exports the whole 2,000,000-event ledger as JSONL over HTTP, vs P5's scan.

The server is a real `stockledger serve` process (no relay, projector or expiry: nothing else
runs in it) pinned to CPU 0 on P5's database; the bench driver streams
`GET /v1/exports/events?format=jsonl` and counts the lines. The ceiling, in the same run on the
same rows: P5's plain server-side-cursor scan with `orjson.loads` of each row's data (what
reading the rows costs a Python client at all). Also reported: the server's peak RSS growth
during the export (VmHWM - VmRSS before).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx

from bench.harness import SERVER_CPU, pinned
from bench.results import Result
from bench.runner import Context, scenario
from bench.scenarios.store_replay import events_database, scan
from bench.storebench import Timer, load_average
from stockledger.ops.local_services import free_port
from stockledger.store.db import migrate

GOAL_RATE, GOAL_RATIO = 200_000, 0.5
KEY = "bench-auditor-key"


def _kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _start(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STOCKLEDGER_DATABASE_URL": url,
        "STOCKLEDGER_API_KEYS": f"{KEY}:bench:auditor",
        "STOCKLEDGER_PORT": str(port),
        "STOCKLEDGER_LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "stockledger.cli", "serve", "--no-expiry", "--no-relay",
            "--no-projector"]  # fmt: skip
    return subprocess.Popen(pinned(SERVER_CPU, argv), env=env, start_new_session=True)


async def _serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = await asyncio.to_thread(_start, url, port)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while True:
            try:
                if (await client.get("/health")).status_code == 200:
                    return process, base
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not start")
            await asyncio.sleep(0.1)


async def _export(base: str, pid: int) -> tuple[float, int, float]:
    """Seconds, lines, and the server's peak RSS growth in MB."""
    headers = {"Authorization": f"Bearer {KEY}"}
    before, lines = _kb(pid, "VmRSS"), 0
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        with Timer() as took:
            async with client.stream("GET", "/v1/exports/events", headers=headers) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"export failed: {response.status_code}")
                async for chunk in response.aiter_raw():
                    lines += chunk.count(b"\n")
    return took.seconds, lines, (_kb(pid, "VmHWM") - before) / 1024


@scenario("X1", "export the 2,000,000-event ledger as JSONL over HTTP vs an orjson scan")
async def run(context: Context) -> list[Result]:
    total = 200_000 if context.quick else 2_000_000
    url = await events_database(context, total)
    await asyncio.to_thread(migrate, url)  # a kept database may predate the latest schema
    load = load_average()
    process, base = await _serve(url)
    try:
        exports, scans, lines, growth = [], [], 0, 0.0
        for _ in range(1 if context.quick else 2):  # best of two, alternating, warm cache
            seconds, lines, grown = await _export(base, process.pid)
            exports.append(seconds)
            growth = max(growth, grown)
            scanned, rows = await scan(url)
            scans.append(scanned)
            context.console.print(f"export {seconds:.2f} s ({lines:,} lines), scan {scanned:.2f} s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    figure, ceiling = min(exports), min(scans)
    rate, top = lines / figure, rows / ceiling
    return [
        Result(
            scenario=f"X1 export {lines:,} events, GET /v1/exports/events?format=jsonl, one "
            "client (server on CPU 0)",
            figure=f"{rate:,.0f} events/s ({figure:.2f} s; best of {len(exports)}); server peak "
            f"RSS +{growth:.1f} MB; {load}",
            ceiling=f"{top:,.0f} rows/s ({ceiling:.2f} s: P5's server-side cursor scan with "
            "orjson.loads of each row)",
            ratio=rate / top,
            goal=f">= {GOAL_RATE:,} events/s, >= {GOAL_RATIO}x the scan",
            met=lines == rows and rate >= GOAL_RATE and rate / top >= GOAL_RATIO,
        )
    ]
