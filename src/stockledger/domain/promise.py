"""Available to promise, pure: what is available now plus the open purchase order lines by
their expected date, cumulative per date, and the first date a quantity is there.

`timeline` is the one rule for one SKU (in one warehouse or summed over several). A kit, made of
several components, is promised by `kit_timeline`: on each date the minimum over its components
of what each component's timeline holds, divided by how many of it one kit takes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class Point:
    date: date
    incoming: int  # expected that date
    available: int  # available now plus everything expected up to that date


def timeline(
    available_now: int, expected: Iterable[tuple[date, int]], today: date, horizon_days: int
) -> tuple[Point, ...]:
    """One point per date with units expected, from today (an overdue line counts from today)
    to today + `horizon_days`."""
    last = today + timedelta(days=horizon_days)
    by_date: Counter[date] = Counter()
    for on, quantity in expected:
        on = max(on, today)
        if on <= last:
            by_date[on] += quantity
    points, available = [], available_now
    for on in sorted(by_date):
        available += by_date[on]
        points.append(Point(on, by_date[on], available))
    return tuple(points)


def available_on(available_now: int, points: Sequence[Point], on: date) -> int:
    """What a timeline holds on `on` (the last point at or before it)."""
    held = available_now
    for point in points:
        if point.date > on:
            break
        held = point.available
    return held


def promise_date(
    available_now: int, points: Sequence[Point], quantity: int, today: date
) -> date | None:
    """The first date on which `quantity` is available (today if it already is); None when
    not within the timeline."""
    if available_now >= quantity:
        return today
    return next((x.date for x in points if x.available >= quantity), None)


def kit_timeline(
    components: Sequence[tuple[int, int, Sequence[Point]]],
) -> tuple[int, tuple[Point, ...]]:
    """A kit's (available now, timeline) from its components' (quantity per kit, available now,
    timeline): on every date any component changes, the fewest kits a component allows."""
    now = min(available // per for per, available, _ in components)
    dates = sorted({x.date for _, _, points in components for x in points})
    points, before = [], now
    for on in dates:
        kits = min(available_on(held, pts, on) // per for per, held, pts in components)
        points.append(Point(on, kits - before, kits))
        before = kits
    return now, tuple(points)
