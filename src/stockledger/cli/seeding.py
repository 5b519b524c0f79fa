"""Data to work with: Mei's shop demo data in bulk, and the benchmarks of a checkout."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import DATABASE, console, load_settings

if TYPE_CHECKING:
    from ..ops.seed import SeedPlan


def seed(
    skus: Annotated[int, typer.Option(min=1, help="SKUs in the catalogue")] = 15_000,
    warehouses: Annotated[int, typer.Option(min=1, help="warehouses")] = 3,
    days: Annotated[int, typer.Option(min=1, help="days of history, up to --end")] = 90,
    end: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
            help="end of the history, UTC [default: today 00:00]",
        ),
    ] = None,
    random_seed: Annotated[
        int, typer.Option(help="the same seed and --end make the same data")
    ] = 42,
    prefix: Annotated[
        str, typer.Option(help="prefix of SKU, order and other ids (several seeds, one database)")
    ] = "",
    schema_v1: Annotated[
        bool,
        typer.Option(
            "--schema-v1",
            help="write the events as schemaVersion 1 (a ledger from before valuation: no "
            "costs on them); then run `stockledger migrate` to derive their values",
        ),
    ] = False,
) -> None:
    """Load Mei's shop demo data (about 2,000,000 events at the defaults) in bulk."""
    from ..ops.seed import SeedPlan, last_midnight

    settings = load_settings(DATABASE)
    try:
        plan = SeedPlan(
            skus=skus,
            warehouses=warehouses,
            days=days,
            end=end.replace(tzinfo=UTC) if end else last_midnight(),
            random_seed=random_seed,
            prefix=prefix,
            reservation_ttl_seconds=settings.reservation_ttl_seconds,
            snapshot_every=settings.snapshot_every,
            schema_v1=schema_v1,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    load_seed(settings.require_database_url(), plan)


def load_seed(database_url: str, plan: SeedPlan) -> None:
    from ..ops.seed import run_seed
    from ..store.rows import ConcurrencyConflict

    try:
        run_seed(database_url, plan, console)
    except ConcurrencyConflict as conflict:
        console.print(
            f"[red]{conflict.stream_id} already has events[/red]: seed an empty database "
            "or pass another --prefix"
        )
        raise typer.Exit(1) from None


def bench(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="scenario ids (P1 ... M1); all when none")
    ] = None,
    quick: Annotated[bool, typer.Option(help="smaller and shorter: a smoke run")] = False,
) -> None:
    """Run the benchmarks of bench/ (a repository checkout) and append to bench/results.md."""
    root = Path(__file__).resolve().parents[3]  # bench/ sits next to src/ in the repository
    if not (root / "bench" / "runner.py").exists():
        raise typer.BadParameter(f"no bench/ next to {root / 'src'}: run from a checkout")
    sys.path.insert(0, str(root))
    from bench.runner import main as run_benchmarks

    run_benchmarks(scenarios or [], quick)
