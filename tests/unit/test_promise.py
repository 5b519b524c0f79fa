"""Available to promise against an oracle that walks every day of the horizon."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from stockledger.domain.promise import available_on, kit_timeline, promise_date, timeline

TODAY = date(2026, 12, 7)
lines = st.lists(st.tuples(st.integers(-20, 60), st.integers(1, 50)), max_size=12)


def oracle(available_now: int, expected: list[tuple[int, int]], day: int) -> int:
    """Available on TODAY + day: now, plus every line due by then (an overdue one counts today)."""
    return available_now + sum(q for on, q in expected if max(on, 0) <= day)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100), lines, st.integers(0, 45), st.integers(1, 400))
def test_timeline_and_promise_match_a_day_by_day_walk(
    now: int, expected: list[tuple[int, int]], horizon: int, quantity: int
) -> None:
    dated = [(TODAY + timedelta(days=on), q) for on, q in expected]
    points = timeline(now, dated, TODAY, horizon)
    for day in range(horizon + 1):
        on = TODAY + timedelta(days=day)
        assert available_on(now, points, on) == oracle(now, expected, day)
    assert [p.date for p in points] == sorted({p.date for p in points})
    assert all(p.incoming > 0 for p in points)
    walk = (d for d in range(horizon + 1) if oracle(now, expected, d) >= quantity)
    first = next(walk, None)
    assert promise_date(now, points, quantity, TODAY) == (
        None if first is None else TODAY + timedelta(days=first)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(0, 40), lines), min_size=1, max_size=4),
    st.integers(0, 45),
)
def test_a_kit_is_the_fewest_its_components_allow_on_every_day(
    components: list[tuple[int, int, list[tuple[int, int]]]], horizon: int
) -> None:
    timelines = [
        (per, now, timeline(now, [(TODAY + timedelta(days=on), q) for on, q in exp], TODAY,
                            horizon))
        for per, now, exp in components
    ]  # fmt: skip
    now, points = kit_timeline(timelines)
    for day in range(horizon + 1):
        on = TODAY + timedelta(days=day)
        fewest = min(oracle(n, exp, day) // per for per, n, exp in components)
        assert available_on(now, points, on) == fewest
