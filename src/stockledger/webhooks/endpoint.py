"""One webhook's sending loop.

Up to STREAMS_PER_CONNECTION x `concurrency` of its streams are in flight at once, each sending
its due deliveries one after another in version order and stopping at the first failure
(queue.py); the sender's connection pool lets `concurrency` requests out at a time, so an
endpoint that hangs holds its own connections and nothing else. One recording is in flight at
a time while sending goes on: the streams that finish meanwhile are recorded together by the
next one, and a stream is fetched again only once its outcomes are recorded. A database error
loses at most the outcomes not yet recorded: those deliveries are still pending and go again
(at least once).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import structlog

from ..metrics import WEBHOOK_ATTEMPTS, WEBHOOK_DISABLED, WEBHOOK_GIVEN_UP
from .queue import Health, Outcome, Sent, Stream, due, record, webhook_health
from .schedule import Clock
from .sender import Sender
from .subscriptions import Subscription

log = structlog.get_logger()

# Streams in flight per connection: a stream waiting for its answer, for a connection, or for
# its outcomes to be recorded, is one of them. More streams than connections let one fetch and
# one record cover many sends.
STREAMS_PER_CONNECTION = 4


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
        self.streams = concurrency * STREAMS_PER_CONNECTION
        self.per_stream = per_stream
        self.poll_seconds = poll_seconds
        self.wake = asyncio.Event()  # set by the matcher, a retry, an enable
        self.failing_since = hook.failing_since  # this endpoint alone writes it while active
        self._label = str(hook.webhook_id)
        self._sending: dict[asyncio.Task[Sent], str] = {}
        self._finished: list[Sent] = []  # sent, not recorded yet
        self._recording: asyncio.Task[bool] | None = None
        self._recorded: list[str] = []  # the streams the recording in flight holds

    def _busy(self) -> int:
        return len(self._sending) + len(self._finished) + len(self._recorded)

    async def run(self) -> None:
        """Send until the webhook is disabled (then return) or the task is cancelled."""
        try:
            while True:
                free = self.streams - self._busy()
                idle = not self._sending and self._recording is None
                if free and (self.wake.is_set() or idle or free * 2 >= self.streams):
                    self.wake.clear()
                    await self._start(free)
                await self._wait(watch_wake=free > 0)
                if self._recording is not None and self._recording.done():
                    active = self._recording.result()
                    self._recording, self._recorded = None, []
                    if not active:
                        log.warning(
                            "webhook disabled after 3 days of failures", webhook=self._label
                        )
                        WEBHOOK_DISABLED.labels(self._label).inc()
                        return
                if self._recording is None and self._finished:
                    sent, self._finished = self._finished, []
                    self._recorded = [s.stream.stream_id for s in sent]
                    self._recording = asyncio.create_task(self._record(sent))
        finally:
            tasks = [*self._sending, *([self._recording] if self._recording else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait(self, *, watch_wake: bool) -> None:
        """Until a stream finishes, the recording in flight ends, or (while a slot is free)
        new deliveries arrive, at most a poll period; finished streams join `_finished`."""
        waiting: set[asyncio.Future[Any]] = set(self._sending)
        if self._recording is not None:
            waiting.add(self._recording)
        elif self._finished:
            return  # record them now
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
        for task in [t for t in self._sending if t in done]:
            del self._sending[task]
            self._finished.append(task.result())

    async def _start(self, free: int) -> None:
        """Start sending up to `free` due streams; those found with nothing pending are
        recorded idle."""
        try:
            streams = await due(
                self.pool,
                self.hook.webhook_id,
                self.clock(),
                streams=free,
                per_stream=self.per_stream,
                besides=[*self._sending.values(), *self._recorded]
                + [s.stream.stream_id for s in self._finished],
            )
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("webhook deliveries unreadable", webhook=self._label, error=repr(error))
            return
        for stream in streams:
            if stream.deliveries:
                self._sending[asyncio.create_task(self._send(stream))] = stream.stream_id
            else:
                self._finished.append(Sent(stream, []))

    async def _send(self, stream: Stream) -> Sent:
        """One stream's deliveries in order, up to the first that fails."""
        outcomes = []
        for delivery in stream.deliveries:
            at = self.clock()
            attempt = await self.sender.post(delivery)
            outcomes.append(Outcome(delivery, attempt, at))
            WEBHOOK_ATTEMPTS.labels(self._label, "delivered" if attempt.ok else "failed").inc()
            if not attempt.ok:
                break
        return Sent(stream, outcomes)

    async def _record(self, sent: list[Sent]) -> bool:
        """Record what was sent; False once the webhook is disabled."""
        outcomes = [o for s in sent for o in s.outcomes]
        failing_since, active = webhook_health(self.failing_since, outcomes)
        changed = failing_since != self.failing_since or not active
        at = max((o.at for o in outcomes), default=self.clock())
        try:
            given_up = await record(
                self.pool,
                self.hook.webhook_id,
                sent,
                health=Health(failing_since, active, at) if changed else None,
                window_since=self.hook.enabled_at,
                now=self.clock(),
            )
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("webhook outcomes not recorded", webhook=self._label, error=repr(error))
            return True
        self.failing_since = failing_since
        if given_up:
            log.warning("webhook deliveries failed", webhook=self._label, count=given_up)
            WEBHOOK_GIVEN_UP.labels(self._label).inc(given_up)
        return active
