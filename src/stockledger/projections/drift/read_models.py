"""The other read models' folds and checks: reservation views (status at the row's version),
reorder rows and their alerts, catalog views (items and warehouses), each row against its
stream folded to the row's version."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...domain.aggregates import State, evolve, initial_state
from ...domain.events import from_data
from ...domain.purchase_order.state import PurchaseOrderState
from ...domain.reorder.alerts import Alert, fold_reorder
from ...domain.reorder.state import ReorderState
from ...domain.reservation.state import ReservationState, evolve_reservation
from ..rows import alert_from_row, catalog_from_row, no_reorder, reorder_from_row
from .report import DriftReport


class ReadModelFold:
    """Folds the reservation, reorder and catalog streams, one at a time."""

    def __init__(self) -> None:
        self.open_lines: Counter[str] = Counter()  # stock stream -> units of open reservations
        self.on_order: Counter[str] = Counter()  # stock stream -> open purchase order units
        self.reservations: dict[str, ReservationState] = {}
        self.reorders: dict[str, tuple[list[ReorderState], dict[str, Alert]]] = {}
        self.catalog: dict[str, list[State]] = {}

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

    def purchase_order(self, stream_id: str, rows: list[Any]) -> None:
        """What the order still expects on each stock stream it names."""
        state = initial_state(stream_id)
        for row in rows:
            event = from_data(row["type"], row["data"], row["schema_version"])
            state = evolve(state, event, row["recorded_at"])
        if isinstance(state, PurchaseOrderState):
            for line in state.lines:
                self.on_order[f"stock:{line.sku}:{line.warehouse_id}"] += line.open

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
        """An item's or warehouse's state after each version."""
        state, states = initial_state(stream_id), []
        for row in rows:
            state = evolve(
                state,
                from_data(row["type"], row["data"], row["schema_version"]),
                row["recorded_at"],
            )
            states.append(state)
        self.catalog[stream_id] = states


def check_catalog(report: DriftReport, fold: ReadModelFold, views: dict[str, Any]) -> None:
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


def check_reorders(
    report: DriftReport, fold: ReadModelFold, views: dict[str, Any], alert_rows: list[Any]
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


def check_reservations(report: DriftReport, fold: ReadModelFold, views: dict[str, Any]) -> None:
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
