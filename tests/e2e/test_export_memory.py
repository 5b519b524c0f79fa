"""An export streams: a real `serve` process exporting 200,000 events grows by a few MB at most.

CI size: 200,000 events (STOCKLEDGER_EXPORT_MEMORY_EVENTS for another size); the 2,000,000-event
ledger is measured by `stockledger bench X1`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from bench.storedata import Shop, build

from ..databases import fresh_database
from .conftest import auth
from .processes import serving

EVENTS = int(os.environ.get("STOCKLEDGER_EXPORT_MEMORY_EVENTS", "200000"))
GROWTH_MB = 20


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


async def test_exporting_200000_events_keeps_the_server_within_a_few_mb(
    postgres_server: str, tmp_path: Path, ids: Any
) -> None:
    async with fresh_database(postgres_server) as url:
        written = await build(url, Shop(skus=300), lambda s: s.emitted >= EVENTS, batch=50_000)
        assert written >= EVENTS
        with serving(url, tmp_path, 1, "--no-expiry") as (server,):
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
                warm = await http.get(
                    "/v1/exports/events", params={"orderId": "none"}, headers=auth("auditor")
                )
                assert warm.status_code == 200
                before = _memory_kb(server.process.pid, "VmRSS")
                lines = 0
                async with http.stream(
                    "GET", "/v1/exports/events", headers=auth("auditor")
                ) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_bytes():
                        lines += chunk.count(b"\n")
                peak = _memory_kb(server.process.pid, "VmHWM")
        assert lines == written
        growth_mb = (peak - before) / 1024
        assert growth_mb < GROWTH_MB, f"the export grew the server by {growth_mb:.1f} MB"
