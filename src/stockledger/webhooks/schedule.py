"""When a failed delivery is tried again, when it is given up, when an endpoint is disabled.

Pure functions of the clock's reading (passed in), so the rules are tested without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

FIRST_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)  # from the delivery's first attempt
DISABLE_AFTER = timedelta(days=3)  # of failing every attempt

Clock = Callable[[], datetime]  # what the dispatcher reads the time from (tests pass their own)


def wall_clock() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s, ... up to 1 h."""
    if attempts < 1:
        raise ValueError("backoff follows a failed attempt")
    if attempts > 12:  # 5 s * 2**11 already exceeds the cap
        return MAX_BACKOFF
    wait: timedelta = FIRST_BACKOFF * 2 ** (attempts - 1)
    return min(wait, MAX_BACKOFF)


def next_attempt(first_attempt_at: datetime, attempts: int, now: datetime) -> datetime | None:
    """After the `attempts`-th attempt, failed at `now`: when to try again, or None when the
    delivery is given up (`failed`). The last try falls exactly 24 h after the first."""
    give_up_at = first_attempt_at + GIVE_UP_AFTER
    if now >= give_up_at:
        return None
    return min(now + backoff(attempts), give_up_at)


def disabled(failing_since: datetime | None, now: datetime) -> bool:
    """Whether an endpoint whose every attempt failed since `failing_since` is disabled."""
    return failing_since is not None and now - failing_since >= DISABLE_AFTER
