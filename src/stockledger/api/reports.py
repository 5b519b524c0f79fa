"""Report routes (GET /v1/reports/...) and what every report shares.

A report route takes `Reader` (warehouse, auditor, admin), `Window` (from,
to, limit, after, asOfPosition), pins its read with `pinned(...)`, and answers with
`report_response(...)`: JSON `{..., asOfPosition, rows, next}`, or CSV when the client accepts
`text/csv` (a header row, nested fields flattened with a dot, the same rows), with
`X-As-Of-Position` either way and, on CSV, `X-Next-Cursor` when another page follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..domain.streams import parse_stock_stream
from ..reports.movements import COLUMNS as MOVEMENT_COLUMNS
from ..reports.movements import MovementQuery, RowKey, movement_page
from ..reports.periods import Granularity, PeriodError
from ..reports.tables import (
    CursorError,
    csv_bytes,
    cursor_instant,
    decode_cursor,
    encode_cursor,
)
from ..reports.turnover import COLUMNS as TURNOVER_COLUMNS
from ..reports.turnover import TurnoverQuery, turnover_page
from .auth import READ_REPORTS, Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .pinned import Pinned, pinned_position
from .problems import Problem
from .schemas import reports as s
from .schemas.headers import AS_OF_POSITION, NEXT_CURSOR
from .schemas.problems import problem_answers
from .schemas.wire import Boundary, Id, Out

router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    route_class=FastRoute,
    generate_unique_id_function=operation_id,
)

Reader = Annotated[Principal, require(READ_REPORTS)]
CSV = "text/csv; charset=utf-8"
ERRORS = problem_answers(
    (401, "no or unknown API key"),
    (403, "role not allowed (warehouse, auditor and admin)"),
    (
        422,
        "invalid parameters: a malformed date, from not before to, too many periods, a cursor "
        "this server did not hand out, or an asOfPosition beyond what has committed",
    ),
    (503, "database unreachable"),
)


@dataclass(frozen=True, slots=True)
class ReportWindow:
    """The parameters every report takes."""

    since: datetime
    until: datetime
    limit: int
    after: str | None
    as_of_position: int | None


async def report_window(
    since: Annotated[Boundary, Query(alias="from", description="the window's start (inclusive)")],
    until: Annotated[Boundary, Query(alias="to", description="the window's end (exclusive)")],
    limit: Annotated[int, Query(ge=1, le=1000, description="rows per page, max 1000")] = 100,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9_-]{1,1024}$",
            description="the `next` of the previous page (opaque)",
        ),
    ] = None,
    as_of_position: Annotated[
        int | None,
        Query(
            alias="asOfPosition",
            ge=0,
            le=2**63 - 1,
            description="only events up to this position (default: everything committed now, "
            "or the cursor's); the same asOfPosition gives the same figures",
        ),
    ] = None,
) -> ReportWindow:
    return ReportWindow(since, until, limit, after, as_of_position)


Window = Annotated[ReportWindow, Depends(report_window)]


async def pinned(services: ServicesDep, window: ReportWindow, cursor_as_of: int | None) -> Pinned:
    """The asOfPosition of this page: the parameter, else the cursor's (every page of a walk
    reads the same events), else the commit horizon now; 422 when the two disagree or it is
    beyond the horizon."""
    wanted = window.as_of_position
    if wanted is not None and cursor_as_of is not None and wanted != cursor_as_of:
        raise Problem(
            422,
            "validation-error",
            f"after is a cursor of asOfPosition {cursor_as_of}, not {wanted}",
        )
    return await pinned_position(services, cursor_as_of if wanted is None else wanted, "a report")


def wants_csv(accept: str | None) -> bool:
    """Whether `Accept` prefers `text/csv` to JSON (q-values honoured; JSON by default)."""
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *options = (x.strip() for x in part.split(";"))
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    csv_q = weights.get("text/csv", 0.0)
    json_q = max(weights.get(m, 0.0) for m in ("application/json", "application/*", "*/*"))
    return csv_q > 0 and csv_q >= json_q


def respond(
    request: Request,
    body: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    as_of: int,
    *,
    next_cursor: str | None = None,
    filename: str | None = None,
) -> Response:
    """`body` as JSON, or `rows` as CSV with `columns` when the client accepts text/csv (named
    `filename-{asOfPosition}.csv` for a download when given); `X-As-Of-Position` either way
    and, on CSV, `X-Next-Cursor` when another page follows."""
    headers = {"X-As-Of-Position": str(as_of), "Vary": "Accept"}
    if wants_csv(request.headers.get("accept")):
        if next_cursor is not None:
            headers["X-Next-Cursor"] = next_cursor
        if filename is not None:
            headers["Content-Disposition"] = f'attachment; filename="{filename}-{as_of}.csv"'
        return Response(csv_bytes(rows, columns), media_type=CSV, headers=headers)
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def report_response(
    request: Request,
    head: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    as_of: int,
    next_cursor: str | None,
    filename: str | None = None,
) -> Response:
    """A page of a report: JSON `{head fields, asOfPosition, rows, next}`, or its rows as CSV."""
    body = {**head, "asOfPosition": as_of, "rows": rows, "next": next_cursor}
    return respond(request, body, rows, columns, as_of, next_cursor=next_cursor, filename=filename)


def answers(
    model: type[Out],
    what: str,
    errors: dict[int | str, dict[str, Any]] = ERRORS,
    *,
    paged: bool = True,
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of a report route: `model` as JSON or its rows as CSV, the headers."""
    headers = {"X-As-Of-Position": AS_OF_POSITION}
    if paged:
        headers["X-Next-Cursor"] = NEXT_CURSOR
    return {
        200: {
            "description": what,
            "model": model,
            "content": {CSV: {"schema": {"type": "string"}}},
            "headers": headers,
        },
        **errors,
    }


