"""No stock bucket grows past MAX_LEVEL: such a command is refused, never stored to overflow."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stockledger.domain import commands as c
from stockledger.domain.errors import LedgerConflict
from stockledger.domain.stock.decide import MAX_LEVEL
from stockledger.domain.stock.state import Levels

from .memory_ledger import MemoryLedger

BIG = 1_000_000_000


def test_receipts_returns_and_transfers_stop_at_max_level() -> None:
    ledger = MemoryLedger()
    ledger.handle(c.ReceiveStock("SKU", "WH-A", BIG, "PO", Decimal(1), "S", None))
    ledger.handle(c.ReceiveStock("SKU", "WH-A", BIG, "PO", Decimal(1), "S", None))
    with pytest.raises(LedgerConflict, match=f"more than {MAX_LEVEL} units"):
        ledger.handle(c.ReceiveStock("SKU", "WH-A", BIG, "PO", Decimal(1), "S", None))
    with pytest.raises(LedgerConflict):
        ledger.handle(c.ReturnStock("R", "O", "SKU", "WH-A", BIG, "defective", "resellable"))
    with pytest.raises(LedgerConflict):
        ledger.handle(c.AdjustStock("SKU", "WH-A", BIG, "system_correction", "n", None))
    ledger.handle(c.ReceiveStock("SKU", "WH-B", BIG, "PO", Decimal(1), "S", None))
    ledger.handle(c.DispatchTransfer("T", "SKU", "WH-B", "WH-A", BIG))  # inTransit has room
    with pytest.raises(LedgerConflict, match="WH-A"):  # the destination's onHand has not
        ledger.handle(c.ReceiveTransfer("T", None))
    ledger.handle(c.ReturnStock("R2", "O", "SKU", "WH-A", BIG, "defective", "damaged"))
    assert ledger.stock("SKU", "WH-A").levels == Levels(
        on_hand=2 * BIG, in_transit=BIG, damaged=BIG
    )
