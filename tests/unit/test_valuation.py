"""Cost in the domain, exactly: FIFO layers and moving average (the core of the ledger's
valuation; not wired into the events yet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockledger.domain.valuation import Valuation, put_back, receive, take, text

T0 = datetime(2026, 7, 1, tzinfo=UTC)
D = Decimal


def test_fifo_takes_the_oldest_layers_first() -> None:
    """The contract's example: 10 @ 2.00 + 10 @ 3.00, ship 15 -> cost 35.00, 15.00 left."""
    v = receive(receive(Valuation("fifo"), 10, D("2.00"), T0), 10, D("3.00"), T0 + timedelta(1))
    left, cost, layers = take(v, 15)
    assert (text(cost), text(left.value), left.quantity) == ("35.0000", "15.0000", 5)
    assert [(x.quantity, x.unit_cost) for x in layers] == [(10, D("2.00")), (5, D("3.00"))]


def test_moving_average_takes_the_average() -> None:
    """The contract's example: 10 @ 2, 10 @ 4, ship 5 -> cost 15.00, 45.00 left."""
    v = receive(receive(Valuation("moving_average"), 10, D("2"), T0), 10, D("4"), T0)
    left, cost, _ = take(v, 5)
    assert (text(cost), text(left.value), text(left.unit_cost)) == ("15.0000", "45.0000", "3.0000")


def test_an_average_that_does_not_divide_leaves_nothing_behind() -> None:
    v = receive(receive(Valuation("moving_average"), 2, D("1"), T0), 1, D("2"), T0)  # 4 / 3
    v, first, _ = take(v, 1)
    v, second, _ = take(v, 1)
    v, last, _ = take(v, 1)
    assert (first, second) == (D("1.333333"), D("1.333334"))
    assert first + second + last == D("4")
    assert (v.quantity, v.value) == (0, D("0"))


def test_more_than_is_valued_cannot_go_out() -> None:
    with pytest.raises(ValueError, match="cannot take 3 of 2"):
        take(receive(Valuation(), 2, D("1"), T0), 3)


def test_a_transfer_carries_its_layers_in_receipt_order() -> None:
    source = receive(receive(Valuation(), 5, D("1"), T0), 5, D("2"), T0 + timedelta(2))
    destination = receive(Valuation(), 3, D("1.5"), T0 + timedelta(1))
    source, cost, moved = take(source, 7)
    destination = put_back(destination, moved)
    assert [(x.quantity, x.unit_cost) for x in destination.layers] == [
        (5, D("1")),
        (3, D("1.5")),
        (2, D("2")),
    ]
    assert cost == D("9")
    assert destination.value == D("13.5")


Step = tuple[str, int, Decimal]
steps = st.lists(
    st.tuples(
        st.sampled_from(["in", "out", "move"]),
        st.integers(1, 50),
        st.decimals(min_value=D("0.000001"), max_value=D("999.999999"), places=6),
    ),
    max_size=60,
)


@given(
    st.sampled_from(["fifo", "moving_average"]), st.sampled_from(["fifo", "moving_average"]), steps
)
def test_value_is_conserved_exactly_and_never_negative(
    method: str, other: str, moves: list[Step]
) -> None:
    """Value in = value out + value on hand in both streams, to the last digit, whatever the
    receipts, shipments and transfers; no layer and no value goes negative."""
    a, b = Valuation(method), Valuation(other)  # type: ignore[arg-type]
    value_in = value_out = D("0")
    for n, (kind, quantity, cost) in enumerate(moves):
        at = T0 + timedelta(minutes=n)
        if kind == "in":
            a = receive(a, quantity, cost, at)
            value_in += cost * quantity
        elif a.quantity:
            a, taken, layers = take(a, min(quantity, a.quantity))
            if kind == "move":
                b = put_back(b, layers)
                assert sum(x.value for x in layers) == taken
            else:
                value_out += taken
        for v in (a, b):
            assert v.value >= 0
            assert all(x.quantity > 0 and x.value >= 0 for x in v.layers)
    assert value_in == value_out + a.value + b.value
    if a.quantity == 0:
        assert a.value == 0


@given(steps)
def test_fifo_layers_stay_in_receipt_order(moves: list[Step]) -> None:
    v = Valuation("fifo")
    for n, (kind, quantity, cost) in enumerate(moves):
        if kind == "in":
            v = receive(v, quantity, cost, T0 + timedelta(minutes=n))
        elif v.quantity:
            v, _, _ = take(v, min(quantity, v.quantity))
    times = [x.received_at for x in v.layers]
    assert times == sorted(times)  # type: ignore[type-var]
