"""One registry of upcasters: stored events of older schema versions read in the current shape.

Stored events are never rewritten (their hashes prove it). Every read path that interprets an
event's data (state loading and snapshots, history folds, time travel, the Kafka consumers,
replay, verify, reports) goes through `events.from_data(type, data, schemaVersion)`, which runs
the upcasters from the stored version up to the current one. An upcaster maps one version's
data to the next, purely, and may only fill in what the new version adds.

Version 2 -> 3 of a receipt adds what it did to its purchase order's line, whether it went
into quality control and, for tracked items, its lot or serials: an older receipt did none of
that (`null`).

Version 1 -> 2 adds what a movement cost. A v1 event never recorded it, so the upcaster fills
it in as unknown (`null`): the valuation fold derives it by the same rules the write path
applies (`costing.apply`), from the stream's own cost layers. Two figures a stream cannot derive
alone are left to its context (the end of this module): a v1 receipt's valuation method, and a
v1 transfer's layers at its destination.

A reservation's version 1 -> 2 adds the lines that named a kit and the lots each line took: a
v1 reservation named no kit and took no lot (one upcaster does both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from .codec import encode_all
from .streams import stock_stream
from .valuation import Layer

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _add(**fields: Any) -> Upcaster:
    def upcaster(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, **{k: v for k, v in fields.items() if k not in data}}

    return upcaster


def _lines(**fields: Any) -> Upcaster:
    def upcaster(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "lines": [{**fields, **line} for line in data["lines"]]}

    return upcaster


def _both(first: Upcaster, then: Upcaster) -> Upcaster:
    def upcaster(data: dict[str, Any]) -> dict[str, Any]:
        return then(first(data))

    return upcaster


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("StockReceived", 1): _add(valuationMethod=None),
    ("StockShipped", 1): _lines(cost=None),
    ("StockReturned", 1): _add(cost=None),
    ("TransferDispatched", 1): _add(cost=None, layers=None),
    ("TransferReceived", 1): _add(cost=None, lostCost=None),
    ("StockAdjusted", 1): _add(cost=None, unitCost=None),
    # Tracked stock. An item defined before tracking existed tracks nothing; a change said
    # nothing about it (a sparse event: what is absent did not change).
    ("ItemDefined", 1): _add(tracking="none"),
    ("ItemChanged", 1): _add(),
    # A receipt from before v3 took nothing off a purchase order, skipped quality control and
    # named no lot and no serial (the item was not tracked).
    ("StockReceived", 2): _add(
        expected=None,
        overReceived=None,
        inspect=None,
        lotId=None,
        expiresOn=None,
        serials=None,
    ),
    # A v1 reservation named no kit, and its lines took no lots.
    ("StockReserved", 1): _both(_add(kits=[]), _lines(lots=None)),
    ("StockShipped", 2): _lines(lots=None, serials=None),
    ("StockReturned", 2): _add(lotId=None, serials=None),
    ("StockAdjusted", 2): _add(lotId=None, serials=None),
    ("StockCounted", 1): _add(lotId=None, serials=None),
    ("TransferDispatched", 2): _add(lots=None, serials=None),
    ("TransferReceived", 2): _add(lots=None, serials=None, lostSerials=None),
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
    ("ItemDefined", 1): ("tracking",),
    ("ItemChanged", 1): ("tracking",),
    ("StockReceived", 2): ("expected", "overReceived", "inspect", "lotId", "expiresOn", "serials"),
    ("StockReserved", 1): ("kits", "lines.lots"),
    ("StockShipped", 2): ("lines.lots", "lines.serials"),
    ("StockReturned", 2): ("lotId", "serials"),
    ("StockAdjusted", 2): ("lotId", "serials"),
    ("StockCounted", 1): ("lotId", "serials"),
    ("TransferDispatched", 2): ("lots", "serials"),
    ("TransferReceived", 2): ("lots", "serials", "lostSerials"),
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


# -- what a v1 event leaves to its stream's context -----------------------------------------
# Every fold that reads v1 events (the state loader, migrate's derivation, verify) recognises
# them, and completes them from the rows the store passes, by these rules alone.


def unvalued_receipt(type_name: str, data: Mapping[str, Any]) -> bool:
    """A v1 receipt: the method its stream values by (its item's then) is not on it."""
    return type_name == "StockReceived" and "valuationMethod" not in data


def method_changes(
    item_events: Iterable[tuple[datetime, Mapping[str, Any]]],
) -> list[tuple[datetime, str | None]]:
    """An item stream's (recordedAt, data) in order, as the (recordedAt, valuationMethod) of
    each event (None: it did not say), which `costing.method_at` reads."""
    return [(at, data.get("valuationMethod")) for at, data in item_events]


def valued(data: Mapping[str, Any], method: str) -> dict[str, Any]:
    """A v1 receipt's data with the valuation method it was valued by, as a v2 one holds it."""
    return {**data, "valuationMethod": method}


def unresolved_arrival(stream_id: str, type_name: str, data: Mapping[str, Any]) -> bool:
    """A v1 transfer on its destination's stream: the layers it carries (the ones its
    source's dispatch took) are not on it."""
    return (
        type_name == "TransferDispatched"
        and "layers" not in data
        and stream_id == stock_stream(data["sku"], data["toWarehouseId"])
    )


def dispatch_of(data: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Where an unresolved arrival's layers come from: the (stream, type, data it contains) of
    its dispatch on the source's stream."""
    source = stock_stream(data["sku"], data["fromWarehouseId"])
    return source, "TransferDispatched", {"transferId": data["transferId"]}


def resolved(data: Mapping[str, Any], layers: tuple[Layer, ...] | None) -> dict[str, Any]:
    """An unresolved arrival's data with the layers it carried, as a v2 event holds them."""
    return {**data, "layers": wire_layers(layers)}


def wire_layers(layers: tuple[Layer, ...] | None) -> list[Any]:
    """Cost layers as an event's data holds them."""
    return encode_all(layers or ())