# -- movements ---------------------------------------------------------------------------------


MOVEMENTS_CURSOR = "movements"


def _resume(after: str | None) -> tuple[RowKey | None, int | None]:
    if after is None:
        return None, None
    try:
        stream_id, period_start, as_of = decode_cursor(MOVEMENTS_CURSOR, after, (str, str, int))
        parse_stock_stream(stream_id)
        key = RowKey(stream_id, cursor_instant(period_start))
    except (CursorError, ValueError):
        raise Problem(422, "validation-error", "after is not a cursor of this report") from None
    return key, as_of


@router.get(
    "/movements",
    response_model=s.MovementReportOut,
    responses=answers(s.MovementReportOut, "the rows, in (stream id, period) order"),
)
async def movements(
    request: Request,
    services: ServicesDep,
    _: Reader,
    window: Window,
    granularity: Annotated[
        Granularity, Query(description="UTC days, ISO weeks (from Monday) or calendar months")
    ] = "day",
    sku: Annotated[Id | None, Query(description="only this SKU's streams")] = None,
    warehouse_id: Annotated[
        Id | None, Query(alias="warehouseId", description="only this warehouse's streams")
    ] = None,
) -> Response:
    """Stock movements per (period, sku, warehouseId): the opening levels, what moved them by
    kind, and the closing levels, for every stock stream with an event, or with stock, in the
    period. `closing.onHand = opening.onHand + received - shipped + returnedResellable +
    transferredIn - transferredOut + adjustedUp - adjustedDown`; a period's closing is the next
    one's opening. The first and last periods are clipped to [from, to). Rows are ordered by
    stream id bytes (`stock:{sku}:{warehouseId}`), then period; at most 400 periods."""
    try:
        query = MovementQuery(window.since, window.until, granularity, sku, warehouse_id)
    except PeriodError as error:
        raise Problem(422, "validation-error", str(error)) from None
    after, cursor_as_of = _resume(window.after)
    as_of, pool = await pinned(services, window, cursor_as_of)
    rows, last = await movement_page(pool, query, as_of, window.limit, after)
    cursor = None
    if last is not None:
        cursor = encode_cursor(
            MOVEMENTS_CURSOR, last.stream_id, last.period_start.isoformat(), as_of
        )
    head = {
        "from": window.since.isoformat(),
        "to": window.until.isoformat(),
        "granularity": granularity,
    }
    return report_response(request, head, rows, MOVEMENT_COLUMNS, as_of, cursor)


# -- turnover ----------------------------------------------------------------------------------


TURNOVER_CURSOR = "turnover"


@router.get(
    "/turnover",
    response_model=s.TurnoverReportOut,
    responses=answers(s.TurnoverReportOut, "the rows, in SKU (byte) order"),
)
async def turnover(
    request: Request,
    services: ServicesDep,
    _: Reader,
    window: Window,
    warehouse_id: Annotated[
        Id | None, Query(alias="warehouseId", description="only this warehouse's stock")
    ] = None,
    sku: Annotated[Id | None, Query(description="only this SKU")] = None,
) -> Response:
    """Per SKU (over all its warehouses, or the one asked for) in [from, to): unitsShipped,
    averageOnHand (time-weighted: each level counts for as long as it held), turnover =
    unitsShipped / averageOnHand, daysOfInventory = days / turnover, costOfGoodsSold,
    averageInventoryValue (time-weighted value on hand) and valueTurnover = costOfGoodsSold /
    averageInventoryValue. Exact decimals as strings; a ratio over 0 is null. A window that
    ends in the future ends now (the answer's `to`: pass it back with asOfPosition to get the
    same figures). Every SKU with stock or a stock event in the window has a row."""
    after, until = "", min(window.until, datetime.now(UTC))
    cursor_as_of: int | None = None
    if window.after is not None:
        try:
            after, cursor_as_of, ended = decode_cursor(
                TURNOVER_CURSOR, window.after, (str, int, str)
            )
            until = min(window.until, cursor_instant(ended))
        except (CursorError, ValueError):
            raise Problem(422, "validation-error", "after is not a cursor of this report") from None
    try:
        query = TurnoverQuery(window.since, until, sku, warehouse_id)
    except ValueError:
        raise Problem(422, "validation-error", "from must be before to and before now") from None
    as_of, pool = await pinned(services, window, cursor_as_of)
    rows, last = await turnover_page(pool, query, as_of, window.limit, after)
    cursor = (
        None if last is None else encode_cursor(TURNOVER_CURSOR, last, as_of, until.isoformat())
    )
    return report_response(request, query.head(), rows, TURNOVER_COLUMNS, as_of, cursor)
