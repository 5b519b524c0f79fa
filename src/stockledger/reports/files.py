"""Reports written to a file or stdout (`stockledger report ...`): the same rows and shapes as the
HTTP answers, the whole report at once (one statement streamed through a server-side cursor,
so memory stays flat however many rows), JSON or CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO, Literal

import orjson
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..audit.exports import horizon
from ..config import Settings
from ..wiring import open_services
from .movements import COLUMNS, MovementQuery, movement_rows
from .tables import csv_bytes

ReportFormat = Literal["json", "csv"]
CHUNK = 1_000  # rows rendered and written at a time


async def write_rows(
    rows: AsyncIterator[dict[str, Any]],
    out: BinaryIO,
    fmt: ReportFormat,
    head: dict[str, Any],
    columns: tuple[str, ...],
    advance: Callable[[int], None] = lambda _: None,
) -> int:
    """Write a whole report: CSV (header row, then the rows) or the JSON body of the HTTP answer
    (`head` fields, `rows`, `next: null`). Returns the number of rows."""
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
        out.write(b'],"next":null}\n')
    return count


async def run_movement_report(
    settings: Settings,
    query: MovementQuery,
    as_of: int | None,
    fmt: ReportFormat,
    out: BinaryIO,
    console: Console,
) -> tuple[int, int]:
    """Write the movements report to `out` with a progress line on `console`; returns (rows,
    asOfPosition). ValueError when `as_of` is beyond the commit horizon."""
    async with open_services(settings, pool_size=2) as services:
        committed = await horizon(services.pool)
        if as_of is not None and as_of > committed:
            raise ValueError(f"asOfPosition {as_of} is beyond what has committed ({committed})")
        pinned = committed if as_of is None else as_of
        head = {
            "from": query.since.isoformat(),
            "to": query.until.isoformat(),
            "granularity": query.granularity,
            "asOfPosition": pinned,
        }
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]movements[/bold] {task.completed:,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        with progress:
            task = progress.add_task("movements", total=None)
            rows = movement_rows(services.pool, query, pinned)
            count = await write_rows(
                rows, out, fmt, head, COLUMNS, lambda n: progress.advance(task, n)
            )
        return count, pinned
