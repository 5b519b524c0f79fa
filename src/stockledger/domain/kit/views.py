"""What a kit's components' levels say about the kit."""

from __future__ import annotations

from collections.abc import Mapping

from ..stock.state import Levels
from .events import Component


def kit_available(components: tuple[Component, ...], levels: Mapping[str, Levels]) -> int:
    """How many whole kits the components' available units make: the minimum over components
    of floor(available / quantity) (a component without a level makes none)."""
    return min(
        (levels[x.sku].available if x.sku in levels else 0) // x.quantity for x in components
    )
