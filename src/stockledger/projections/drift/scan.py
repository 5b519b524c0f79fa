"""The pass `find_drift` makes: every projection row read in one repeatable-read snapshot,
every event of the store folded stream by stream (stock streams by `stock.py`, the other read
models by `read_models.py`), then the laws across streams: conservation per SKU, reserved
against open reservations, no parked stream, an append-only events table."""

from __future__ import annotations

from typing import Any

import asyncpg

from ...domain.stock.state import Levels
from ...domain.streams import parse_stock_stream
from ...store.rows import levels_of
from ..redis_stock import RedisStock
from .read_models import ReadModelFold, check_catalog, check_reorders, check_reservations
from .report import DriftReport, Progress
from .stock import StockFold


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


async def find_drift(
    pool: asyncpg.Pool[Any], redis: RedisStock | None, progress: Progress
) -> DriftReport:
    report = DriftReport()
    redis_rows = await _redis_rows(redis)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        postgres_rows = {
            r["stream_id"]: (
                levels_of(r),
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
        fold, others = StockFold(report, wanted), ReadModelFold()
        fold.stored_values = {
            r["stream_id"]: tuple(r.values())[1:]
            for r in await conn.fetch(
                "SELECT stream_id, sum(d_on_hand)::bigint, sum(d_value), sum(d_in_transit_value),"
                " sum(d_damaged_value) FROM stock_values GROUP BY stream_id"
            )
        }
        await _fold_all(conn, fold, others, report, progress)
        fold.finish()
        check_reservations(report, others, views)
        check_reorders(report, others, reorder_views, alert_rows)
        check_catalog(report, others, catalog_views)
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
            if reserved != others.open_lines[stream_id]:
                report.add(
                    "reserved",
                    stream_id,
                    f"reserved {reserved}, active reservations hold {others.open_lines[stream_id]}",
                )
        for stream_id, incoming in fold.incoming.items():
            if incoming != others.on_order[stream_id]:
                report.add(
                    "incoming",
                    stream_id,
                    f"incoming {incoming}, open purchase order lines hold "
                    f"{others.on_order[stream_id]}",
                )
        for row in await conn.fetch("SELECT * FROM parked_streams"):
            report.add("parked", row["stream_id"], f"{row['projection']}: {row['error']}")
        await _check_append_only(conn, report)
    return report


async def _fold_all(
    conn: Any, fold: StockFold, others: ReadModelFold, report: DriftReport, progress: Progress
) -> None:
    current: str = ""
    rows: list[Any] = []
    async for row in conn.cursor(
        "SELECT stream_id, version, type, schema_version, data, recorded_at, d_on_hand, "
        "d_reserved, d_in_transit, d_damaged, d_incoming, d_quality_control, d_expired FROM events "
        "ORDER BY stream_id, version",
        prefetch=5000,
    ):
        if row["stream_id"] != current:
            _close(fold, others, current, rows, report)
            current, rows = row["stream_id"], []
        rows.append(row)
        report.events += 1
        if report.events % 5000 == 0:
            progress(5000)
    _close(fold, others, current, rows, report)
    progress(report.events % 5000)


def _close(
    fold: StockFold, others: ReadModelFold, stream_id: str, rows: list[Any], report: DriftReport
) -> None:
    if not rows:
        return
    report.streams += 1
    versions = [r["version"] for r in rows]
    if versions != list(range(1, len(rows) + 1)):
        report.add("versions", stream_id, "versions are not 1..n without gaps")
    if stream_id.startswith("stock:"):
        fold.stock(stream_id, rows)
    elif stream_id.startswith("reservation:"):
        others.reservation(stream_id, rows)
    elif stream_id.startswith("reorder:"):
        others.reorder(stream_id, rows)
    elif stream_id.startswith("po:"):
        others.purchase_order(stream_id, rows)
    elif stream_id.startswith(("item:", "warehouse:")):
        others.catalog_entry(stream_id, rows)
        if stream_id.startswith("item:"):
            fold.item(stream_id, rows)


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
