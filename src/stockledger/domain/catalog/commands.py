"""What the catalog can be asked: define, change, deactivate or activate an item or warehouse."""

from __future__ import annotations

from dataclasses import dataclass

from .events import Tracking, ValuationMethod


@dataclass(frozen=True, slots=True)
class DefineItem:
    """PUT of an item: defines it, or changes the fields that differ (none: no event)."""

    sku: str
    name: str
    description: str = ""
    unit_of_measure: str = "each"
    valuation_method: ValuationMethod = "fifo"
    expected_version: int | None = None
    # Whether the SKU has stock events (its valuation method and tracking are then locked),
    # looked up by the write path under the item's lock (None until then).
    stocked: bool | None = None
    tracking: Tracking = "none"


@dataclass(frozen=True, slots=True)
class DeactivateItem:
    sku: str
    reason: str


@dataclass(frozen=True, slots=True)
class ActivateItem:
    sku: str


@dataclass(frozen=True, slots=True)
class DefineWarehouse:
    warehouse_id: str
    name: str
    address: str = ""
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class DeactivateWarehouse:
    """Refused while any stock stream there holds stock. `holding`: those streams, looked up
    by the write path under the warehouse's lock (None until then)."""

    warehouse_id: str
    reason: str
    holding: tuple[str, ...] | None = None


CatalogCommand = DefineItem | DeactivateItem | ActivateItem | DefineWarehouse | DeactivateWarehouse
