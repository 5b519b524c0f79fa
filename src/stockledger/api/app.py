"""The composition root of the HTTP service: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__, tracing, ui
from ..audit.checkpoints import Checkpointer
from ..config import Settings
from ..logs import configure
from ..metrics import exposition
from ..pipeline.commands import CommandConsumer
from ..pipeline.leader import lead
from ..pipeline.relay import Relay
from ..pipeline.status import OutboxSampler, pipeline_readiness
from ..projections.consumer import Projector
from ..projections.sampler import run_sampler
from ..store.db import head_revisions
from ..webhooks.dispatcher import Dispatcher
from ..webhooks.secret_box import secret_box
from ..wiring import Services, open_services
from ..write.expiry import ExpiryWorker
from . import (
    catalog,
    commands,
    contract,
    exports,
    kits,
    lots,
    me,
    problems,
    purchasing,
    queries,
    reorder_rules,
    reports,
    valuation,
    webhooks,
)
from .audit import router as audit_router
from .auth import Authenticate
from .deps import services_of
from .health import kafka_reachable, redis_checks, replica_checks
from .middleware import HttpMetrics, RequestContext
from .oidc import TokenVerifier
from .openapi import install_document, operation_id
from .rate_limits import RateLimiter
from .schemas.operations import ReadyOut

DESCRIPTION = """Every stock change is an immutable, attributed event; every level is derived
from them. Authenticate with `Authorization: Bearer <key>` (or `X-API-Key`). Errors are RFC 9457
`application/problem+json`."""

GC_THRESHOLD = (50_000, 20, 100)  # CPython's default is (700, 10, 10)


def tune_gc_for_serving() -> None:
    """Fewer garbage collections in a serving process (`serve`, `dev`, the benchmarks).

    Requests free nearly everything by reference counting, yet the default threshold (a
    collection every 700 net container allocations) ran ~90 collections a second under load,
    ~13 of them full passes over every cached stream state: 12-20% of the server's CPU in the
    reservation benchmarks (P1/P2). What startup built lives as long as the process, so freeze
    it out of every pass; then collect after 50,000 net allocations (a few MB of garbage)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def create_app_from_environment() -> FastAPI:
    """The app of one `serve --workers N` process: settings (and its background flags) from
    the environment, as the parent `serve` was given them."""
    return create_app(Settings())


