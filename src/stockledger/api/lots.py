"""Lot routes: the lots a stock stream holds (lot-tracked items)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..domain.stock.lots import Lot
from ..read.lots import stream_lots
from .auth import READ_HISTORY, Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .problems import Problem
from .schemas import lots as s
from .schemas.problems import READ_ERRORS, problem_answers
from .schemas.wire import Id, Instant

router = APIRouter(
    prefix="/v1", tags=["lots"], route_class=FastRoute, generate_unique_id_function=operation_id
)

LotReader = Annotated[Principal, require(READ_HISTORY)]


def lot_out(lot: Lot) -> dict[str, Any]:
    return {
        "lotId": lot.lot_id,
        "expiresOn": lot.expires_on.isoformat() if lot.expires_on else None,
        "onHand": lot.on_hand,
        "reserved": lot.reserved,
        "available": lot.available,
        "expired": lot.expired,
        "firstReceivedAt": lot.first_received_at.isoformat(),
    }


@router.get(
    "/stock/{sku}/{warehouse_id}/lots",
    response_model=s.StreamLotsOut,
    responses={**READ_ERRORS, **problem_answers((404, "never had an event (by `at`)"))},
)
async def stream_lots_route(
    sku: Id,
    warehouse_id: Id,
    services: ServicesDep,
    _: LotReader,
    at: Annotated[Instant | None, Query(description="RFC 3339: the lots as they were then")] = None,
) -> Response:
    """The lots of a lot-tracked SKU in one warehouse, in FEFO order (earliest expiry first,
    lots without one last, ties by first receipt); lots holding no units are left out. `at`:
    as they were at that instant. Folded from the event store."""
    lots = await stream_lots(services.reads, sku, warehouse_id, at)
    if lots is None:
        raise Problem(404, "not-found", f"No stock events for {sku} in {warehouse_id}")
    body = {"sku": sku, "warehouseId": warehouse_id, "lots": [lot_out(x) for x in lots]}
    return Response(orjson.dumps(body), media_type="application/json")
