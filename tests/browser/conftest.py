"""The ops console in a real headless browser: Debian's `chromium` driven by Playwright.

Chromium is used from /usr/bin/chromium (or PATH), else installed here with apt-get when the
harness runs as root (as CI does); a machine with neither fails, never skips. One browser per
test session; each test gets a fresh context (so a fresh sessionStorage: signed out) that
records every request it makes, and at the end of the test every request must have gone to
127.0.0.1. The server is a real `stockledger serve` on a database of the module's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.e2e.conftest import KEYS
from tests.e2e.processes import Served, serving

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
AUDIT_KEY = "browser-tests-audit-key"
expect.set_options(timeout=10_000)
T = TypeVar("T")


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    found = _chromium()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "timeout": 900}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
        if subprocess.run(install, env=env, check=False, **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update", "-q"], env=env, check=True, **quiet)  # type: ignore[call-overload]
            subprocess.run(install, env=env, check=True, **quiet)  # type: ignore[call-overload]
        found = _chromium()
    assert found, "the browser tests need Chromium: apt-get install chromium (Debian)"
    return found


@pytest.fixture(scope="package")
def browser(chromium: str, new_database: Callable[[], str]) -> Iterator[Browser]:
    """Playwright's sync API keeps an event loop running in this thread while the browser is
    open, so asyncio.run (how the harness makes and drops databases) must run elsewhere:
    `new_database` is set up before the browser (and so torn down after it) and the servers'
    databases are made in a worker thread. Package-scoped: the loop stops with the last
    browser test, before the async tests of the other folders run in this thread."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@dataclass
class Requests:
    """Every request a browser context made: URL, method and headers."""

    seen: list[Request] = field(default_factory=list)

    def urls(self) -> list[str]:
        return [r.url for r in self.seen]

    def api(self) -> list[Request]:
        return [r for r in self.seen if urlsplit(r.url).path.startswith("/v1/")]


@dataclass
class Console:
    """A browser context on the console of one server, signed out, recording its requests."""

    page: Page
    context: BrowserContext
    url: str
    requests: Requests

    def open(self, path: str) -> Page:
        self.page.goto(self.url + path)
        return self.page

    def sign_in(self, role: str, path: str = "/ui/") -> Page:
        page = self.open(path)
        page.get_by_label("API key").fill(KEYS[role])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        self.ready()
        return page

    def ready(self) -> None:
        """Wait until the page drawn last has finished drawing."""
        expect(self.page.locator("main[data-ready]")).to_be_attached()

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png")


@pytest.fixture
def console(browser: Browser, server: Served) -> Iterator[Console]:
    context = browser.new_context(
        viewport=VIEWPORT, timezone_id="UTC", locale="en-GB", accept_downloads=True
    )
    requests = Requests()
    context.on("request", lambda request: requests.seen.append(request))
    page = context.new_page()
    yield Console(page, context, server.url, requests)
    context.close()
    away = [
        url
        for url in requests.urls()
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert requests.seen
    assert not away, f"requests that left 127.0.0.1: {away}"


@pytest.fixture(scope="module")
def database(browser: Browser, new_database: Callable[[], str]) -> str:
    """The module's own database (made in a worker thread: asyncio.run, away from the browser's
    event loop)."""
    return in_thread(new_database)


def in_thread(work: Callable[[], T]) -> T:
    """Run `work` in a worker thread (for asyncio.run while Playwright's loop runs here)."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(work).result()


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A `stockledger serve` of the module's own database, signing checkpoints every second."""
    env = {
        "STOCKLEDGER_AUDIT_KEY": AUDIT_KEY,
        "STOCKLEDGER_CHECKPOINT_EVERY_SECONDS": "1",
    }
    with serving(database, tmp_path_factory.mktemp("console"), 1, "--no-expiry", **env) as (
        served,
    ):
        yield served


class Api:
    """The server's HTTP API, for seeding what the browser then reads."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def post(self, path: str, body: dict[str, Any], role: str = "admin") -> dict[str, Any]:
        response = self.http.post(path, json=body, headers=_auth(role))
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    def put(self, path: str, body: dict[str, Any], role: str = "admin") -> dict[str, Any]:
        response = self.http.put(path, json=body, headers=_auth(role))
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    def get(self, path: str, role: str = "admin", **params: Any) -> dict[str, Any]:
        response = self.http.get(path, params=params, headers=_auth(role))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def receive(
        self, sku: str, wh: str, quantity: int, po: str, unit_cost: str = "2.35"
    ) -> dict[str, Any]:
        body = {
            "sku": sku,
            "warehouseId": wh,
            "quantity": quantity,
            "purchaseOrderId": po,
            "unitCost": unit_cost,
            "supplier": "Acme",
        }
        event: dict[str, Any] = self.post("/v1/receipts", body, role="warehouse")["events"][0]
        return event

    def until(self, check: Callable[[], bool], what: str, seconds: float = 15) -> None:
        """Poll `check` until it holds (a condition, not a fixed wait)."""
        deadline = time.monotonic() + seconds
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)  # polling the condition above


def _auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}
