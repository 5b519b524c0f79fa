"""U1: the console's stream page of a 100,000-event stream, first render in headless Chromium.

The stream is P6's (`stock:TTSKU-000000:WH-0`, snapshots every 100 versions; built once and
reused). The server is a real `stockledger serve` (no relay, projector or expiry worker: the
page's reads fold the event store). The browser is Debian's Chromium driven by Playwright, on a
1280x800 viewport, signed in once with a warehouse key. Each sample is a full navigation to
`/ui/stock/TTSKU-000000/WH-0`: the time from navigation start until the page is drawn with its
data (the console's `console:drawn` performance mark: the levels now, the latest page of 100
history events with their balances, the chart and the time-travel control), the first in a fresh
browser context (nothing cached) and then warm ones. Also timed: the same page with `?at=` (time
travel to a random instant: one more request, and the history page around that instant).

Ceiling: the same API calls the page makes, in the same order, by httpx on one keep-alive
connection from this process (the level, the first event, the page of 101 events): what the
data costs with no browser at all. Nothing is pinned to a core.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.results import Result
from bench.runner import Context, scenario
from bench.scenarios.store_timetravel import KEY, serve, stream_database
from bench.storebench import load_average

GOAL_MS = 1000.0
PAGE = 100


def _chromium() -> str:
    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if found is None:
        raise SystemExit("U1 needs Chromium: apt-get install chromium (Debian)")
    return found


def _ceiling(base: str, sku: str, warehouse: str, version: int, runs: int) -> list[float]:
    """Seconds for the page's three API calls by httpx alone, `runs` times."""
    path = f"/v1/stock/{sku}/{warehouse}"
    headers = {"Authorization": f"Bearer {KEY}"}
    took = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for _ in range(runs + 2):  # two warm-up rounds
            started = time.perf_counter()
            assert http.get(path).status_code == 200
            assert http.get(f"{path}/history", params={"limit": 1}).status_code == 200
            after = max(0, version - PAGE - 1)
            page = http.get(f"{path}/history", params={"after": after, "limit": PAGE + 1})
            assert page.status_code == 200
            assert len(page.json()["events"]) == PAGE + 1
            took.append(time.perf_counter() - started)
    return took[2:]


async def _renders(base: str, paths: list[str]) -> tuple[float, list[float]]:
    """(cold ms, [warm ms...]): navigation start -> `console:drawn`, per path."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            await page.goto(f"{base}/ui/")
            await page.get_by_label("API key").fill(KEY)
            await page.get_by_role("button", name="Sign in").click()
            await page.locator("main[data-ready]").wait_for(state="attached")
            drawn = []
            for path in paths:
                await page.goto(base + path)
                await page.locator("main[data-ready]").wait_for(state="attached", timeout=30_000)
                rows = await page.locator("section tbody tr").count()
                assert rows >= PAGE, f"{path}: {rows} history rows"
                mark = await page.evaluate(
                    "() => performance.getEntriesByName('console:drawn')[0].startTime"
                )
                drawn.append(float(mark))
            await context.close()
        finally:
            await browser.close()
    return drawn[0], drawn[1:]


@scenario("U1", "console stream page of a 100,000-event stream: first render in Chromium")
async def run(context: Context) -> list[Result]:
    versions = 100_000
    url, stream = await stream_database(
        context, "stockledger_bench_timetravel", "TT", versions, timedelta(seconds=60)
    )
    _, sku, warehouse = stream.split(":")
    runs = 5 if context.quick else 20
    page = f"/ui/stock/{sku}/{warehouse}"
    rng = random.Random(15)
    async with serve(url) as port:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=base, headers=headers) as http:
            path = f"/v1/stock/{sku}/{warehouse}"
            first = (await http.get(f"{path}/history", params={"limit": 1})).json()["events"][0]
            last = (await http.get(path)).json()
        t0 = datetime.fromisoformat(first["recordedAt"])
        t1 = datetime.fromisoformat(last["updatedAt"])
        instants = [t0 + (t1 - t0) * rng.random() for _ in range(runs)]
        travels = [f"{page}?at={quote(moment.isoformat())}" for moment in instants]
        load = load_average()
        cold, warm = await _renders(base, [page] + [page] * runs)
        _, travelled = await _renders(base, [page, *travels])
        ceiling = await asyncio.to_thread(_ceiling, base, sku, warehouse, last["version"], runs)
    p50 = statistics.median(warm)
    ceiling_ms = statistics.median(ceiling) * 1000
    figure = (
        f"first visit {cold:.0f} ms, then p50 {p50:.0f} ms, max {max(warm):.0f} ms "
        f"({runs} loads); with ?at= p50 {statistics.median(travelled):.0f} ms, "
        f"max {max(travelled):.0f} ms; navigation start -> drawn (levels, 100 events, chart); "
        f"{load}"
    )
    return [
        Result(
            scenario=f"U1 console stream page, {versions:,}-event stream, headless Chromium "
            "1280x800, real `stockledger serve`",
            figure=figure,
            ceiling=f"the page's 3 API calls, httpx alone, one connection: p50 {ceiling_ms:.1f} ms",
            ratio=ceiling_ms / p50,
            goal=f"first render <= {GOAL_MS:.0f} ms",
            met=max(cold, *warm, *travelled) <= GOAL_MS,
        )
    ]
