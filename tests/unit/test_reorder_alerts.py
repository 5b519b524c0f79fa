"""Low-stock alerts decided by the pure domain: one event per crossing of the reorder point,
never two open alerts on one stream, the suggested quantity of the contract."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stockledger.domain import commands as c
from stockledger.domain.reorder.alerts import suggested
from stockledger.domain.reorder.events import LowStockDetected, LowStockResolved, StockOutDetected
from stockledger.domain.reorder.state import ReorderRule, ReorderState
from stockledger.domain.stock.events import Line

from .memory_ledger import MemoryLedger

SKU, WH = "A", "W1"


def receipt(qty: int) -> c.ReceiveStock:
    return c.ReceiveStock(SKU, WH, qty, "PO", Decimal("1.00"), "S")


def test_a_rule_set_below_the_level_opens_at_once_and_receipts_close_it() -> None:
    ledger = MemoryLedger()
    ledger.handle(receipt(3))
    opened = ledger.handle(c.SetReorderRule(SKU, WH, reorder_point=5, reorder_quantity=10))
    assert [type(e).__name__ for _, e in opened.events] == ["ReorderRuleSet", "LowStockDetected"]
    [alert] = [e for _, e in opened.events if isinstance(e, LowStockDetected)]
    assert (alert.available, alert.projected, alert.suggested_order_quantity) == (3, 3, 10)
    closed = ledger.handle(receipt(10))
    assert [type(e).__name__ for _, e in closed.events] == ["StockReceived", "LowStockResolved"]
    unchanged = ledger.handle(c.SetReorderRule(SKU, WH, reorder_point=5, reorder_quantity=10))
    assert unchanged.events == ()


def test_falling_to_zero_is_low_then_out_and_removing_the_rule_closes_the_alert() -> None:
    ledger = MemoryLedger()
    ledger.handle(receipt(8))
    ledger.handle(c.SetReorderRule(SKU, WH, reorder_point=2, reorder_quantity=6, safety_stock=4))
    until = ledger.now + timedelta(days=1)
    both = ledger.handle(c.ReserveStock("R1", "O1", (Line(SKU, WH, 8),), until))
    kinds = [type(e).__name__ for s, e in both.events if s.startswith("reorder:")]
    assert kinds == ["LowStockDetected", "StockOutDetected"]  # two crossings, one command
    out = next(e for _, e in both.events if isinstance(e, StockOutDetected))
    assert out.suggested_order_quantity == 6  # max(6, 2 + 4 - 0)
    removed = ledger.handle(c.RemoveReorderRule(SKU, WH))
    assert [type(e).__name__ for _, e in removed.events] == [
        "ReorderRuleRemoved",
        "LowStockResolved",
    ]
    state = ledger.state(f"reorder:{SKU}:{WH}")
    assert isinstance(state, ReorderState)
    assert (state.rule, state.alert_id) == (None, None)


def test_the_suggested_quantity_is_the_rule_or_what_gets_back_above_the_point() -> None:
    rule = ReorderRule(reorder_point=10, reorder_quantity=5, safety_stock=3)
    assert suggested(rule, projected=9) == 5
    assert suggested(rule, projected=2) == 11


moves = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), st.integers(1, 6)),
        st.tuples(st.just("reserve"), st.integers(1, 6)),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("adjust"), st.integers(-6, 6).filter(bool)),
        st.tuples(st.just("rule"), st.integers(0, 8)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(moves)
def test_every_crossing_gives_exactly_one_event_and_one_alert_at_most(
    script: list[tuple[str, int]],
) -> None:
    ledger = MemoryLedger()
    ledger.handle(c.SetReorderRule(SKU, WH, reorder_point=5, reorder_quantity=10))
    held: list[str] = []
    point, was_low = 5, True  # nothing in stock: the alert opened with the rule
    downs, ups, opened, resolved = 1, 0, 1, 0
    for n, (kind, amount) in enumerate(script):
        stock = ledger.stock(SKU, WH)
        command: c.Command
        if kind == "receive":
            command = receipt(amount)
        elif kind == "reserve":
            command = c.ReserveStock(
                f"R{n}", "O", (Line(SKU, WH, amount),), ledger.now.replace(year=2030)
            )
        elif kind == "release" and held:
            command = c.ReleaseReservation(held.pop(amount % len(held)))
        elif kind == "adjust" and stock.levels.on_hand + amount >= stock.levels.reserved:
            command = c.AdjustStock(SKU, WH, amount, "system_correction", "test")
        elif kind == "rule":
            command, point = c.SetReorderRule(SKU, WH, amount, 10), amount
        else:
            continue
        try:
            decision = ledger.handle(command)
        except Exception:
            continue
        if isinstance(command, c.ReserveStock):
            held.append(command.reservation_id)
        levels = ledger.stock(SKU, WH).levels
        low = levels.available + levels.in_transit <= point
        downs += int(low and not was_low)
        ups += int(was_low and not low)
        was_low = low
        alerts = [e for _, e in decision.events]
        opened += sum(isinstance(e, LowStockDetected) for e in alerts)
        resolved += sum(isinstance(e, LowStockResolved) for e in alerts)
        state = ledger.state(f"reorder:{SKU}:{WH}")
        assert isinstance(state, ReorderState)
        assert (state.alert_id is not None) == low  # open exactly while low
        assert opened - resolved == int(low)  # never two open alerts
    assert (opened, resolved) == (downs, ups)
