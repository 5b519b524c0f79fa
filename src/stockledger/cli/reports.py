"""Reports and exports to files: the event export with its signed manifest and its offline
check, and the reports of /v1/reports and /v1/valuation, every row at once."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import orjson
import typer

from ..read.recall import MOVEMENT_COLUMNS
from ..reports.tables import csv_bytes
from .common import DATABASE, WHEN, as_utc, check_ids, console, load_settings, utc_if_naive

if TYPE_CHECKING:
    from ..reports.files import ReportJob


def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write")],
    format: Annotated[str, typer.Option(help="jsonl or csv")] = "jsonl",
    since: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            formats=WHEN,
            help="recordedAt at or after (a UTC date or an instant)",
        ),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option(
            formats=WHEN,
            help="recordedAt before (exclusive)",
        ),
    ] = None,
    correlation_id: Annotated[str | None, typer.Option(help="only this correlation id")] = None,
    order_id: Annotated[str | None, typer.Option(help="only this order's events")] = None,
    sku: Annotated[str | None, typer.Option(help="its stock, reorder and item streams")] = None,
    warehouse_id: Annotated[str | None, typer.Option(help="its streams")] = None,
    as_of_position: Annotated[
        int | None, typer.Option(min=0, help="up to this position (default: all committed)")
    ] = None,
) -> None:
    """Export events as GET /v1/exports/events does (JSONL or CSV, position order) to OUTPUT,
    and its manifest to OUTPUT.manifest.json (signed with STOCKLEDGER_AUDIT_KEY when set)."""
    from ..audit.event_export import ExportQuery
    from ..ops.jobs import run_export

    if format not in ("jsonl", "csv"):
        raise typer.BadParameter("choose jsonl or csv", param_hint="--format")
    check_ids(**{"sku": sku, "warehouse-id": warehouse_id, "order-id": order_id})
    query = ExportQuery(
        "csv" if format == "csv" else "jsonl",
        utc_if_naive(since),
        utc_if_naive(to),
        correlation_id,
        order_id,
        sku,
        warehouse_id,
    )
    try:
        doc = asyncio.run(
            run_export(load_settings(DATABASE), query, as_of_position, output, console)
        )
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    manifest_path = output.with_name(output.name + ".manifest.json")
    manifest_path.write_text(json.dumps(doc, indent=2) + "\n")
    signed = (
        "signed" if doc["signature"] else "[yellow]unsigned[/yellow] (no STOCKLEDGER_AUDIT_KEY)"
    )
    console.print(
        f"[green]exported {doc['count']:,} events[/green] to {output} (asOfPosition "
        f"{doc['asOfPosition']}); manifest {manifest_path}, {signed}"
    )


report = typer.Typer(help="Reports computed from the events (as GET /v1/reports/...)")


Since = Annotated[
    datetime,
    typer.Option(
        "--from", formats=WHEN, help="the window's start, inclusive (UTC date or instant)"
    ),
]
Until = Annotated[datetime, typer.Option(formats=WHEN, help="the window's end, exclusive")]
SkuOption = Annotated[str | None, typer.Option(help="only this SKU")]
WarehouseOption = Annotated[str | None, typer.Option(help="only this warehouse")]
FormatOption = Annotated[str, typer.Option(help="json or csv")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="the file to write (default: stdout)")
]
AsOfOption = Annotated[
    int | None, typer.Option(min=0, help="up to this position (default: all committed)")
]


def _write_report(
    job: ReportJob, as_of_position: int | None, format: str, output: Path | None
) -> None:
    """Run a report job to OUTPUT or stdout as JSON (the HTTP body, unpaged) or CSV; exit 2
    when asOfPosition is beyond what has committed."""
    from ..reports.files import run_report

    if format not in ("json", "csv"):
        raise typer.BadParameter("choose json or csv", param_hint="--format")
    settings = load_settings(DATABASE)
    fmt: Literal["json", "csv"] = "csv" if format == "csv" else "json"
    try:
        if output is None:
            rows, as_of = asyncio.run(
                run_report(settings, job, as_of_position, fmt, sys.stdout.buffer, console)
            )
        else:
            with output.open("wb") as file:
                rows, as_of = asyncio.run(
                    run_report(settings, job, as_of_position, fmt, file, console)
                )
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    where = f" to {output}" if output is not None else ""
    console.print(f"[green]{rows:,} rows[/green]{where} (asOfPosition {as_of})")


@report.command("movements")
def report_movements(
    since: Since,
    to: Until,
    granularity: Annotated[str, typer.Option(help="day, week (ISO, from Monday) or month")] = "day",
    sku: SkuOption = None,
    warehouse: WarehouseOption = None,
    format: FormatOption = "json",
    output: OutputOption = None,
    as_of_position: AsOfOption = None,
) -> None:
    """The stock movements report (as GET /v1/reports/movements), every row at once: JSON (the
    HTTP body, unpaged) or CSV, to OUTPUT or stdout."""
    from ..reports.files import movements_job
    from ..reports.movements import MovementQuery
    from ..reports.periods import GRANULARITIES

    if granularity not in GRANULARITIES:
        raise typer.BadParameter("choose day, week or month", param_hint="--granularity")
    check_ids(sku=sku, warehouse=warehouse)
    try:
        query = MovementQuery(as_utc(since), as_utc(to), granularity, sku, warehouse)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--from/--to") from None
    _write_report(movements_job(query), as_of_position, format, output)


@report.command("turnover")
def report_turnover(
    since: Since,
    to: Until,
    sku: SkuOption = None,
    warehouse: WarehouseOption = None,
    format: FormatOption = "json",
    output: OutputOption = None,
    as_of_position: AsOfOption = None,
) -> None:
    """The turnover report (as GET /v1/reports/turnover) per SKU, over all warehouses or the
    one given: units shipped, time-weighted average on hand, turnover, days of inventory,
    COGS, average value and value turnover. A window ending in the future ends now."""
    from ..reports.files import turnover_job
    from ..reports.turnover import TurnoverQuery

    check_ids(sku=sku, warehouse=warehouse)
    try:
        until = min(as_utc(to), datetime.now(UTC))
        query = TurnoverQuery(as_utc(since), until, sku, warehouse)
    except ValueError:
        raise typer.BadParameter(
            "from must be before to and before now", param_hint="--from/--to"
        ) from None
    _write_report(turnover_job(query), as_of_position, format, output)


@report.command("valuation")
def report_valuation(
    at: Annotated[
        datetime | None, typer.Option(formats=WHEN, help="the instant (default: now)")
    ] = None,
    warehouse: WarehouseOption = None,
    format: FormatOption = "json",
    output: OutputOption = None,
    as_of_position: AsOfOption = None,
) -> None:
    """What the whole inventory was worth at AT (as GET /v1/valuation, every page): per SKU and
    warehouse onHand, value, unit cost, in transit and damaged, with the totals."""
    from ..reports.files import valuation_job

    check_ids(warehouse=warehouse)
    when = datetime.now(UTC) if at is None else as_utc(at)
    _write_report(valuation_job(when, warehouse), as_of_position, format, output)


@report.command("cogs")
def report_cogs(
    since: Since,
    to: Until,
    sku: SkuOption = None,
    warehouse: WarehouseOption = None,
    format: FormatOption = "json",
    output: OutputOption = None,
    as_of_position: AsOfOption = None,
) -> None:
    """What the goods shipped in [FROM, TO) cost, and the losses at cost by reason (as GET
    /v1/reports/cogs), per SKU and warehouse with totals."""
    from ..reports.files import cogs_job

    check_ids(sku=sku, warehouse=warehouse)
    since_utc, until = as_utc(since), as_utc(to)
    if since_utc >= until:
        raise typer.BadParameter("from must be before to", param_hint="--from/--to")
    _write_report(cogs_job(since_utc, until, sku, warehouse), as_of_position, format, output)


def verify_export_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the export")],
    manifest: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="its manifest (JSON)")
    ],
) -> None:
    """Check an export offline against its manifest: SHA-256 of the bytes, count, first and
    last position, the signature (with STOCKLEDGER_AUDIT_KEY) and every hash-chain link between
    consecutive versions of a stream in the file. Exits 1 on any problem."""
    from ..audit.event_export import verify_export

    settings = load_settings()
    key = settings.audit_key.get_secret_value() if settings.audit_key else None
    check = verify_export(file, json.loads(manifest.read_text()), key)
    for problem in check.problems[:50]:
        console.print(f"[red]{problem}[/red]", soft_wrap=True)
    if not check.ok:
        raise typer.Exit(1)
    signature = (
        "signature ok"
        if check.signature_checked
        else ("[yellow]signature not checked[/yellow] (set STOCKLEDGER_AUDIT_KEY)")
    )
    console.print(
        f"[green]export verified[/green]: {check.count:,} events, sha256 matches, "
        f"{check.links:,} hash-chain links recomputed, {signature}"
    )


def recall(
    sku: Annotated[str, typer.Argument(metavar="SKU", help="the SKU")],
    lot_id: Annotated[str, typer.Argument(metavar="LOT", help="the lot recalled")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write the CSV here (default: stdout)")
    ] = None,
    format: Annotated[str, typer.Option(help="csv (one row per movement) or json")] = "csv",
) -> None:
    """Every movement of one lot, as GET /v1/lots/{sku}/{lotId}/trail answers it: the sortable
    spreadsheet a food-safety recall asks for (CSV), or the whole answer (JSON)."""
    from ..ops.jobs import recall_of

    if format not in ("json", "csv"):
        raise typer.BadParameter("choose json or csv", param_hint="--format")
    found = asyncio.run(recall_of(load_settings(DATABASE), sku, lot_id))
    if found is None:
        console.print(f"[red]no event names lot {lot_id} of {sku}[/red]")
        raise typer.Exit(1)
    body, movements = found
    data = (
        orjson.dumps(body, option=orjson.OPT_INDENT_2)
        if format == "json"
        else csv_bytes(movements, MOVEMENT_COLUMNS)
    )
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
    balanced = "balanced" if body["balanced"] else "[red]NOT balanced[/red]"
    where = f" to {output}" if output is not None else ""
    console.print(
        f"[green]{len(movements):,} movements[/green] of lot {lot_id}{where}; {balanced} "
        f"(asOfPosition {body['asOfPosition']})"
    )