def create_app(
    settings: Settings,
    *,
    run_expiry: bool | None = None,
    run_relay: bool | None = None,
    run_projector: bool | None = None,
    run_webhooks: bool | None = None,
) -> FastAPI:
    """Build the app; connections open in the lifespan (`wiring.open_services`), never at
    import. The relay and the projector run only when Kafka is configured; without Kafka, stock
    reads fold the store. Background work (flags default to the settings' `run_*`) runs under
    leader election (pipeline/leader.py): once per deployment, however many processes serve."""
    configure(settings.log_level, settings.log_json)
    tracing.install_from_environment()
    roles = Roles(
        settings.run_expiry if run_expiry is None else run_expiry,
        settings.run_relay if run_relay is None else run_relay,
        settings.run_projector if run_projector is None else run_projector,
        settings.run_webhooks if run_webhooks is None else run_webhooks,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            app.state.outbox = OutboxSampler(services.pool)  # every process, whatever relays
            async with _background(services, app.state.outbox, roles):
                yield

    app = FastAPI(
        title="stockledger",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # Every model is a request (Body) or an answer (Out), so none is split into -Input and
        # -Output schemas; should one serve both, the split shows (and test_openapi_document
        # fails) rather than one direction being documented with the other's schema.
        separate_input_output_schemas=True,
    )
    limits = settings.parsed_rate_limits()
    if limits:  # innermost: after the key or token is known, before any route
        if not settings.redis_url:
            raise RuntimeError("STOCKLEDGER_RATE_LIMITS needs STOCKLEDGER_REDIS_URL (the buckets)")
        app.add_middleware(RateLimiter, limits=limits, prefix=settings.redis_prefix)
    oidc = settings.oidc()
    app.add_middleware(  # key or token, once
        Authenticate,
        keys=settings.parsed_api_keys(),
        oidc=TokenVerifier(oidc) if oidc is not None else None,
    )
    app.add_middleware(RequestContext, body_timeout=settings.http_body_timeout_seconds)
    app.add_middleware(HttpMetrics)  # every answer counts, refusals included
    tracing.add_request_span(app)  # outermost, when OTEL_* turn tracing on
    problems.install(app)
    install_document(app)
    serve_routes(
        app,
        commands.router,
        catalog.router,
        reorder_rules.router,
        kits.router,
        queries.router,
        audit_router,
        exports.router,
        reports.router,
        contract.router,
        valuation.router,
        lots.router,
        me.router,
        webhooks.router,
        purchasing.router,
    )
    _operations(app, settings)
    ui.install(app)  # the ops console at /ui/ (last: its catch-all path shadows nothing)
    return app


def serve_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Serve each router's routes from the app's own route list.

    `include_router` keeps an included router nested in current FastAPI: every request walks
    each included router and, for each of its routes, sets and restores a matching context,
    30-60 us of CPU per request with these nine routers (more for routes declared later;
    `python -m bench.stack_cost`). A prefixed router's routes already carry their full path,
    tags and responses, so the app serves them as they are, and the OpenAPI document is built
    from the same routes. The routers declare no lifespan or dependencies of their own; each
    names its operations itself (`generate_unique_id_function=operation_id`)."""
    for router in routers:
        app.router.routes.extend(router.routes)


STOP_SECONDS = 10.0
log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Roles:
    """Which elected background roles this process stands for."""

    expiry: bool
    relay: bool
    projector: bool
    webhooks: bool = True


@asynccontextmanager
async def _background(
    services: Services, sampler: OutboxSampler, roles: Roles
) -> AsyncIterator[None]:
    """The process's background tasks for as long as it serves."""
    settings, pool = services.settings, services.pool
    dsn, redis_stock = settings.require_database_url(), services.redis_stock
    pipeline = settings.kafka_bootstrap_servers is not None
    tasks = [asyncio.create_task(sampler.run(), name="outbox-sampler")]

    def background(role: str, work: Callable[[], Awaitable[None]]) -> None:
        elected = lead(dsn, role, lambda _conn: work())
        tasks.append(asyncio.create_task(elected, name=role))

    if roles.expiry:
        worker = ExpiryWorker(services.ledger, pool, interval=settings.expiry_interval_seconds)
        background("expiry", worker.run)
    if services.audit_key is not None:  # signed checkpoints (audit/checkpoints.py)
        checkpointer = Checkpointer(
            pool,
            services.audit_key,
            every_seconds=settings.checkpoint_every_seconds,
            every_events=settings.checkpoint_every_events,
        )
        background("checkpoints", checkpointer.run)
    if pipeline and roles.relay:  # elects its leader itself (pipeline/relay.py)
        tasks.append(asyncio.create_task(Relay(pool, settings).run(), name="outbox-relay"))
    if pipeline and roles.projector:
        background("projector", Projector(pool, settings, redis_stock).run)
        background(
            "verifier",
            functools.partial(
                run_sampler,
                pool,
                redis_stock,
                every_seconds=settings.verify_sample_seconds,
                streams=settings.verify_sample_streams,
            ),
        )
    if pipeline and settings.kafka_command_topic:  # every process joins the topic's group
        consumer = CommandConsumer(services.ledger, settings)
        tasks.append(asyncio.create_task(consumer.run(), name="command-consumer"))
    if roles.webhooks and (box := secret_box(settings)) is not None:  # elects its own leader
        dispatcher = Dispatcher(services.store, settings, box)
        tasks.append(asyncio.create_task(dispatcher.run(), name="webhooks"))
    try:
        yield
    finally:
        await _stop(tasks)


async def _stop(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel the background tasks and wait for them, at most STOP_SECONDS: a task stuck in
    its cleanup is logged by name and left behind, so the process still shuts down."""
    for task in tasks:
        task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=STOP_SECONDS)
    for task in stuck:
        log.warning("background task did not stop", task=task.get_name(), waited=STOP_SECONDS)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("background task failed", task=task.get_name(), error=repr(task.exception()))


def _operations(app: FastAPI, settings: Settings) -> None:
    """/health, /ready and /metrics."""

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["operations"],
        response_model=ReadyOut,
        responses={
            503: {"description": "not ready: `checks` says what is missing", "model": ReadyOut}
        },
    )
    async def ready(request: Request) -> Response:
        """Readiness: Postgres reachable and migrated to head (else 503); `degraded` (200) with
        the reason when Redis or Kafka is away, events are not leaving the outbox, no relay
        leader holds the lock, the projectors lag or stopped reporting, or projections drift
        or are parked."""
        checks: dict[str, Any] = {}
        services = services_of(request)
        pool = services.pool
        try:
            rows = await asyncio.wait_for(pool.fetch("SELECT version_num FROM alembic_version"), 2)
            current = frozenset(r["version_num"] for r in rows)
            checks["postgres"] = "ok"
            checks["migrations"] = "ok" if current == head_revisions() else f"at {sorted(current)}"
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            checks["postgres"] = f"unreachable: {type(error).__name__}"
        ok = all(v == "ok" for v in checks.values())
        # Redis or Kafka away: commands still land and reads fall back: degraded, not dead.
        checks.update(await redis_checks(services.redis))
        checks.update(await replica_checks(services.replica))
        if ok and settings.kafka_bootstrap_servers:
            reachable = await kafka_reachable(settings.kafka_bootstrap_servers)
            with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
                outbox = await request.app.state.outbox.sample()  # fresh, not a second old
                checks.update(await pipeline_readiness(pool, settings, outbox, reachable))
        degraded = any(v != "ok" for v in checks.values())
        status = "not-ready" if not ok else "degraded" if degraded else "ready"
        body = {"status": status, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        include_in_schema=True,
        response_class=PlainTextResponse,  # documents the Prometheus text format
    )
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
