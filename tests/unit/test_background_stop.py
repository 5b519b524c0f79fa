"""Shutting down waits for the background tasks only so long: one stuck in its cleanup is named
in the log and left behind, a failed one is logged, and the process still stops."""

from __future__ import annotations

import asyncio
import time

import pytest
import structlog
from structlog.testing import capture_logs

from stockledger.api import app as app_module


async def _stubborn(release: asyncio.Event) -> None:
    """A task whose cleanup blocks until released (a leader stuck unlocking, say)."""
    try:
        await asyncio.sleep(3600)
    finally:
        await asyncio.shield(release.wait())


async def _fails() -> None:
    raise RuntimeError("lost the database")


async def test_a_stuck_task_does_not_hold_up_the_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "STOP_SECONDS", 0.3)
    # a fresh logger: one cached by an earlier test's configuration would bypass the capture
    monkeypatch.setattr(app_module, "log", structlog.get_logger())
    release = asyncio.Event()
    stuck = asyncio.create_task(_stubborn(release), name="projector")
    failed = asyncio.create_task(_fails(), name="expiry")
    quiet = asyncio.create_task(asyncio.sleep(3600), name="outbox-sampler")
    await asyncio.sleep(0)  # each task starts
    started = time.monotonic()
    with capture_logs() as logs:
        await app_module._stop([stuck, failed, quiet])
    took = time.monotonic() - started
    assert 0.3 <= took < 2
    assert quiet.cancelled()
    assert not stuck.done()
    by_event = {(e["event"], e["task"]) for e in logs}
    assert ("background task did not stop", "projector") in by_event
    assert ("background task failed", "expiry") in by_event
    assert not any(e["task"] == "outbox-sampler" for e in logs)
    release.set()
    await asyncio.wait([stuck], timeout=5)
    assert stuck.cancelled()
