"""Drift (`stockledger verify`): every projection row against a fold of the event store, plus
the ledger's own laws.

Checks: each Postgres and Redis row equals the fold of its stream *at the row's version* (a row
behind the store is lagging, reported but not drift); each stored per-event delta equals the
domain's; 0 <= reserved <= onHand, inTransit >= 0, damaged >= 0 at every version; per SKU,
Σ(onHand + inTransit + damaged) equals receipts + returns to stock - shipments + adjustments -
transit losses; reserved equals the sum of active reservation lines; no stream is parked; the
append-only trigger is enabled and the application role cannot UPDATE or DELETE events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from ..domain.aggregates import State, evolve, initial_state
from ..domain.costing import EMPTY as EMPTY_VALUE
from ..domain.costing import StockValue, method_at, recorded_figures
from ..domain.costing import apply as apply_cost
from ..domain.events import (
    Event,
    from_data,
)
from ..domain.reorder.alerts import Alert, fold_reorder
from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState, evolve_reservation
from ..domain.stock.events import StockAdjusted, StockReceived, StockReturned, StockShipped
from ..domain.stock.state import Levels, StockState, delta
from ..domain.streams import parse_stock_stream, stock_stream
from ..domain.transfer.events import TransferReceived
from ..domain.upcasting import unresolved_arrival, unvalued_receipt, wire_layers
from .redis_stock import RedisStock
from .rows import alert_from_row, catalog_from_row, no_reorder, reorder_from_row

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    subject: str
    detail: str


@dataclass
class DriftReport:
    """What `find_drift` folded and compared, and every finding (drift or a broken law)."""

    events: int = 0
    streams: int = 0
    compared: Counter[str] = field(default_factory=Counter)
    lagging: Counter[str] = field(default_factory=Counter)
    missing: Counter[str] = field(default_factory=Counter)  # streams with no row (yet)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No drift: every row that exists equals the store (missing rows are not drift)."""
        return not self.findings

    @property
    def complete(self) -> bool:
        """Every stock stream of the store has a row in every projection."""
        return not +self.missing

    def add(self, check: str, subject: str, detail: str) -> None:
        self.findings.append(Finding(check, subject, detail))


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


async def _redis_rows(redis: RedisStock | None) -> dict[str, tuple[Levels, int]]:
    if redis is None:
        return {}
    rows: dict[str, tuple[Levels, int]] = {}
    prefix = redis.prefix
    async for key in redis.client.scan_iter(match=f"{prefix}stock:*", count=2000):
        name = key.decode() if isinstance(key, bytes) else key
        sku, warehouse_id = parse_stock_stream(name.removeprefix(prefix))
        found = await redis.level(sku, warehouse_id)
        if found is not None:
            rows[name.removeprefix(prefix)] = (found.level.levels, found.level.version)
    return rows


class _Fold:
    """Folds one stream at a time and compares the projections at their versions."""

    def __init__(
        self, report: DriftReport, wanted: dict[str, dict[str, tuple[Levels, int]]]
    ) -> None:
        self.report = report
        self.wanted = wanted  # projection -> stream -> (levels, version)
        self.totals: Counter[str] = Counter()
        self.expected: Counter[str] = Counter()
        self.reserved: dict[str, int] = {}
        self.open_lines: Counter[str] = Counter()
        self.reservations: dict[str, ReservationState] = {}
        self.reorders: dict[str, tuple[list[ReorderState], dict[str, Alert]]] = {}
        self.catalog: dict[str, list[State]] = {}
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
                row["d_on_hand"], row["d_reserved"], row["d_in_transit"], row["d_damaged"]
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
            self.expected[sku] += business_change(stream_id, event)
            if row["version"] in versions.values():
                at[row["version"]] = levels
        self.totals[sku] += levels.on_hand + levels.in_transit + levels.damaged
        self.reserved[stream_id] = levels.reserved
        self._check_value(stream_id, levels, value)
        latest = rows[-1]["version"] if rows else 0
        for projection, version in versions.items():
            self._compare(projection, stream_id, at.get(version), version, latest)
        for projection in self.wanted.keys() - versions.keys():
            self.report.missing[projection] += 1  # not projected yet (or lost): counted

    def _check_value(self, stream_id: str, levels: Levels, value: StockValue) -> None:
        """Σ layers = onHand, no negative layer, and the stream's stock_values rows add up to
        the value its events fold to."""
        on_hand = value.on_hand
        if on_hand.quantity != levels.on_hand:
            self.report.add(
                "value layers",
                stream_id,
                f"{on_hand.quantity} valued units, onHand {levels.on_hand}",
            )
        if on_hand.value < 0 or any(x.quantity <= 0 or x.value < 0 for x in on_hand.layers):
            self.report.add("value layers", stream_id, f"a negative layer or value: {on_hand}")
        stored = self.stored_values.get(stream_id, (0, 0, 0, 0))
        folded = (levels.on_hand, on_hand.value, value.in_transit_value, value.damaged)
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

    def reservation(self, stream_id: str, rows: list[Any]) -> None:
        state = ReservationState(stream_id.split(":", 1)[1])
        for row in rows:
            state = evolve_reservation(
                state,
                from_data(row["type"], row["data"], row["schema_version"]),
                row["recorded_at"],
            )
        self.reservations[state.reservation_id] = state
        if state.is_open:
            for line in state.lines:
                self.open_lines[f"stock:{line.sku}:{line.warehouse_id}"] += line.quantity

    def reorder(self, stream_id: str, rows: list[Any]) -> None:
        """The stream's state after each version (rows compare at theirs) and its alerts."""
        state, states = no_reorder(stream_id), []
        alerts: dict[str, Alert] = {}
        for row in rows:
            step = (
                from_data(row["type"], row["data"], row["schema_version"]),
                row["version"],
                row["recorded_at"],
            )
            state, touched = fold_reorder(state, alerts.get(state.alert_id or ""), [step])
            alerts.update(touched)
            states.append(state)
        self.reorders[stream_id] = (states, alerts)

    def catalog_entry(self, stream_id: str, rows: list[Any]) -> None:
        """An item's or warehouse's state after each version (and an item's valuation methods)."""
        state, states = initial_state(stream_id), []
        if stream_id.startswith("item:"):
            self.methods[stream_id.removeprefix("item:")] = [
                (r["recorded_at"], r["data"].get("valuationMethod")) for r in rows
            ]
        for row in rows:
            state = evolve(
                state,
                from_data(row["type"], row["data"], row["schema_version"]),
                row["recorded_at"],
            )
            states.append(state)
        self.catalog[stream_id] = states


