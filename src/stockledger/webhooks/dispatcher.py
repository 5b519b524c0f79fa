"""The webhook dispatcher: the elected background role `webhooks` (pipeline/leader.py).

One process per deployment leads it, on a session of its own that also LISTENs: the matcher
runs on every append's NOTIFY (the relay's channel) or a poll, and each active webhook has an
Endpoint, a task with its own HTTP connection pool, so an endpoint that is down only ever
waits on itself. Registrations, deletions, enables and retries arrive by NOTIFY on
subscriptions.CHANNEL from whichever process served them (and a poll); delivered and failed
deliveries are forgotten in time (deliveries.forget).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from ..config import Settings
from ..pipeline.leader import lead
from ..pipeline.relay import CHANNEL as APPENDS
from ..store.event_store import EventStore
from .deliveries import forget
from .endpoint import Endpoint
from .matcher import Matcher
from .schedule import Clock, wall_clock
from .secret_box import SecretBox, SecretUnreadable
from .sender import Sender
from .subscriptions import CHANNEL, Subscription, sealed_secrets

log = structlog.get_logger()

FORGET_EVERY = 3600.0  # seconds between deletions of old deliveries


class Dispatcher:
    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        box: SecretBox,
        *,
        clock: Clock = wall_clock,
        poll_seconds: float = 1.0,
        standby_seconds: float = 1.0,
    ) -> None:
        self.pool = store.pool
        self.settings = settings
        self.box = box
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.standby_seconds = standby_seconds
        self.matcher = Matcher(store)
        self.endpoints: dict[UUID, tuple[Endpoint, asyncio.Task[None]]] = {}
        self._appended = asyncio.Event()
        self._changed = asyncio.Event()
        self._woken: set[str] = set()
        self._unreadable: set[UUID] = set()  # secrets no key opens (logged once)
        self.leading = False

    async def run(self) -> None:
        """Stand by until this process leads `webhooks`, then dispatch while it does."""
        await lead(
            self.settings.require_database_url(),
            "webhooks",
            self._lead,
            standby_seconds=self.standby_seconds,
            watch=False,  # _lead pings its own session
        )

    def wake(self, webhook_id: UUID) -> None:
        if (found := self.endpoints.get(webhook_id)) is not None:
            found[0].wake.set()

    def _on_change(self, *args: Any) -> None:
        self._woken.add(args[-1])  # the payload: a webhook id
        self._changed.set()

    async def _lead(self, conn: asyncpg.Connection[Any]) -> None:
        await conn.add_listener(APPENDS, lambda *_: self._appended.set())
        await conn.add_listener(CHANNEL, self._on_change)
        matching = asyncio.create_task(self._match(), name="webhook-matcher")
        forgotten = asyncio.get_running_loop().time()
        self.leading = True
        try:
            while not conn.is_closed():
                self._changed.clear()
                await self._follow()
                for woken in self._woken:
                    self.wake(UUID(woken))
                self._woken.clear()
                if matching.done():
                    matching.result()  # its failure ends this term of leadership
                if asyncio.get_running_loop().time() - forgotten > FORGET_EVERY:
                    forgotten = asyncio.get_running_loop().time()
                    log.info(
                        "old webhook deliveries forgotten",
                        count=await forget(self.pool, self.clock()),
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.poll_seconds)
                await conn.execute("SELECT 1")  # still holding the session (and the lock)?
        finally:
            self.leading = False
            matching.cancel()
            await asyncio.gather(matching, return_exceptions=True)
            await self._stop(list(self.endpoints))

    async def _match(self) -> None:
        """Match new events as they commit; wake the endpoints that got deliveries."""
        while True:
            self._appended.clear()
            try:
                found = await self.matcher.step(self.clock())
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("webhook matcher failed, retrying", error=repr(error))
                await asyncio.sleep(self.poll_seconds)
                continue
            for webhook_id in found.matched:
                self.wake(webhook_id)
            if found.full:
                continue
            wakes = self._appended if found.webhooks else self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakes.wait(), self.poll_seconds)

    async def _follow(self) -> None:
        """One Endpoint per active webhook: start the new ones, stop the gone or disabled."""
        active = await sealed_secrets(self.pool)
        ended = [i for i, (_, task) in self.endpoints.items() if task.done() or i not in active]
        await self._stop(ended)
        for webhook_id, (hook, sealed) in active.items():
            if webhook_id not in self.endpoints:
                self._start(hook, sealed)

    def _start(self, hook: Subscription, sealed: bytes) -> None:
        try:
            secret = self.box.open(sealed, hook.webhook_id)
        except SecretUnreadable as error:
            if hook.webhook_id not in self._unreadable:
                log.error("webhook secret unreadable: check the keys", error=str(error))
                self._unreadable.add(hook.webhook_id)
            return
        settings = self.settings
        sender = Sender(
            hook.url,
            secret,
            timeout=settings.webhooks_timeout_seconds,
            concurrency=settings.webhooks_concurrency,
            allow_private=settings.webhooks_allow_private,
            webhook_id=str(hook.webhook_id),
        )
        endpoint = Endpoint(
            self.pool,
            hook,
            sender,
            self.clock,
            concurrency=settings.webhooks_concurrency,
            poll_seconds=self.poll_seconds,
        )
        # One that ends (disabled, or a bug) is removed, or restarted, by the next poll's _follow.
        task = asyncio.create_task(endpoint.run(), name=f"webhook-{hook.webhook_id}")
        self.endpoints[hook.webhook_id] = (endpoint, task)

    async def _stop(self, webhook_ids: list[UUID]) -> None:
        for webhook_id in webhook_ids:
            endpoint, task = self.endpoints.pop(webhook_id)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception as error:  # logged and restarted by the next _follow
                    log.error("webhook endpoint failed", webhook=str(webhook_id), error=repr(error))
            await endpoint.sender.close()
