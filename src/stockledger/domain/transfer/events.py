"""A transfer's events, appended to its own stream `transfer:{transferId}` and to the stock
streams of its source and destination."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from pydantic import ConfigDict

from ..codec import WIRE
from ..stock.events import LotQuantity
from ..valuation import Layer


@dataclass(frozen=True, slots=True)
class TransferDispatched:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "TransferDispatched"
    transfer_id: str
    sku: str
    from_warehouse_id: str
    to_warehouse_id: str
    quantity: int
    cost: Decimal | None = None  # v2: the value that left the source
    layers: tuple[Layer, ...] | None = None  # v2: the cost layers it carries
    lots: tuple[LotQuantity, ...] | None = None  # v3: the lots it carries (lot-tracked items)
    serials: tuple[str, ...] | None = None  # v3: the serials it carries (serial-tracked items)

    def same_transfer(self, other: TransferDispatched) -> bool:
        """The same dispatch, whatever it cost (a retry is decided against a later state)."""
        mine = (self.transfer_id, self.sku, self.from_warehouse_id, self.to_warehouse_id)
        theirs = (other.transfer_id, other.sku, other.from_warehouse_id, other.to_warehouse_id)
        return mine == theirs and self.quantity == other.quantity


@dataclass(frozen=True, slots=True)
class TransferReceived:
    """Arrival at the destination; a shortfall is the recorded transit loss (`lostQuantity`)."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE

    TYPE: ClassVar[str] = "TransferReceived"
    transfer_id: str
    sku: str
    from_warehouse_id: str
    to_warehouse_id: str
    quantity: int
    received_quantity: int
    lost_quantity: int
    cost: Decimal | None = None  # v2: the value that arrived on hand
    lost_cost: Decimal | None = None  # v2: the value lost in transit
    lots: tuple[LotQuantity, ...] | None = None  # v3: the lots that arrived (lot-tracked items)
    serials: tuple[str, ...] | None = None  # v3: the serials that arrived
    lost_serials: tuple[str, ...] | None = None  # v3: the serials lost in transit
