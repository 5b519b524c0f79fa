"""STOCKLEDGER_RATE_LIMITS: what it accepts, and what a malformed value says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stockledger.config import RateLimit, Role, Settings, parse_rate_limits


def test_the_documented_example_parses_with_burst_defaulting_to_one_second() -> None:
    limits = parse_rate_limits("orders=2000/s:4000,warehouse=200/s,auditor=50/s")
    assert limits == {
        Role.ORDERS: RateLimit(2000, 4000),
        Role.WAREHOUSE: RateLimit(200, 200),
        Role.AUDITOR: RateLimit(50, 50),
    }


def test_unset_means_no_limits_and_slow_rates_keep_a_burst_of_one() -> None:
    assert parse_rate_limits("") == {}
    assert parse_rate_limits(" admin = 0.5/s ") == {Role.ADMIN: RateLimit(0.5, 1)}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("orders=2000", "must be role=rate/s"),
        ("orders=2000/m", "must be role=rate/s"),
        ("orders=fast/s", "must be role=rate/s"),
        ("orders=10/s:1.5", "must be role=rate/s"),
        ("buyers=10/s", "role one of orders, warehouse, auditor, admin"),
        ("orders=0/s", "the rate must be > 0"),
        ("orders=10/s:0", "the burst >= 1"),
        ("orders=nan/s", "must be role=rate/s"),
        ("orders=inf/s", "must be role=rate/s"),
        ("orders=1/s,orders=2/s", "listed twice"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_entry(raw: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(rate_limits=raw)
