"""Stream identities. Ids match `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, so `:` separates safely."""

from __future__ import annotations

import re
from typing import Final

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ID = re.compile(ID_PATTERN)


def is_valid_id(value: str) -> bool:
    return bool(_ID.match(value))


def stock_stream(sku: str, warehouse_id: str) -> str:
    return f"stock:{sku}:{warehouse_id}"


def reservation_stream(reservation_id: str) -> str:
    return f"reservation:{reservation_id}"


def transfer_stream(transfer_id: str) -> str:
    return f"transfer:{transfer_id}"


def item_stream(sku: str) -> str:
    return f"item:{sku}"


def warehouse_stream(warehouse_id: str) -> str:
    return f"warehouse:{warehouse_id}"


def reorder_stream(sku: str, warehouse_id: str) -> str:
    return f"reorder:{sku}:{warehouse_id}"


def po_stream(purchase_order_id: str) -> str:
    return f"po:{purchase_order_id}"


def like_prefix(prefix: str) -> str:
    """The SQL LIKE pattern of every stream id that starts with `prefix` (ids hold no `%`;
    their `_` is escaped)."""
    return prefix.replace("_", "\\_") + "%"


def category(stream_id: str) -> str:
    return stream_id.split(":", 1)[0]


def _pair(stream_id: str, expected: str) -> tuple[str, str]:
    kind, sku, warehouse_id = stream_id.split(":")
    if kind != expected:
        raise ValueError(f"{stream_id} is not a {expected} stream")
    return sku, warehouse_id


def parse_stock_stream(stream_id: str) -> tuple[str, str]:
    """`stock:SKU:WH` -> (SKU, WH)."""
    return _pair(stream_id, "stock")


def parse_reorder_stream(stream_id: str) -> tuple[str, str]:
    """`reorder:SKU:WH` -> (SKU, WH)."""
    return _pair(stream_id, "reorder")


def kit_stream(sku: str) -> str:
    return f"kit:{sku}"
