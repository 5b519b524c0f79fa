"""Auditor exports: GET /v1/exports/events streams the events as JSONL or CSV, pinned to an
`asOfPosition`; GET /v1/exports/manifest describes the exact bytes and signs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import orjson
import structlog
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

from ..audit.event_export import MEDIA_TYPES, ExportQuery, Format, Page, Tally, manifest, pages
from ..wiring import Services
from .auth import AUDIT, Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .pinned import REPLICA_DOWN, Pinned, pinned_position
from .schemas import audit as s
from .schemas.problems import read_errors
from .schemas.wire import Boundary, CorrelationId, Id

log = structlog.get_logger()

router = APIRouter(
    prefix="/v1/exports",
    tags=["exports"],
    route_class=FastRoute,
    generate_unique_id_function=operation_id,
)

_ERRORS = read_errors(
    "role not allowed (auditor and admin only)",
    "invalid parameters, or an asOfPosition beyond what has committed",
)
Auditor = Annotated[Principal, require(AUDIT)]
FormatQuery = Annotated[Format, Query(description="`jsonl` (one envelope per line) or `csv`")]
From = Annotated[Boundary | None, Query(alias="from", description="recordedAt ≥ from")]
To = Annotated[Boundary | None, Query(description="recordedAt < to")]
AsOf = Annotated[
    int | None,
    Query(
        alias="asOfPosition",
        ge=0,
        le=2**63 - 1,
        description="only events up to this position (default: everything committed now); "
        "the same request with the same asOfPosition returns the same bytes",
    ),
]


async def export_query(
    format: FormatQuery = "jsonl",
    since: From = None,
    to: To = None,
    correlation_id: Annotated[CorrelationId | None, Query(alias="correlationId")] = None,
    order_id: Annotated[Id | None, Query(alias="orderId")] = None,
    sku: Id | None = None,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
) -> ExportQuery:
    """The query parameters of an export, shared by the export and its manifest."""
    return ExportQuery(format, since, to, correlation_id, order_id, sku, warehouse_id)


Selection = Annotated[ExportQuery, Depends(export_query)]


@router.get(
    "/events",
    responses={
        200: {
            "description": "the events in position order",
            "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES.values()},
            "headers": {"X-As-Of-Position": {"schema": {"type": "integer"}}},
        },
        **_ERRORS,
    },
    response_class=StreamingResponse,
)
async def export_events(
    services: ServicesDep, _: Auditor, query: Selection, as_of_position: AsOf = None
) -> Response:
    """Every matching event in position order, streamed (constant memory): JSONL lines are the
    envelope as the API returns it, `hash` included; CSV has a header row, then `position,
    eventId, type, streamId, version, recordedAt, schemaVersion, data, metadata, hash` with
    data and metadata as JSON text. An SKU selects its stock, reorder and item streams; a
    warehouse its stock, reorder and warehouse streams."""
    pinned = await pinned_position(services, as_of_position)
    as_of = pinned.position

    async def body() -> AsyncIterator[bytes]:
        async for page in _pages(services, pinned, query):
            yield page.data

    name = f"events-{as_of}.{query.format}"
    headers = {
        "X-As-Of-Position": str(as_of),
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return StreamingResponse(body(), media_type=MEDIA_TYPES[query.format], headers=headers)


@router.get("/manifest", response_model=s.ExportManifestOut, responses=_ERRORS)
async def export_manifest(
    services: ServicesDep, _: Auditor, query: Selection, as_of_position: AsOf = None
) -> Response:
    """The manifest of the export with the same parameters (pass the export's
    `X-As-Of-Position` as `asOfPosition`): count, first and last position, the SHA-256 of its
    exact bytes and a signature with the audit key. Reads the whole export to hash it."""
    pinned = await pinned_position(services, as_of_position)
    as_of = pinned.position
    tally = Tally()
    async for page in _pages(services, pinned, query):
        tally.add(page)
    doc = manifest(tally, as_of, datetime.now(UTC), services.audit_key)
    return Response(orjson.dumps(doc), media_type="application/json")


async def _pages(services: Services, pinned: Pinned, query: ExportQuery) -> AsyncIterator[Page]:
    """The export's pages where it is pinned. A standby that fails before the first event has
    gone out (down, restarting, a query cancelled by a replay conflict) is replaced by the
    primary at the same position, which holds the same events there: the client sees one
    export. Once events have gone out the export fails as it would on the primary (the
    response is cut short; a manifest would not match it)."""
    started = False  # an event has gone out (a CSV header alone is the same on either server)
    try:
        async for page in pages(pinned.pool, query, pinned.position):
            started = started or page.count > 0
            yield page
    except REPLICA_DOWN as error:
        if started or pinned.pool is not services.replica:
            raise
        log.warning(
            "read replica failed before the export began; reading the primary", error=repr(error)
        )
        header_sent = query.format == "csv"
        async for page in pages(services.pool, query, pinned.position):
            if header_sent and page.count == 0 and page.first is None:
                header_sent = False  # the standby already sent it
                continue
            yield page
