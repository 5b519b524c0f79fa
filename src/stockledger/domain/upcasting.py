"""One registry of upcasters: stored events of older schema versions read in the current shape.

Stored events are never rewritten (their hashes prove it). Every read path that interprets an
event's data (state loading and snapshots, history folds, time travel, the Kafka consumers,
replay, verify, reports) goes through `events.from_data(type, data, schemaVersion)`, which runs
the upcasters from the stored version up to the current one. An upcaster maps one version's
data to the next, purely, and may only fill in what the new version adds.

Version 1 -> 2 adds what a movement cost. A v1 event never recorded it, so the
upcaster fills it in as unknown (`null`): the valuation fold derives it by the same rules the
write path applies (`costing.apply`), from the stream's own cost layers. A v1 transfer's layers
at its destination are the one figure a stream cannot derive alone: the state loader resolves
them from the source stream (`store.snapshots.StateLoader`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _add(**fields: Any) -> Upcaster:
    def upcaster(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, **{k: v for k, v in fields.items() if k not in data}}

    return upcaster


def _shipped_v1(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "lines": [{"cost": None, **line} for line in data["lines"]]}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("StockReceived", 1): _add(valuationMethod=None),
    ("StockShipped", 1): _shipped_v1,
    ("StockReturned", 1): _add(cost=None),
    ("TransferDispatched", 1): _add(cost=None, layers=None),
    ("TransferReceived", 1): _add(cost=None, lostCost=None),
    ("StockAdjusted", 1): _add(cost=None, unitCost=None),
}


# What each step adds (a dotted path names a field inside a list's items): the older version's
# JSON Schema is the newer one without them (api/contract.py).
ADDED: dict[tuple[str, int], tuple[str, ...]] = {
    ("StockReceived", 1): ("valuationMethod",),
    ("StockShipped", 1): ("lines.cost",),
    ("StockReturned", 1): ("cost",),
    ("TransferDispatched", 1): ("cost", "layers"),
    ("TransferReceived", 1): ("cost", "lostCost"),
    ("StockAdjusted", 1): ("cost", "unitCost"),
}


def upcast(type_name: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """`data` of `type_name` written in `schema_version`, in the newest shape the registry
    knows (unchanged when no upcaster starts at that version)."""
    while (step := UPCASTERS.get((type_name, schema_version))) is not None:
        data = step(data)
        schema_version += 1
    return data


def upcasts_to(type_name: str, schema_version: int) -> int:
    """The version `upcast` brings data of `type_name` written in `schema_version` to."""
    while (type_name, schema_version) in UPCASTERS:
        schema_version += 1
    return schema_version


def as_written_in(type_name: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Current `data` of `type_name` as an event of the older `schema_version` held it: without
    what the later versions added (ADDED). How a ledger from before an evolution is recreated
    (`stockledger seed --schema-v1`, the upcasting tests)."""
    for version in range(upcasts_to(type_name, schema_version) - 1, schema_version - 1, -1):
        for path in ADDED.get((type_name, version), ()):
            head, _, inner = path.partition(".")
            if inner:
                items = [{k: v for k, v in x.items() if k != inner} for x in data[head]]
                data = {**data, head: items}
            else:
                data = {k: v for k, v in data.items() if k != head}
    return data
