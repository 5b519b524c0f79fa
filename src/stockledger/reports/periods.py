"""Report periods: UTC days, ISO weeks (Monday to Monday) and calendar months over [from, to).

A report's window need not fall on period boundaries: the periods are the calendar ones that
meet [from, to), the first starting at `from` and the last ending at `to` (clipped), so the
periods tile the window exactly and every instant in it belongs to one period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = get_args(Granularity)
MAX_PERIODS = 400  # a day report over more than a year, a week one over ~7.7 years: refused


class PeriodError(ValueError):
    """A window that cannot be cut into periods (empty, reversed, or too many periods)."""


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive


def period_floor(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the calendar period holding `moment` (an aware UTC datetime)."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if granularity == "month":
        return day.replace(day=1)
    return day


def _following(start: datetime, granularity: Granularity) -> datetime:
    if granularity == "day":
        return start + timedelta(days=1)
    if granularity == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def periods(
    since: datetime, until: datetime, granularity: Granularity, most: int = MAX_PERIODS
) -> list[Period]:
    """The periods of [since, until), the first and last clipped to it; at most `most`."""
    if since >= until:
        raise PeriodError(f"from ({since.isoformat()}) must be before to ({until.isoformat()})")
    out: list[Period] = []
    start, calendar = since, period_floor(since, granularity)
    while start < until:
        if len(out) == most:
            raise PeriodError(
                f"from {since.isoformat()} to {until.isoformat()} is more than {most} "
                f"{granularity} periods: ask for a shorter window or a coarser granularity"
            )
        try:
            calendar = _following(calendar, granularity)
        except (OverflowError, ValueError):  # past year 9999: the window's end comes first
            calendar = until
        end = min(calendar, until)
        out.append(Period(start, end))
        start = end
    return out
