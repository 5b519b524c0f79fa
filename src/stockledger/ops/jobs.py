"""Long-running and operator work behind the CLI: relay, projector, replay, verify.

Each function opens what it needs from the settings and closes it; progress is shown with rich.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..audit.event_export import ExportQuery, Tally
from ..audit.event_export import count as count_exported
from ..audit.event_export import horizon as export_horizon
from ..audit.event_export import manifest as export_manifest
from ..audit.event_export import pages as export_pages
from ..config import Settings
from ..pipeline.relay import Relay
from ..pipeline.republish import Selection, republish
from ..pipeline.republish import count as count_selected
from ..projections.consumer import Projector
from ..projections.drift import DriftReport, find_drift
from ..projections.rebuild import (
    count_events,
    rebuild_alerts,
    rebuild_catalog,
    rebuild_redis,
    rebuild_reservations,
    rebuild_stock_levels,
)
from ..projections.redis_stock import RedisStock
from ..store.db import LEDGER_TABLES, settle
from ..wiring import open_services
from .value_backfill import backfill_stock_values, count_stock_events, needs_backfill

PROJECTIONS = ("stock-levels", "reservations", "alerts", "catalog", "redis")


@asynccontextmanager
async def resources(
    settings: Settings,
) -> AsyncIterator[tuple[asyncpg.Pool[Any], RedisStock | None]]:
    """The pool and Redis of the one object graph (wiring.py) that operations work on."""
    async with open_services(settings) as services:
        yield services.pool, services.redis_stock


async def run_relay(settings: Settings) -> None:
    if not settings.kafka_bootstrap_servers:
        raise RuntimeError("STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS is not set")
    async with resources(settings) as (pool, _):
        await Relay(pool, settings).run()


async def run_projector(settings: Settings) -> None:
    if not settings.kafka_bootstrap_servers:
        raise RuntimeError("STOCKLEDGER_KAFKA_BOOTSTRAP_SERVERS is not set")
    async with resources(settings) as (pool, redis):
        await Projector(pool, settings, redis).run()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>9} events/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


async def _tracked(
    progress: Progress,
    name: str,
    total: int,
    work: Callable[[Callable[[int], None]], Awaitable[None]],
) -> float:
    task = progress.add_task(name, total=max(total, 1), rate="-")
    started = time.perf_counter()

    def advance(n: int) -> None:
        done = progress.tasks[task].completed + n
        rate = done / max(time.perf_counter() - started, 1e-6)
        progress.update(task, completed=done, rate=f"{rate:,.0f}")

    await work(advance)
    progress.update(task, completed=max(total, 1))
    return time.perf_counter() - started


async def replay(settings: Settings, projection: str, console: Console) -> dict[str, float]:
    """Rebuild the chosen read models from the event store; returns seconds per projection."""
    chosen = PROJECTIONS if projection == "all" else (projection,)
    timings: dict[str, float] = {}
    async with resources(settings) as (pool, redis):
        with _progress(console) as progress:
            for name in chosen:
                timings[name] = await _tracked(
                    progress, name, await _total(pool, name), _rebuilder(name, pool, redis)
                )
    return timings


async def _total(pool: asyncpg.Pool[Any], projection: str) -> int:
    if projection == "catalog":
        return await count_events(pool, "item:") + await count_events(pool, "warehouse:")
    prefixes = {"reservations": "reservation:", "alerts": "reorder:"}
    return await count_events(pool, prefixes.get(projection, "stock:"))


def _rebuilder(
    projection: str, pool: asyncpg.Pool[Any], redis: RedisStock | None
) -> Callable[[Callable[[int], None]], Awaitable[None]]:
    if projection == "stock-levels":
        return lambda advance: rebuild_stock_levels(pool, advance)
    if projection == "reservations":
        return lambda advance: rebuild_reservations(pool, advance)
    if projection == "alerts":
        return lambda advance: rebuild_alerts(pool, advance)
    if projection == "catalog":
        return lambda advance: rebuild_catalog(pool, advance)
    if redis is None:
        raise RuntimeError("STOCKLEDGER_REDIS_URL is not set")
    return lambda advance: rebuild_redis(pool, redis, advance)


async def run_verify(settings: Settings, console: Console) -> DriftReport:
    async with resources(settings) as (pool, redis):
        total: int = await pool.fetchval("SELECT count(*) FROM events")
        with _progress(console) as progress:
            holder: list[DriftReport] = []

            async def work(advance: Callable[[int], None]) -> None:
                holder.append(await find_drift(pool, redis, advance))

            await _tracked(progress, "verify", total, work)
    return holder[0]


async def run_republish(settings: Settings, selection: Selection, console: Console) -> int:
    """Re-send the selected events from the store to the topic, with a progress bar."""
    async with resources(settings) as (pool, _):
        total = await count_selected(pool, selection)
        sent: list[int] = []
        with _progress(console) as progress:

            async def work(advance: Callable[[int], None]) -> None:
                sent.append(await republish(pool, settings, selection, advance))

            await _tracked(progress, "republish", total, work)
    return sent[0]


def render_report(report: DriftReport, console: Console) -> None:
    console.print(f"folded {report.events:,} events in {report.streams:,} streams")
    compared = Table(
        "projection", "rows equal to the store", "of which lagging", "streams with no row"
    )
    for name in sorted(set(report.compared) | set(report.lagging) | set(report.missing)):
        compared.add_row(
            name,
            f"{report.compared[name]:,}",
            f"{report.lagging[name]:,}",
            f"{report.missing[name]:,}",
        )
    console.print(compared)
    if report.ok and report.complete:
        console.print(
            "[bold green]no drift[/bold green]: projections, conservation, values (cost "
            "layers, recorded costs, stock_values), reserved totals and the append-only "
            "guard all check out"
        )
        return
    if report.ok:
        missing = ", ".join(f"{n:,} in {p}" for p, n in sorted(report.missing.items()))
        console.print(
            f"[bold yellow]incomplete[/bold yellow]: no drift in the rows that exist, but "
            f"streams have no projected row yet ({missing}): the projectors are behind or "
            "the read model was lost (`stockledger replay` rebuilds it)"
        )
        return
    findings = Table(
        "check", "where", "what", title=f"{len(report.findings)} problems", title_style="bold red"
    )
    for finding in report.findings[:200]:
        findings.add_row(finding.check, finding.subject, finding.detail)
    console.print(findings)


async def run_export(
    settings: Settings, query: ExportQuery, as_of: int | None, output: Path, console: Console
) -> dict[str, Any]:
    """Write the export to `output` with a progress bar; returns its manifest (signed with
    STOCKLEDGER_AUDIT_KEY when set)."""
    async with open_services(settings) as services:
        committed = await export_horizon(services.pool)
        if as_of is not None and as_of > committed:
            raise ValueError(f"asOfPosition {as_of} is beyond what has committed ({committed})")
        as_of = committed if as_of is None else as_of
        total = await count_exported(services.pool, query, as_of)
        tally = Tally()
        with _progress(console) as progress, output.open("wb") as file:

            async def work(advance: Callable[[int], None]) -> None:
                async for page in export_pages(services.pool, query, as_of):
                    file.write(page.data)
                    tally.add(page)
                    advance(page.count)

            await _tracked(progress, "export", total, work)
        return export_manifest(tally, as_of, datetime.now(UTC), services.audit_key)


# A schema that adds a read model finds the store already holding its events, past the
# projectors' offsets: those tables are filled from the store once, when they are still empty.
_BACKFILLS = (
    ("catalog", "catalog_views", ("item:", "warehouse:")),
    ("alerts", "reorder_views", ("reorder:",)),
)


async def backfill_read_models(settings: Settings, console: Console) -> list[str]:
    """Rebuild (as `replay` does) each read model that has no row at all while the store has
    events for it: a database upgraded to the schema that added it; and derive the
    stock_values rows of events written before valuation (`stock-values`). Returns their
    names."""
    done: list[str] = []
    async with resources(settings) as (pool, redis):
        for name, table, prefixes in _BACKFILLS:
            if await pool.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                continue
            held = [
                await pool.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id LIKE $1)", prefix + "%"
                )
                for prefix in prefixes
            ]
            if not any(held):
                continue
            with _progress(console) as progress:
                total = await _total(pool, name)
                await _tracked(progress, f"backfill {name}", total, _rebuilder(name, pool, redis))
            done.append(name)
        if await needs_backfill(pool):
            with _progress(console) as progress:
                total = await count_stock_events(pool)

                async def derive(advance: Callable[[int], None]) -> None:
                    await backfill_stock_values(pool, advance)

                await _tracked(progress, "derive stock values", total, derive)
            done.append("stock-values")
        if done:  # bulk-filled: analysed and visible now, not when autovacuum comes by
            await settle(pool, (*LEDGER_TABLES, *(table for _, table, _ in _BACKFILLS)))
    return done


async def recall_of(
    settings: Settings, sku: str, lot_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """`stockledger recall`: the lot's recall, as the API answers it."""
    from ..read.recall import lot_recall

    async with open_services(settings) as services:
        return await lot_recall(services.pool, services.loader, sku, lot_id)
