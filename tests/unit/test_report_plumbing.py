"""Report periods tile their window; CSV flattens nested fields with a dot; cursors round-trip."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockledger.api.reports import wants_csv
from stockledger.reports.periods import GRANULARITIES, PeriodError, period_floor, periods
from stockledger.reports.tables import CursorError, csv_bytes, decode_cursor, encode_cursor


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_weeks_start_on_monday_and_months_roll_over_the_year() -> None:
    weeks = periods(utc(2025, 12, 31, 15), utc(2026, 1, 13), "week")
    assert [(p.start, p.end) for p in weeks] == [
        (utc(2025, 12, 31, 15), utc(2026, 1, 5)),  # clipped: from is a Wednesday afternoon
        (utc(2026, 1, 5), utc(2026, 1, 12)),
        (utc(2026, 1, 12), utc(2026, 1, 13)),  # clipped at to
    ]
    months = periods(utc(2025, 11, 1), utc(2026, 2, 1), "month")
    assert [p.start.month for p in months] == [11, 12, 1]
    assert period_floor(utc(2024, 2, 29, 23, 59), "month") == utc(2024, 2, 1)


@given(
    since=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),
    length=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=300)),
    granularity=st.sampled_from(GRANULARITIES),
)
def test_periods_tile_the_window_on_calendar_boundaries(
    since: datetime, length: timedelta, granularity: str
) -> None:
    start = since.replace(tzinfo=UTC)
    spans = periods(start, start + length, granularity, most=10_000)  # type: ignore[arg-type]
    assert spans[0].start == start
    assert spans[-1].end == start + length
    for before, after in itertools.pairwise(spans):
        assert before.end == after.start
        assert period_floor(after.start, granularity) == after.start  # type: ignore[arg-type]


def test_windows_that_cannot_be_reported() -> None:
    with pytest.raises(PeriodError, match="must be before"):
        periods(utc(2025, 1, 2), utc(2025, 1, 2), "day")
    assert len(periods(utc(2025, 1, 1), utc(2025, 1, 1) + timedelta(days=400), "day")) == 400
    with pytest.raises(PeriodError, match="more than 400 day periods"):
        periods(utc(2025, 1, 1), utc(2025, 1, 1) + timedelta(days=400, seconds=1), "day")
    last = periods(utc(9999, 12, 1), datetime.max.replace(tzinfo=UTC), "month")
    assert last[-1].end == datetime.max.replace(tzinfo=UTC)


def test_csv_flattens_nested_fields_with_a_dot() -> None:
    rows = [{"sku": "A", "opening": {"onHand": 3, "reserved": 0}, "note": None, "ok": True}]
    assert csv_bytes(rows, ("sku", "opening.onHand", "opening.reserved", "note", "ok")) == (
        b"sku,opening.onHand,opening.reserved,note,ok\r\nA,3,0,,true\r\n"
    )
    assert csv_bytes([], ("a", "b")) == b"a,b\r\n"
    assert csv_bytes(rows, ("sku",), header=False) == b"A\r\n"


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = encode_cursor("movements", "stock:A:B", "2025-01-01T00:00:00+00:00", 7)
    assert decode_cursor("movements", cursor, (str, str, int)) == [
        "stock:A:B",
        "2025-01-01T00:00:00+00:00",
        7,
    ]
    for bad in ("", "!!", encode_cursor("turnover", "x", "y", 7), cursor[:-2]):
        with pytest.raises(CursorError):
            decode_cursor("movements", bad, (str, str, int))
    with pytest.raises(CursorError):
        decode_cursor("movements", encode_cursor("movements", "x", "y", True), (str, str, int))


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        (None, False),
        ("*/*", False),
        ("text/csv", True),
        ("text/csv; charset=utf-8", True),
        ("application/json, text/csv", True),
        ("text/csv;q=0.5, application/json", False),
        ("text/html,*/*;q=0.8", False),
        ("text/csv;q=0", False),
    ],
)
def test_accept_picks_csv_only_when_preferred(accept: str | None, csv: bool) -> None:
    assert wants_csv(accept) is csv
