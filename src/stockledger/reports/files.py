"""Reports written to a file or stdout (`stockledger report ...`): the same rows and shapes as the
HTTP answers, the whole report at once (one statement streamed through a server-side cursor,
so memory stays flat however many rows), JSON or CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Literal

import asyncpg
import orjson
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..audit.event_export import horizon
from ..config import Settings
from ..read import cost_of_goods, inventory_value
from ..wiring import open_services
from .movements import COLUMNS as MOVEMENT_COLUMNS
from .movements import MovementQuery, movement_rows
from .tables import csv_bytes
from .turnover import COLUMNS as TURNOVER_COLUMNS
from .turnover import TurnoverQuery, turnover_rows

ReportFormat = Literal["json", "csv"]
CHUNK = 1_000  # rows rendered and written at a time


async def write_rows(
    rows: AsyncIterator[dict[str, Any]],
    out: BinaryIO,
    fmt: ReportFormat,
    head: dict[str, Any],
    columns: tuple[str, ...],
    advance: Callable[[int], None] = lambda _: None,
    *,
    paged: bool = True,
) -> int:
    """Write a whole report: CSV (header row, then the rows) or the JSON body of the HTTP answer
    (`head` fields, `rows`, and `next: null` for a report the API pages). Returns the number of
    rows."""
    count, chunk = 0, list[dict[str, Any]]()

    def flush() -> None:
        if not chunk:
            return
        if fmt == "csv":
            out.write(csv_bytes(chunk, columns, header=False))
        else:
            lead = b"," if count > len(chunk) else b""
            out.write(lead + b",".join(orjson.dumps(r) for r in chunk))
        advance(len(chunk))
        chunk.clear()

    if fmt == "csv":
        out.write(csv_bytes([], columns))
    else:
        out.write(orjson.dumps(head)[:-1] + b',"rows":[')
    async for row in rows:
        chunk.append(row)
        count += 1
        if len(chunk) == CHUNK:
            flush()
    flush()
    if fmt == "json":
        out.write(b'],"next":null}\n' if paged else b"]}\n")
    return count


@dataclass(frozen=True, slots=True)
class ReportJob:
    """A report the CLI writes whole: its name (the progress line), its CSV columns, the JSON
    body's fields before `rows` (given the pool and the asOfPosition pinned) and its rows."""

    name: str
    columns: tuple[str, ...]
    head: Callable[[asyncpg.Pool[Any], int], Awaitable[dict[str, Any]]]
    rows: Callable[[asyncpg.Pool[Any], int], AsyncIterator[dict[str, Any]]]
    paged: bool = True  # the HTTP answer has `next`


async def run_report(
    settings: Settings,
    job: ReportJob,
    as_of: int | None,
    fmt: ReportFormat,
    out: BinaryIO,
    console: Console,
) -> tuple[int, int]:
    """Write `job` to `out` with a progress line on `console`; returns (rows, asOfPosition).
    ValueError when `as_of` is beyond the commit horizon."""
    async with open_services(settings, pool_size=2) as services:
        committed = await horizon(services.pool)
        if as_of is not None and as_of > committed:
            raise ValueError(f"asOfPosition {as_of} is beyond what has committed ({committed})")
        pinned = committed if as_of is None else as_of
        head = {**await job.head(services.pool, pinned), "asOfPosition": pinned}
        progress = Progress(
            SpinnerColumn(),
            TextColumn(f"[bold]{job.name}[/bold] {{task.completed:,}} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        with progress:
            task = progress.add_task(job.name, total=None)
            count = await write_rows(
                job.rows(services.pool, pinned),
                out,
                fmt,
                head,
                job.columns,
                lambda n: progress.advance(task, n),
                paged=job.paged,
            )
        return count, pinned


def movements_job(query: MovementQuery) -> ReportJob:
    async def head(_pool: asyncpg.Pool[Any], _as_of: int) -> dict[str, Any]:
        return {
            "from": query.since.isoformat(),
            "to": query.until.isoformat(),
            "granularity": query.granularity,
        }

    return ReportJob(
        "movements", MOVEMENT_COLUMNS, head, lambda pool, as_of: movement_rows(pool, query, as_of)
    )


def turnover_job(query: TurnoverQuery) -> ReportJob:
    async def head(_pool: asyncpg.Pool[Any], _as_of: int) -> dict[str, Any]:
        return query.head()

    return ReportJob(
        "turnover", TURNOVER_COLUMNS, head, lambda pool, as_of: turnover_rows(pool, query, as_of)
    )


def valuation_job(at: datetime, warehouse_id: str | None) -> ReportJob:
    """The whole inventory as of `at` (GET /v1/valuation, every page): totals in the head."""

    async def head(pool: asyncpg.Pool[Any], as_of: int) -> dict[str, Any]:
        first = await inventory_value.inventory(pool, at, as_of, warehouse_id=warehouse_id, limit=1)
        return {"at": at.isoformat(), "totals": first.totals}

    def rows(pool: asyncpg.Pool[Any], as_of: int) -> AsyncIterator[dict[str, Any]]:
        return inventory_value.inventory_rows(pool, at, as_of, warehouse_id=warehouse_id)

    return ReportJob("valuation", inventory_value.INVENTORY_COLUMNS, head, rows)


def cogs_job(
    since: datetime, until: datetime, sku: str | None, warehouse_id: str | None
) -> ReportJob:
    """The cost of goods sold in [since, until) (GET /v1/reports/cogs): totals in the head."""
    found: dict[str, Any] = {}

    async def head(pool: asyncpg.Pool[Any], as_of: int) -> dict[str, Any]:
        found.update(
            await cost_of_goods.cogs(pool, since, until, as_of, sku=sku, warehouse_id=warehouse_id)
        )
        return {"from": since.isoformat(), "to": until.isoformat(), "totals": found["totals"]}

    async def rows(_pool: asyncpg.Pool[Any], _as_of: int) -> AsyncIterator[dict[str, Any]]:
        for row in found["rows"]:
            yield row

    return ReportJob("cogs", cost_of_goods.COGS_COLUMNS, head, rows, paged=False)
