"""Kits' bodies and answers: a definition, and what a kit makes in one warehouse."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .ledger import EventOut, StockOut
from .wire import Body, Id, Out, Quantity


class ComponentIn(Body):
    sku: Id
    quantity: Quantity


class KitIn(Body):
    components: Annotated[
        list[ComponentIn],
        Field(
            min_length=1,
            max_length=50,
            description="each SKU once; none a kit, nor the kit itself (422)",
        ),
    ]


class ComponentOut(Out):
    sku: str
    quantity: int = Field(description="units of the component in one kit")


class KitOut(Out):
    sku: str
    components: list[ComponentOut]
    version: int
    updated_at: datetime | None


class KitCommandOut(KitOut):
    events: list[EventOut]


class KitComponentStockOut(StockOut):
    per_kit: int = Field(description="units of the component in one kit")
    updated_at: datetime | None = Field(  # type: ignore[assignment]
        description="null for a component never stocked in this warehouse (version 0)"
    )


class KitStockOut(Out):
    sku: str
    warehouse_id: str
    kit: Literal[True]
    available: int = Field(
        description="whole kits: the minimum over components of floor(available / perKit)"
    )
    components: list[KitComponentStockOut] = Field(
        description="each component's level (one never stocked there: zeros, version 0)"
    )