def _check_catalog(report: DriftReport, fold: _Fold, views: dict[str, Any]) -> None:
    """Each catalog_views row equals its stream's fold at the row's version."""
    for stream_id, states in fold.catalog.items():
        view = views.pop(stream_id, None)
        if view is None:
            report.missing["catalog"] += 1
            continue
        held = catalog_from_row(view, stream_id)
        if not 0 < held.version <= len(states):
            report.add("catalog row", stream_id, f"at version {held.version}, the store has "
                       f"{len(states)}")  # fmt: skip
        elif (
            held != (folded := states[held.version - 1])
            or view["active"] != held.active
            or view["version"] != held.version
        ):
            report.add("catalog drift", f"{stream_id}@{held.version}",
                       f"holds {held}, the store folds to {folded}")  # fmt: skip
        else:
            report.compared["catalog"] += 1
            if held.version < len(states):
                report.lagging["catalog"] += 1
    for stream_id in views:
        report.add("catalog row", stream_id, "no such stream in the store")


def _check_reorders(
    report: DriftReport, fold: _Fold, views: dict[str, Any], alert_rows: list[Any]
) -> None:
    """Each reorder row equals the fold at its version; at the stream's last version, its
    alert rows are exactly the folded alerts."""
    by_stream: dict[str, dict[str, Alert]] = {}
    for row in alert_rows:
        by_stream.setdefault(row["stream_id"], {})[row["alert_id"]] = alert_from_row(row)
    for stream_id, (states, alerts) in fold.reorders.items():
        view = views.pop(stream_id, None)
        if view is None:
            report.missing["alerts"] += 1
            continue
        held = reorder_from_row(view)
        if not 0 < held.version <= len(states):
            report.add("alerts row", stream_id, f"at version {held.version}, the store has "
                       f"{len(states)}")  # fmt: skip
            continue
        folded = states[held.version - 1]
        if held != folded:
            report.add("alerts drift", f"{stream_id}@{held.version}",
                       f"holds {held}, the store folds to {folded}")  # fmt: skip
        elif held.version < len(states):
            report.compared["alerts"] += 1
            report.lagging["alerts"] += 1
        elif (rows := by_stream.get(stream_id, {})) != alerts:
            report.add("alerts drift", stream_id, f"rows {rows}, the store folds to {alerts}")
        else:
            report.compared["alerts"] += 1
    for stream_id in views:
        report.add("alerts row", stream_id, "no such stream in the store")
    for stream_id in by_stream.keys() - fold.reorders.keys():
        report.add("alerts row", stream_id, "alerts of a stream the store does not hold")


