"""Finance's reads: what the inventory was worth at any instant (one stream, or all of it) and
what the goods shipped in a period cost. JSON, or CSV with `Accept: text/csv`; every answer
carries the `asOfPosition` (and `X-As-Of-Position`) of the events it includes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..domain.streams import parse_stock_stream
from ..read import cost_of_goods, inventory_value
from ..reports.tables import (
    CursorError,
    columns_of,
    cursor_instant,
    decode_cursor,
    encode_cursor,
)
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .params import ReplicaConsistency
from .pinned import pinned_position
from .present import stream_value_out
from .problems import Problem
from .reports import Reader, answers, report_response, respond
from .schemas import valuation as s
from .schemas.problems import problem_answers, read_errors
from .schemas.wire import Boundary, Id

router = APIRouter(
    prefix="/v1",
    tags=["valuation"],
    route_class=FastRoute,
    generate_unique_id_function=operation_id,
)

_ERRORS = read_errors(
    "role not allowed (warehouse, auditor and admin)",
    "invalid parameters, or an asOfPosition beyond what has committed",
)
At = Annotated[
    Boundary | None,
    Query(description="the instant (RFC 3339, or a UTC date = its 00:00); default now"),
]
AsOf = Annotated[
    int | None,
    Query(
        alias="asOfPosition",
        ge=0,
        le=2**63 - 1,
        description="only events up to this position (default: everything committed now)",
    ),
]


@router.get(
    "/valuation/{sku}/{warehouse_id}",
    response_model=s.StreamValuationOut,
    responses=answers(
        s.StreamValuationOut,
        "one stream's value as of `at` (CSV: one row, without the layers)",
        {**_ERRORS, **problem_answers((404, "the stream had no event by then"))},
        paged=False,
    ),
)
async def stream_valuation(
    sku: Id,
    warehouse_id: Id,
    request: Request,
    services: ServicesDep,
    _: Reader,
    at: At = None,
    as_of_position: AsOf = None,
    consistency: ReplicaConsistency = "eventual",
) -> Response:
    """What one SKU in one warehouse was worth at `at`: its method, onHand and value, the
    average unit cost, the value in transit to it and of its damaged stock, and (FIFO) the
    cost layers on hand, oldest first. Folded from the stream's events up to `asOfPosition`
    (default: everything committed now; a read replica's answer: what it has replayed)."""
    when = at or datetime.now(UTC)
    pinned = await pinned_position(
        services, as_of_position, "a valuation", standby=consistency == "eventual"
    )
    as_of = pinned.position
    # The primary, asked for now, folds every event of the stream (a 201 just answered counts
    # even while an older transaction holds the horizon); a standby or an asOfPosition: up to it.
    everything = as_of_position is None and pinned.pool is services.pool
    state = await inventory_value.stream_valuation(
        pinned.reads(services), sku, warehouse_id, when, through=None if everything else as_of
    )
    if state is None:
        raise Problem(404, "not-found", f"No stock events for {sku} in {warehouse_id} by {when}")
    body = stream_value_out(state, when)
    columns = tuple(c for c in columns_of(body) if c != "layers")  # CSV: the stream's one row
    name = f"valuation-{sku}-{warehouse_id}"
    return respond(request, body, [body], columns, as_of, filename=name)


@router.get(
    "/valuation",
    response_model=s.InventoryValuationOut,
    responses=answers(s.InventoryValuationOut, "the whole inventory as of `at`", _ERRORS),
)
async def inventory_valuation(
    request: Request,
    services: ServicesDep,
    _: Reader,
    at: At = None,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_-]{1,2048}$", description="`next` of a page (opaque)"),
    ] = None,
    as_of_position: AsOf = None,
) -> Response:
    """Every SKU in every warehouse with stock or value at `at`: onHand, value, unitCost,
    inTransit(Value), damaged(Value); `totals` over all of them (not just this page). One
    set-based query over the per-event value deltas. Paged by `next` (rows in byte order of
    `stock:{sku}:{warehouseId}`), which keeps the first page's `at`, asOfPosition and totals,
    so a walk reads one ledger; later pages sum only their own streams. CSV gives the page's
    rows."""
    if after is None:
        when = at or datetime.now(UTC)
        as_of, pool = await pinned_position(services, as_of_position, "a valuation")
        found = await inventory_value.inventory(
            pool, when, as_of, warehouse_id=warehouse_id, limit=limit
        )
        rows, totals, last = found.rows, found.totals, found.next
    else:
        stream, as_of, when, totals = _resume(after, at, as_of_position)
        rows, last = await inventory_value.inventory_page(
            services.pool, when, as_of, warehouse_id=warehouse_id, after=stream, limit=limit
        )
    cursor = None
    if last is not None:
        cursor = encode_cursor(
            INVENTORY_CURSOR, last, as_of, when.isoformat(), orjson.dumps(totals).decode()
        )
    head = {"at": when.isoformat(), "totals": totals}
    return report_response(
        request, head, rows, inventory_value.INVENTORY_COLUMNS, as_of, cursor, "valuation"
    )


INVENTORY_CURSOR = "valuation"


def _resume(
    after: str, at: datetime | None, as_of_position: int | None
) -> tuple[str, int, datetime, dict[str, Any]]:
    """A later page's stream id, asOfPosition, instant and totals, from its cursor; 422 when
    it is not one, or the parameters ask for another instant or position than it holds."""
    try:
        stream, as_of, moment, totals_json = decode_cursor(
            INVENTORY_CURSOR, after, (str, int, str, str)
        )
        parse_stock_stream(stream)
        when = cursor_instant(moment)
        totals = orjson.loads(totals_json)
        if not isinstance(totals, dict):
            raise ValueError("not a cursor of this listing")
    except (CursorError, ValueError):
        raise Problem(422, "validation-error", "after is not a `next` of this listing") from None
    for name, given, held in (("at", at, when), ("asOfPosition", as_of_position, as_of)):
        if given is not None and given != held:
            raise Problem(
                422, "validation-error", f"after is a cursor of {name} {held}, not {given}"
            )
    return stream, as_of, when, totals


@router.get(
    "/reports/cogs",
    response_model=s.CogsReportOut,
    responses=answers(s.CogsReportOut, "cost of goods sold", _ERRORS, paged=False),
)
async def cogs_report(
    request: Request,
    services: ServicesDep,
    _: Reader,
    since: Annotated[Boundary, Query(alias="from", description="recordedAt ≥ from")],
    until: Annotated[Boundary, Query(alias="to", description="recordedAt < to")],
    sku: Id | None = None,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    as_of_position: AsOf = None,
) -> Response:
    """Per SKU and warehouse: units shipped in [from, to), what they cost (the costs their
    shipments recorded) and the losses at cost by reason (damage, expiry, theft,
    physical_count, system_correction, lost_in_transit, disposed); with totals."""
    if since >= until:
        raise Problem(422, "validation-error", "from must be before to")
    as_of, pool = await pinned_position(services, as_of_position, "a valuation")
    body = await cost_of_goods.cogs(pool, since, until, as_of, sku=sku, warehouse_id=warehouse_id)
    body = {"from": since.isoformat(), "to": until.isoformat(), **body, "asOfPosition": as_of}
    return respond(request, body, body["rows"], cost_of_goods.COGS_COLUMNS, as_of, filename="cogs")
