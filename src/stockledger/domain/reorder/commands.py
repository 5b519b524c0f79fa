"""What a reorder rule can be asked: be set (or changed), or removed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SetReorderRule:
    sku: str
    warehouse_id: str
    reorder_point: int
    reorder_quantity: int
    safety_stock: int = 0


@dataclass(frozen=True, slots=True)
class RemoveReorderRule:
    sku: str
    warehouse_id: str


ReorderCommand = SetReorderRule | RemoveReorderRule
