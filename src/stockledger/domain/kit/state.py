"""A kit's state, and `evolve`: a pure fold of its events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ..events import Event
from .events import Component, KitChanged, KitDefined


@dataclass(frozen=True, slots=True)
class KitState:
    """An SKU's kit definition. Never defined (version 0): the SKU is no kit."""

    sku: str
    version: int = 0
    components: tuple[Component, ...] = ()
    updated_at: datetime | None = None

    @property
    def is_kit(self) -> bool:
        return self.version > 0


def evolve_kit(state: KitState, event: Event, recorded_at: datetime) -> KitState:
    match event:
        case KitDefined() | KitChanged():
            state = replace(state, components=event.components)
    return replace(state, version=state.version + 1, updated_at=recorded_at)
