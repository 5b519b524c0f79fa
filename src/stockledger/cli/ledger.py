"""Ledger maintenance: migrate the schema, rebuild read models, send events to Kafka again,
and check projections and hash chains against the store."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated

import typer

from ..config import Settings
from .common import DATABASE, KAFKA, REDIS, WHEN, console, load_settings, utc_if_naive


def migrate() -> None:
    """Upgrade the database at STOCKLEDGER_DATABASE_URL to the latest schema."""
    from ..ops.jobs import backfill_read_models
    from ..store.db import migrate as run

    settings = load_settings(DATABASE)
    run(settings.require_database_url())
    filled = asyncio.run(backfill_read_models(settings, console))
    note = f"; read models filled from the store: {', '.join(filled)}" if filled else ""
    console.print(f"[green]database migrated to head[/green]{note}")


def replay(
    projection: Annotated[
        str, typer.Option(help="stock-levels, reservations, alerts, catalog, redis or all")
    ] = "all",
) -> None:
    """Rebuild read models from the event store (shadow + atomic swap; reads keep working)."""
    from ..ops.jobs import PROJECTIONS
    from ..ops.jobs import replay as run

    if projection not in (*PROJECTIONS, "all"):
        raise typer.BadParameter(f"choose one of {', '.join(PROJECTIONS)} or all")
    needs = (DATABASE, REDIS) if projection in ("redis", "all") else (DATABASE,)
    timings = asyncio.run(run(load_settings(*needs), projection, console))
    for name, seconds in timings.items():
        console.print(f"[green]{name}[/green] rebuilt in {seconds:.1f} s")


def republish(
    from_position: Annotated[
        int, typer.Option("--from-position", min=0, help="events after this global position")
    ] = 0,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=WHEN,
            help="events recorded at or after this instant (UTC unless it has an offset)",
        ),
    ] = None,
    stream: Annotated[
        str | None, typer.Option(help="only this stream, e.g. stock:SKU-1:WH-A")
    ] = None,
) -> None:
    """Send events from the store to the Kafka topic again (a topic that lost data, or a new
    consumer that needs history). Same key, value and headers as the relay; consumers dedupe by
    (streamId, version); the outbox and the live relay are not touched."""
    from ..ops.jobs import run_republish
    from ..pipeline.republish import Selection

    settings = load_settings(DATABASE, (KAFKA[0], "republish sends to Kafka"))
    selection = Selection(from_position, utc_if_naive(since), stream)
    sent = asyncio.run(run_republish(settings, selection, console))
    console.print(f"[green]republished {sent:,} events[/green] to {settings.kafka_topic}")


def verify(
    audit: Annotated[
        bool, typer.Option("--audit", help="recompute every hash chain and signed checkpoint")
    ] = False,
    stream: Annotated[
        str | None, typer.Option(help="with --audit: only this stream's chain")
    ] = None,
) -> None:
    """Compare every projection with a fold of the event store; exit 1 on any drift, 3 when
    there is none but some streams have no projected row yet (lagging or lost projections).

    With --audit instead: recompute every hash chain and signed checkpoint (needs
    STOCKLEDGER_AUDIT_KEY), print the report as JSON and exit 1 on any break."""
    if audit:
        _verify_audit(load_settings(DATABASE), stream)
        return
    from ..ops.jobs import render_report, run_verify

    report = asyncio.run(run_verify(load_settings(DATABASE), console))
    render_report(report, console)
    if not report.ok:
        raise typer.Exit(1)
    if not report.complete:
        raise typer.Exit(3)


def _verify_audit(settings: Settings, stream: str | None) -> None:
    from ..audit.integrity import verify_database_integrity

    report = asyncio.run(verify_database_integrity(settings, stream))
    typer.echo(json.dumps(report.out(), indent=2))
    for found in report.breaks[:20]:
        where = f"{found.stream_id} v{found.version}" if found.stream_id else "checkpoint"
        console.print(f"[red]{found.kind}[/red] {where}: {found.detail}")
    summary = f"{report.events} events in {report.streams} streams, "
    summary += f"{report.checkpoints} checkpoints"
    if not report.ok:
        console.print(f"[red]{report.break_count} breaks[/red] ({summary})")
        raise typer.Exit(1)
    console.print(f"[green]ledger verified[/green]: {summary}")
