"""What a kit can be asked: be defined, or changed (PUT of its whole list of components)."""

from __future__ import annotations

from dataclasses import dataclass

from .events import Component


@dataclass(frozen=True, slots=True)
class DefineKit:
    sku: str
    components: tuple[Component, ...]
    # Looked up by the write path under the kit's lock (None until then): the kits that have
    # this SKU among their components (it cannot become a kit itself), and whether any stock
    # stream of the SKU has events (a kit holds no stock).
    used_in: tuple[str, ...] | None = None
    stocked: bool | None = None


KitCommand = DefineKit
