"""The catalog's events. A *Changed event carries only the fields that changed (the others
are None and left out of its data: `events.to_data`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import ConfigDict

from ..codec import WIRE

ValuationMethod = Literal["fifo", "moving_average"]
# How an SKU's units are told apart: not at all, by lot (with an expiry date), or one by one.
Tracking = Literal["none", "lot", "serial"]


@dataclass(frozen=True, slots=True)
class ItemDefined:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ItemDefined"
    sku: str
    name: str
    description: str
    unit_of_measure: str
    valuation_method: ValuationMethod
    tracking: Tracking = "none"  # v2


@dataclass(frozen=True, slots=True)
class ItemChanged:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ItemChanged"
    sku: str
    name: str | None = None
    description: str | None = None
    unit_of_measure: str | None = None
    valuation_method: ValuationMethod | None = None
    tracking: Tracking | None = None  # v2


@dataclass(frozen=True, slots=True)
class ItemDeactivated:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ItemDeactivated"
    sku: str
    reason: str


@dataclass(frozen=True, slots=True)
class ItemActivated:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "ItemActivated"
    sku: str


@dataclass(frozen=True, slots=True)
class WarehouseDefined:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "WarehouseDefined"
    warehouse_id: str
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class WarehouseChanged:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "WarehouseChanged"
    warehouse_id: str
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class WarehouseDeactivated:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "WarehouseDeactivated"
    warehouse_id: str
    reason: str
