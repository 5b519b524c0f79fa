"""One webhook's sending loop.

Up to `concurrency` of its streams are in flight at once, each sending its due deliveries one
after another in version order and stopping at the first failure (queue.py). Outcomes are
recorded as streams finish, and finished streams are refilled from the due queue rows, so one
slow stream holds one slot, not the whole endpoint. A database error loses at most the outcomes
not yet recorded: those deliveries are still pending and go again (at least once).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import structlog

from ..metrics import WEBHOOK_ATTEMPTS, WEBHOOK_DISABLED, WEBHOOK_GIVEN_UP
from .queue import Due, Outcome, due, record
from .schedule import Clock
from .sender import Sender
from .subscriptions import Subscription

log = structlog.get_logger()

Chain = asyncio.Task[list[Outcome]]


class Endpoint:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        hook: Subscription,
        sender: Sender,
        clock: Clock,
        *,
        concurrency: int,
        per_stream: int = 32,
        poll_seconds: float = 1.0,
    ) -> None:
        self.pool = pool
        self.hook = hook
        self.sender = sender
        self.clock = clock
        self.concurrency = concurrency
        self.per_stream = per_stream
        self.poll_seconds = poll_seconds
        self.wake = asyncio.Event()  # set by the matcher, a retry, an enable
        self._label = str(hook.webhook_id)

    async def run(self) -> None:
        """Send until the webhook is disabled (then return) or the task is cancelled."""
        running: dict[Chain, str] = {}
        try:
            while True:
                emptied: list[str] = []
                free = self.concurrency - len(running)
                if free and (self.wake.is_set() or not running or free * 2 >= self.concurrency):
                    self.wake.clear()
                    emptied = await self._start(running, free)
                finished = await self._wait(running, watch_wake=free > 0 and not emptied)
                outcomes = [o for task in finished for o in task.result()]
                if not await self._record(outcomes, emptied):
                    log.warning("webhook disabled after 3 days of failures", webhook=self._label)
                    WEBHOOK_DISABLED.labels(self._label).inc()
                    return
                for task in finished:
                    del running[task]
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _wait(self, running: dict[Chain, str], *, watch_wake: bool) -> set[Chain]:
        """The chains that finish first, or none once woken (new deliveries, while a slot is
        free) or after a poll period."""
        waiting: set[asyncio.Future[Any]] = set(running)
        waker = asyncio.ensure_future(self.wake.wait()) if watch_wake else None
        if waker is not None:
            waiting.add(waker)
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if waker is not None:
                waker.cancel()
        return {task for task in running if task in done}

    async def _start(self, running: dict[Chain, str], free: int) -> list[str]:
        """Start the chains of up to `free` due streams; returns the due streams found empty."""
        try:
            chains = await due(
                self.pool,
                self.hook.webhook_id,
                self.clock(),
                streams=free,
                per_stream=self.per_stream,
                besides=list(running.values()),
            )
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("webhook deliveries unreadable", webhook=self._label, error=repr(error))
            return []
        for stream_id, chain in chains.items():
            if chain:
                running[asyncio.create_task(self._send(chain))] = stream_id
        return [s for s, chain in chains.items() if not chain]

    async def _send(self, chain: list[Due]) -> list[Outcome]:
        """One stream's deliveries in order, up to the first that fails."""
        outcomes = []
        for delivery in chain:
            at = self.clock()
            attempt = await self.sender.post(delivery)
            outcomes.append(Outcome(delivery, attempt, at))
            WEBHOOK_ATTEMPTS.labels(self._label, "delivered" if attempt.ok else "failed").inc()
            if not attempt.ok:
                break
        return outcomes

    async def _record(self, outcomes: list[Outcome], emptied: list[str]) -> bool:
        """Record the outcomes; False once the webhook is disabled."""
        if not outcomes and not emptied:
            return True
        try:
            recorded = await record(
                self.pool,
                self.hook.webhook_id,
                outcomes,
                emptied,
                window_since=self.hook.enabled_at,
            )
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("webhook outcomes not recorded", webhook=self._label, error=repr(error))
            return True
        if recorded.given_up:
            log.warning("webhook deliveries failed", webhook=self._label, count=recorded.given_up)
            WEBHOOK_GIVEN_UP.labels(self._label).inc(recorded.given_up)
        return recorded.active
