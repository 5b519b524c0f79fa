"""A kit's events, on its stream `kit:{sku}`, and the kit line a reservation records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import ConfigDict

from ..codec import WIRE


@dataclass(frozen=True, slots=True)
class Component:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    sku: str
    quantity: int  # units of `sku` in one kit


@dataclass(frozen=True, slots=True)
class KitDefined:
    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "KitDefined"
    sku: str
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class KitChanged:
    """The kit's whole new list of components (reservations made before keep theirs)."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    TYPE: ClassVar[str] = "KitChanged"
    sku: str
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class KitLine:
    """A reservation line that named a kit, with the components it was reserved as."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    sku: str
    warehouse_id: str
    quantity: int
    components: tuple[Component, ...]
