"""Audit routes: recompute the hash chains and checkpoints; list the signed checkpoints."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import StringConstraints

from ..audit.checkpoints import list_checkpoints
from ..audit.integrity import verify_integrity
from .auth import AUDIT, Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .schemas import audit as s
from .schemas.problems import READ_ERRORS

router = APIRouter(
    prefix="/v1/audit",
    tags=["audit"],
    route_class=FastRoute,
    generate_unique_id_function=operation_id,
)

_ERRORS = READ_ERRORS

Auditor = Annotated[Principal, require(AUDIT)]
StreamId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]+(:[A-Za-z0-9][A-Za-z0-9._-]{0,63}){1,2}$"),
    Query(description="only this stream's chain, e.g. `stock:SKU-1:WH-A` (no checkpoints)"),
]


@router.get("/verify", response_model=s.AuditReportOut, responses=_ERRORS)
async def verify_ledger(
    services: ServicesDep, _: Auditor, stream: StreamId | None = None
) -> Response:
    """Recompute every hash chain and every signed checkpoint (or one stream's chain).

    200 either way: `ok` says whether everything verified, `breaks` names the stream and
    version (or the checkpoint) of each stream's first break. Reads the whole store: slow on a
    large ledger."""
    report = await verify_integrity(services.pool, services.audit_key, stream)
    return Response(orjson.dumps(report.out()), media_type="application/json")


@router.get("/checkpoints", response_model=s.CheckpointsOut, responses=_ERRORS)
async def checkpoints(
    services: ServicesDep,
    _: Auditor,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="checkpoint id cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")] = 100,
) -> Response:
    """The signed checkpoints, oldest first."""
    found = await list_checkpoints(services.pool, after, limit)
    body = {
        "checkpoints": [c.out() for c in found],
        "next": str(found[-1].id) if len(found) == limit else None,
    }
    return Response(orjson.dumps(body), media_type="application/json")
