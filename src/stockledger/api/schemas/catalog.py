"""The catalog's bodies and answers: items and warehouses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from ...domain.catalog.events import Tracking, ValuationMethod
from .ledger import EventOut
from .wire import Body, Out, Text

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Optional = Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")]


class ItemIn(Body):
    name: Name
    description: Optional = ""
    unit_of_measure: Annotated[
        str, StringConstraints(min_length=1, max_length=32, pattern=r"^[^\x00]+$")
    ] = "each"
    valuation_method: ValuationMethod = "fifo"
    tracking: Tracking = Field(
        default="none",
        description="none; lot (lots with expiry dates, FEFO); serial (one serial number per "
        "unit). Locked once the SKU has stock events (409 tracking-locked)",
    )


class WarehouseIn(Body):
    name: Name
    address: Optional = ""


class DeactivateIn(Body):
    reason: Text


class ActivateIn(Body):
    pass


class ItemOut(Out):
    sku: str
    name: str
    description: str
    unit_of_measure: str
    valuation_method: ValuationMethod
    tracking: Tracking
    active: bool
    version: int
    updated_at: datetime | None


class WarehouseOut(Out):
    warehouse_id: str
    name: str
    address: str
    active: bool
    version: int
    updated_at: datetime | None


class ItemCommandOut(ItemOut):
    events: list[EventOut]


class WarehouseCommandOut(WarehouseOut):
    events: list[EventOut]


class ItemsOut(Out):
    items: list[ItemOut]
    next: str | None = Field(description="`after` for the next page; null on the last")


class WarehousesOut(Out):
    warehouses: list[WarehouseOut]
    next: str | None = Field(description="`after` for the next page; null on the last")
