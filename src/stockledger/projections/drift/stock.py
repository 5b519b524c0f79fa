"""The stock streams' fold: each projection row against the stream folded to the row's version,
the stored per-event deltas and recorded costs against the domain's, the levels' laws at every
version, and the value layers against the stored value deltas, v1 events resolved as the
state loader resolves them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...domain.costing import EMPTY as EMPTY_VALUE
from ...domain.costing import StockValue, method_at, recorded_figures
from ...domain.costing import apply as apply_cost
from ...domain.events import Event, from_data
from ...domain.stock.events import StockAdjusted, StockReceived, StockReturned, StockShipped
from ...domain.stock.lots import LotBook, step_lots, touches_lots
from ...domain.stock.serials import SerialBook, step_serials, touches_serials
from ...domain.stock.state import Levels, StockState, delta
from ...domain.streams import parse_stock_stream, stock_stream
from ...domain.transfer.events import TransferReceived
from ...domain.upcasting import unresolved_arrival, unvalued_receipt, wire_layers
from .report import DriftReport


def business_change(stream_id: str, event: Event) -> int:
    """How an event may move its SKU's Σ(onHand + inTransit + damaged), from the business rules
    alone (written independently of `delta`)."""
    sku, warehouse = parse_stock_stream(stream_id)
    match event:
        case StockReceived(quantity=q) | StockAdjusted(quantity_change=q):
            return q
        case StockReturned(quantity=q, condition=condition):
            return 0 if condition == "dispose" else q
        case StockShipped(lines=lines):
            return -sum(x.quantity for x in lines if (x.sku, x.warehouse_id) == (sku, warehouse))
        case TransferReceived(lost_quantity=lost):
            return -lost
    return 0


class StockFold:
    """Folds one stock stream at a time and compares the projections at their versions."""

    def __init__(
        self, report: DriftReport, wanted: dict[str, dict[str, tuple[Levels, int]]]
    ) -> None:
        self.report = report
        self.wanted = wanted  # projection -> stream -> (levels, version)
        self.totals: Counter[str] = Counter()  # sku -> Σ(onHand + inTransit + damaged)
        self.expected: Counter[str] = Counter()  # sku -> what business events account for
        self.reserved: dict[str, int] = {}  # stream -> reserved at its last version
        self.incoming: dict[str, int] = {}  # stream -> incoming at its last version
        # stream -> Σ (onHand, value, inTransitValue, damagedValue) of its stock_values rows
        self.stored_values: dict[str, tuple[Any, ...]] = {}
        # sku -> its item's (recordedAt, valuationMethod) definitions: item streams are folded
        # before stock streams (stream id order), and a v1 receipt values by them
        self.methods: dict[str, list[tuple[Any, str | None]]] = {}
        # A v1 transfer's layers at its destination are the ones its source's dispatch took.
        # transfer id -> those layers (wire form), from the source streams folded so far
        self.carried: dict[str, Any] = {}
        # stock streams with a v1 transfer in whose source is not folded yet: their rows,
        # folded once every stream has been read (`finish`)
        self.deferred: dict[str, list[Any]] = {}
        # (sku, serial) -> the stock stream holding it (in stock, in transit to it, damaged)
        self.serial_places: dict[tuple[str, str], str] = {}

    def item(self, stream_id: str, rows: list[Any]) -> None:
        """Remember an item's valuation methods (a v1 receipt is valued by its item's then)."""
        self.methods[stream_id.removeprefix("item:")] = [
            (r["recorded_at"], r["data"].get("valuationMethod")) for r in rows
        ]

    def stock(self, stream_id: str, rows: list[Any]) -> None:
        """Fold a stock stream and check it, or keep it for `finish` while a v1 transfer into
        it waits for its source's layers."""
        waits = any(
            unresolved_arrival(stream_id, row["type"], row["data"])
            and row["data"]["transferId"] not in self.carried
            for row in rows
        )
        if waits:
            self.deferred[stream_id] = rows
        else:
            self._stock(stream_id, rows)

    def finish(self) -> None:
        """Fold the deferred streams: every source is known now (a source that waits itself
        is folded as far as each transfer needs, `_layers_of`)."""
        for stream_id in sorted(self.deferred):
            self._stock(stream_id, self.deferred[stream_id])
        self.deferred.clear()

    def _data(self, stream_id: str, row: Any) -> dict[str, Any]:
        """The row's data with what a v1 event left to its stream's context: a receipt's
        valuation method (its item's then), an arrival's layers (its source's dispatch's)."""
        data: dict[str, Any] = row["data"]
        if unvalued_receipt(row["type"], data):
            sku = stream_id.split(":")[1]
            data = {
                **data,
                "valuationMethod": method_at(self.methods.get(sku, ()), row["recorded_at"]),
            }
        elif unresolved_arrival(stream_id, row["type"], data):
            data = {**data, "layers": self._layers_of(data)}
        return data

    def _layers_of(self, dispatch: dict[str, Any]) -> Any:
        """The layers a transfer's dispatch took from its source: folded already, or found by
        folding the (deferred) source up to that dispatch. Transfers into the source before it
        come first in the ledger, so the recursion ends."""
        transfer_id = dispatch["transferId"]
        if transfer_id not in self.carried:
            source = stock_stream(dispatch["sku"], dispatch["fromWarehouseId"])
            sku, warehouse_id = parse_stock_stream(source)
            value = EMPTY_VALUE
            for row in self.deferred.get(source, ()):
                event = from_data(row["type"], self._data(source, row), row["schema_version"])
                value, move = apply_cost(value, sku, warehouse_id, event, row["recorded_at"])
                self._carry(source, row, move)
                if transfer_id in self.carried:
                    break
        return self.carried.get(transfer_id, [])  # [] only for a source the ledger lacks

    def _carry(self, stream_id: str, row: Any, move: Any) -> None:
        """Remember the layers a source stream's v1 dispatch took."""
        data = row["data"]
        if (
            row["type"] == "TransferDispatched"
            and row["schema_version"] == 1  # a v2 destination's copy holds its layers
            and move.layers is not None
            and stream_id == stock_stream(data["sku"], data["fromWarehouseId"])
        ):
            self.carried[data["transferId"]] = wire_layers(move.layers)

    def _stock(self, stream_id: str, rows: list[Any]) -> None:
        sku, warehouse_id = parse_stock_stream(stream_id)
        identity = StockState(sku, warehouse_id)
        levels = Levels()
        at: dict[int, Levels] = {}
        versions = {
            p: rows_[stream_id][1] for p, rows_ in self.wanted.items() if stream_id in rows_
        }
        value = EMPTY_VALUE
        lots: LotBook | None = None
        serials: SerialBook | None = None
        for row in rows:
            event = from_data(row["type"], self._data(stream_id, row), row["schema_version"])
            value, move = apply_cost(value, sku, warehouse_id, event, row["recorded_at"])
            self._carry(stream_id, row, move)
            for name, figure in recorded_figures(event, sku, warehouse_id).items():
                rule = move.cost if name == "cost" else move.lost
                if figure != rule:
                    self.report.add(
                        "recorded cost",
                        f"{stream_id}@{row['version']}",
                        f"the event records {name} {figure}, the rules give {rule}",
                    )
            change = delta(identity, event)
            stored = Levels(
                row["d_on_hand"],
                row["d_reserved"],
                row["d_in_transit"],
                row["d_damaged"],
                row["d_incoming"],
                row["d_quality_control"],
                row["d_expired"],
            )
            if stored != change:
                self.report.add(
                    "stored delta",
                    f"{stream_id}@{row['version']}",
                    f"stored {stored}, domain says {change}",
                )
            levels = levels + change
            if not levels.is_valid():
                self.report.add("invariant", f"{stream_id}@{row['version']}", f"{levels}")
            if (lots is not None and lots.holds) or touches_lots(event):
                lots = step_lots(lots or LotBook(), sku, warehouse_id, event, row["recorded_at"])
            if touches_serials(event):
                serials = step_serials(serials or SerialBook(), warehouse_id, event)
            if lots is not None or serials is not None:
                self._check_units(f"{stream_id}@{row['version']}", levels, lots, serials)
            self.expected[sku] += business_change(stream_id, event)
            if row["version"] in versions.values():
                at[row["version"]] = levels
        self.totals[sku] += levels.on_hand + levels.in_transit + levels.damaged + levels.expired
        for serial in serials.held() if serials else ():
            if (other := self.serial_places.get((sku, serial))) is not None:
                self.report.add("serials", stream_id, f"serial {serial} is also held by {other}")
            self.serial_places[(sku, serial)] = stream_id
        self.reserved[stream_id] = levels.reserved
        self.incoming[stream_id] = levels.incoming
        self._check_value(stream_id, levels, value)
        latest = rows[-1]["version"] if rows else 0
        for projection, version in versions.items():
            self._compare(projection, stream_id, at.get(version), version, latest)
        for projection in self.wanted.keys() - versions.keys():
            self.report.missing[projection] += 1  # not projected yet (or lost): counted

    def _check_units(
        self, where: str, levels: Levels, lots: LotBook | None, serials: SerialBook | None
    ) -> None:
        """A tracked stream's lots sum to its onHand, reserved and expired; its serials count
        its onHand, inTransit and damaged (at every version)."""
        if lots is not None:
            summed = (
                sum(x.on_hand for x in lots.lots),
                sum(x.reserved for x in lots.lots),
                sum(x.expired for x in lots.lots),
            )
            if summed != (levels.on_hand, levels.reserved, levels.expired):
                self.report.add("lots", where, f"lots sum to {summed}, the stream holds {levels}")
        if serials is not None:
            counted = (len(serials.in_stock), len(serials.in_transit), len(serials.damaged))
            if counted != (levels.on_hand, levels.in_transit, levels.damaged):
                self.report.add("serials", where, f"{counted} serials, the stream holds {levels}")

    def _check_value(self, stream_id: str, levels: Levels, value: StockValue) -> None:
        """Σ layers = onHand (and expired: a lot past its date keeps its cost until written
        off), no negative layer, and the stream's stock_values rows add up to the value its
        events fold to."""
        on_hand = value.on_hand
        if on_hand.quantity != levels.on_hand + levels.expired:
            self.report.add(
                "value layers",
                stream_id,
                f"{on_hand.quantity} valued units, onHand {levels.on_hand}",
            )
        if on_hand.value < 0 or any(x.quantity <= 0 or x.value < 0 for x in on_hand.layers):
            self.report.add("value layers", stream_id, f"a negative layer or value: {on_hand}")
        stored = self.stored_values.get(stream_id, (0, 0, 0, 0))
        folded = (
            levels.on_hand + levels.expired,
            on_hand.value,
            value.in_transit_value,
            value.damaged,
        )
        if tuple(x or 0 for x in stored) != folded:
            self.report.add(
                "stock values",
                stream_id,
                f"stock_values sum to {stored}, the events fold to {folded}",
            )

    def _compare(
        self, projection: str, stream_id: str, folded: Levels | None, version: int, latest: int
    ) -> None:
        held = self.wanted[projection].pop(stream_id)[0]
        if version > latest or folded is None:
            self.report.add(
                f"{projection} row", stream_id, f"at version {version}, the store has {latest}"
            )
        elif held != folded:
            self.report.add(
                f"{projection} drift",
                f"{stream_id}@{version}",
                f"holds {held}, the store folds to {folded}",
            )
        else:
            self.report.compared[projection] += 1
            if version < latest:
                self.report.lagging[projection] += 1