async def find_drift(
    pool: asyncpg.Pool[Any], redis: RedisStock | None, progress: Progress
) -> DriftReport:
    report = DriftReport()
    redis_rows = await _redis_rows(redis)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        postgres_rows = {
            r["stream_id"]: (
                Levels(r["on_hand"], r["reserved"], r["in_transit"], r["damaged"]),
                r["version"],
            )
            for r in await conn.fetch("SELECT * FROM stock_levels")
        }
        views = {
            r["reservation_id"]: r for r in await conn.fetch("SELECT * FROM reservation_views")
        }
        reorder_views = {r["stream_id"]: r for r in await conn.fetch("SELECT * FROM reorder_views")}
        alert_rows = await conn.fetch("SELECT * FROM alerts")
        catalog_views = {r["stream_id"]: r for r in await conn.fetch("SELECT * FROM catalog_views")}
        wanted = {"postgres": postgres_rows}
        if redis is not None:
            wanted["redis"] = redis_rows
        fold = _Fold(report, wanted)
        fold.stored_values = {
            r["stream_id"]: tuple(r.values())[1:]
            for r in await conn.fetch(
                "SELECT stream_id, sum(d_on_hand)::bigint, sum(d_value), sum(d_in_transit_value),"
                " sum(d_damaged_value) FROM stock_values GROUP BY stream_id"
            )
        }
        await _fold_all(conn, fold, report, progress)
        fold.finish()
        _check_reservations(report, fold, views)
        _check_reorders(report, fold, reorder_views, alert_rows)
        _check_catalog(report, fold, catalog_views)
        for projection, left in wanted.items():
            for stream_id in left:
                report.add(f"{projection} row", stream_id, "no such stream in the store")
        for sku in set(fold.totals) | set(fold.expected):
            if fold.totals[sku] != fold.expected[sku]:
                report.add(
                    "conservation",
                    sku,
                    f"Σ stock {fold.totals[sku]}, business events account for {fold.expected[sku]}",
                )
        for stream_id, reserved in fold.reserved.items():
            if reserved != fold.open_lines[stream_id]:
                report.add(
                    "reserved",
                    stream_id,
                    f"reserved {reserved}, active reservations hold {fold.open_lines[stream_id]}",
                )
        for row in await conn.fetch("SELECT * FROM parked_streams"):
            report.add("parked", row["stream_id"], f"{row['projection']}: {row['error']}")
        await _check_append_only(conn, report)
    return report


async def _fold_all(conn: Any, fold: _Fold, report: DriftReport, progress: Progress) -> None:
    current: str = ""
    rows: list[Any] = []
    async for row in conn.cursor(
        "SELECT stream_id, version, type, schema_version, data, recorded_at, d_on_hand, "
        "d_reserved, d_in_transit, d_damaged FROM events ORDER BY stream_id, version",
        prefetch=5000,
    ):
        if row["stream_id"] != current:
            _close(fold, current, rows, report)
            current, rows = row["stream_id"], []
        rows.append(row)
        report.events += 1
        if report.events % 5000 == 0:
            progress(5000)
    _close(fold, current, rows, report)
    progress(report.events % 5000)


def _close(fold: _Fold, stream_id: str, rows: list[Any], report: DriftReport) -> None:
    if not rows:
        return
    report.streams += 1
    versions = [r["version"] for r in rows]
    if versions != list(range(1, len(rows) + 1)):
        report.add("versions", stream_id, "versions are not 1..n without gaps")
    if stream_id.startswith("stock:"):
        fold.stock(stream_id, rows)
    elif stream_id.startswith("reservation:"):
        fold.reservation(stream_id, rows)
    elif stream_id.startswith("reorder:"):
        fold.reorder(stream_id, rows)
    elif stream_id.startswith(("item:", "warehouse:")):
        fold.catalog_entry(stream_id, rows)


def _check_reservations(report: DriftReport, fold: _Fold, views: dict[str, Any]) -> None:
    for reservation_id, view in views.items():
        state = fold.reservations.get(reservation_id)
        if state is None or view["version"] > state.version:
            report.add("reservations row", reservation_id, "ahead of or missing from the store")
        elif view["version"] == state.version and view["status"] != state.status.value:
            report.add(
                "reservations drift",
                reservation_id,
                f"status {view['status']}, the store folds to {state.status.value}",
            )
        else:
            report.compared["reservations"] += 1
            if view["version"] < state.version:
                report.lagging["reservations"] += 1


async def _check_append_only(conn: Any, report: DriftReport) -> None:
    enabled = await conn.fetchval(
        "SELECT bool_and(tgenabled = 'O') AND count(*) = 2 FROM pg_trigger "
        "WHERE tgrelid = 'events'::regclass AND tgname IN "
        "('events_no_update_delete', 'events_no_truncate')"
    )
    if not enabled:
        report.add("append-only", "events", "the append-only triggers are missing or disabled")
    for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
        if await conn.fetchval(
            "SELECT has_table_privilege('stockledger_app', 'events', $1)", privilege
        ):
            report.add("append-only", "stockledger_app", f"may {privilege} events")
