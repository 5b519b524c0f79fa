"""Tracked stock's routes: the lots of a stream, the expiring lots, a lot's recall, a serial's
history. Read by `warehouse`, `auditor` and `admin`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..domain.stock.lots import Lot
from ..read.lots import expiring_lots, stream_lots
from ..read.recall import MOVEMENT_COLUMNS, lot_recall, serial_history
from ..reports.tables import csv_bytes
from .auth import READ_HISTORY, Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .problems import Problem
from .reports import CSV, wants_csv
from .schemas import lots as s
from .schemas.problems import READ_ERRORS, problem_answers
from .schemas.wire import Id, Instant, IsoDate

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


LOT_COLUMNS = (
    "expiresOn",
    "sku",
    "warehouseId",
    "lotId",
    "onHand",
    "reserved",
    "available",
    "expired",
    "firstReceivedAt",
)


@router.get("/lots", response_model=s.ExpiringLotsOut, responses=READ_ERRORS)
async def expiring_lots_route(
    request: Request,
    services: ServicesDep,
    _: LotReader,
    expires_before: Annotated[
        IsoDate | None,
        Query(alias="expiresBefore", description="only lots expiring before this date"),
    ] = None,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    sku: Id | None = None,
    after: Annotated[
        str | None,
        Query(
            description="`next` of the previous page: expiresOn:sku:warehouseId:lotId",
            pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}:[^:]+:[^:]+:[^:]+$",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")] = 100,
) -> Response:
    """Lots still holding units (onHand, reserved or expired), by expiry date, then sku,
    warehouse and lot; JSON, or CSV with `Accept: text/csv` (`X-Next-Cursor` then)."""
    cursor = None
    if after is not None:
        day, cursor_sku, cursor_wh, cursor_lot = after.split(":")
        try:
            cursor = (date.fromisoformat(day), cursor_sku, cursor_wh, cursor_lot)
        except ValueError as error:
            raise Problem(422, "validation-error", f"after: {error}") from error
    rows = await expiring_lots(services.pool, expires_before, warehouse_id, sku, cursor, limit)
    lots = [
        {
            "expiresOn": r["expires_on"].isoformat(),
            "sku": r["sku"],
            "warehouseId": r["warehouse_id"],
            "lotId": r["lot_id"],
            "onHand": r["on_hand"],
            "reserved": r["reserved"],
            "available": r["on_hand"] - r["reserved"] - r["quality_control"],
            "expired": r["expired"],
            "firstReceivedAt": r["first_received_at"].isoformat(),
        }
        for r in rows
    ]
    last = lots[-1] if len(lots) == limit else None
    next_cursor = (
        f"{last['expiresOn']}:{last['sku']}:{last['warehouseId']}:{last['lotId']}" if last else None
    )
    if wants_csv(request.headers.get("accept")):
        headers = {"Vary": "Accept", **({"X-Next-Cursor": next_cursor} if next_cursor else {})}
        return Response(csv_bytes(lots, LOT_COLUMNS), media_type=CSV, headers=headers)
    body = {"lots": lots, "next": next_cursor}
    return Response(orjson.dumps(body), media_type="application/json", headers={"Vary": "Accept"})


@router.get(
    "/lots/{sku}/{lot_id}/trail",
    response_model=s.RecallOut,
    responses={**READ_ERRORS, **problem_answers((404, "no event names that lot"))},
)
async def lot_trail(
    sku: Id, lot_id: Id, request: Request, services: ServicesDep, _: LotReader
) -> Response:
    """The recall of a lot: where it came from, every order it shipped to, what came back,
    moved or was adjusted, where the rest is now, the open reservations holding it, and
    `balanced` (every unit received is accounted for). With `Accept: text/csv`, one row per
    movement (a transfer is two: out of the source, into the destination), the spreadsheet a
    food-safety recall asks for. One indexed query path, pinned at `asOfPosition`."""
    found = await lot_recall(services.pool, services.loader, sku, lot_id)
    if found is None:
        raise Problem(404, "not-found", f"No event names lot {lot_id} of {sku}")
    body, movements = found
    headers = {"X-As-Of-Position": str(body["asOfPosition"]), "Vary": "Accept"}
    if wants_csv(request.headers.get("accept")):
        headers["Content-Disposition"] = f'attachment; filename="recall-{sku}-{lot_id}.csv"'
        return Response(csv_bytes(movements, MOVEMENT_COLUMNS), media_type=CSV, headers=headers)
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


@router.get(
    "/serials/{sku}/{serial}",
    response_model=s.SerialOut,
    responses={**READ_ERRORS, **problem_answers((404, "no event names that serial"))},
)
async def serial_route(sku: Id, serial: Id, services: ServicesDep, _: LotReader) -> Response:
    """Where a serial is (in_stock, in_transit, shipped, lost, removed) and every event that
    moved it."""
    found = await serial_history(services.pool, sku, serial)
    if found is None:
        raise Problem(404, "not-found", f"No event names serial {serial} of {sku}")
    return Response(orjson.dumps(found), media_type="application/json")
