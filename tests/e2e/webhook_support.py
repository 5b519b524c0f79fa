"""What the webhook tests drive: a real HTTP receiver they script, a clock they move, and the
elected dispatcher started with both."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from stockledger.config import Settings
from stockledger.webhooks.dispatcher import Dispatcher
from stockledger.webhooks.secret_box import secret_box
from stockledger.wiring import open_services

from ..support import eventually

HANG = None  # an answer that never comes (until the receiver stops)


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int | None  # what the receiver answered; None: it hung

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> dict[str, Any]:
        """The body, once `standardwebhooks` verified its signature (raises if it does not)."""
        body: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return body


Answer = Callable[[Received, int], int | None]  # (request, how often its id was seen) -> status


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 (aiohttp) that answers as `answer` says."""

    answer: Answer = lambda _request, _seen: 200
    requests: list[Received] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/stock"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.read()
        self.seen[headers.get("webhook-id", "")] += 1
        status = self.answer(Received(headers, body, None), self.seen[headers["webhook-id"]])
        self.requests.append(Received(headers, body, status))
        if status is HANG:
            await self._stopping.wait()
            status = 503
        return web.Response(status=status)

    def delivered(self) -> dict[str, Received]:
        """Each event id answered with a 2xx, by its first such request."""
        found: dict[str, Received] = {}
        for r in self.requests:
            if r.status is not None and 200 <= r.status < 300:
                found.setdefault(r.event_id, r)
        return found


@contextlib.asynccontextmanager
async def receiving(answer: Answer | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver() if answer is None else Receiver(answer)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


class FakeClock:
    """The dispatcher's clock: it stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@contextlib.asynccontextmanager
async def dispatching(
    settings: Settings, clock: FakeClock, **overrides: Any
) -> AsyncIterator[Dispatcher]:
    """The `webhooks` role led by a dispatcher of its own (as another process would run it) on
    `clock`, polling every 50 ms; `overrides` change its settings."""
    configured = settings.model_copy(update=overrides)
    box = secret_box(configured)
    assert box is not None
    async with open_services(configured, pool_size=4) as services:
        dispatcher = Dispatcher(
            services.store, configured, box, clock=clock, poll_seconds=0.05, standby_seconds=0.05
        )
        task = asyncio.create_task(dispatcher.run())
        try:
            await eventually(lambda: _leading(dispatcher), within=10, what="leading webhooks")
            yield dispatcher
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _leading(dispatcher: Dispatcher) -> bool:
    return dispatcher.leading
