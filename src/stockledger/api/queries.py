"""Query routes: stock levels, time travel, history, reservations, audit trails, global feed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import StockLevel, StockState
from ..domain.streams import like_prefix, reservation_stream, stock_stream
from ..store.rows import RecordedEvent
from . import schemas as s
from .auth import AUDIT, READ_HISTORY, READ_RESERVATIONS, READ_STOCK, Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .present import events_out, history_out, reservation_out, stock_out, totals_out
from .problems import Problem

router = APIRouter(prefix="/v1", tags=["queries"], route_class=FastRoute)

_ERRORS = s.problem_answers(
    (401, "no or unknown API key"),
    (403, "role not allowed"),
    (404, "never had an event"),
    (422, "invalid parameters"),
    (503, "database unreachable"),
)

Limit = Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")]
Position = Annotated[int, Query(ge=0, le=2**63 - 1, description="global position cursor")]


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _page(events: list[RecordedEvent], limit: int) -> dict[str, Any]:
    return {
        "events": events_out(events),
        "next": str(events[-1].position) if len(events) == limit else None,
    }


@router.get("/stock", response_model=s.StockListOut, responses=_ERRORS)
async def stock_listing(
    services: ServicesDep,
    _: Annotated[Principal, require(READ_STOCK)],
    warehouse_id: Annotated[s.Id | None, Query(alias="warehouseId")] = None,
    sku_prefix: Annotated[
        str | None, Query(alias="skuPrefix", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    ] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            description="the `next` of the previous page (`sku:warehouseId`)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")] = 100,
    low_stock: Annotated[
        bool, Query(alias="lowStock", description="only the levels with an open low-stock alert")
    ] = False,
) -> Response:
    """Every stock level, keyset-paged, in the order of `sku:warehouseId` (bytes); by
    warehouse and SKU prefix, and with `lowStock=true` only those with an open alert. From the
    Postgres read models when the pipeline runs (`X-Stock-Source: postgres`), else folded from
    the event store."""
    cursor, prefix = f"stock:{after or ''}", sku_prefix or ""
    if services.projected is not None:
        levels = await services.projected.listing(prefix, warehouse_id, cursor, limit, low_stock)
        source = "postgres"
    elif low_stock:
        levels, source = (
            await _low_stock(services, prefix, warehouse_id, after, limit),
            "event-store",
        )
    else:
        levels = await services.reader.listing(prefix, warehouse_id, cursor, limit)
        source = "event-store"
    last = levels[-1] if len(levels) == limit else None
    body = {
        "levels": [stock_out(x) for x in levels],
        "next": f"{last.sku}:{last.warehouse_id}" if last else None,
    }
    return _json(body, {"X-Stock-Source": source})


async def _low_stock(
    services: ServicesDep, prefix: str, warehouse_id: str | None, after: str | None, limit: int
) -> list[StockLevel]:
    """The levels with an open alert, from the store: the reorder streams in order (a loose
    index scan), folded, those with an open alert kept, then their stock levels (a rule on a
    stream without stock events alerts with no level to list: the page fills on)."""
    pattern, cursor = like_prefix(f"reorder:{prefix}"), f"reorder:{after or ''}"
    found: list[StockLevel] = []
    while len(found) < limit:
        streams = await services.reader.streams_after(pattern, cursor, limit)
        states = await services.loader.load(streams) if streams else {}
        alerting = [
            stock_stream(state.sku, state.warehouse_id)
            for state in (states[s] for s in streams)
            if isinstance(state, ReorderState)
            and state.alert_id is not None
            and warehouse_id in (None, state.warehouse_id)
        ]
        found += await services.reader.levels(alerting) if alerting else []
        if len(streams) < limit:
            break
        cursor = streams[-1]
    return found[:limit]


@router.get("/stock/{sku}/{warehouse_id}", response_model=s.StockOut, responses=_ERRORS)
async def stock_level(
    sku: s.Id,
    warehouse_id: s.Id,
    services: ServicesDep,
    _: Annotated[Principal, require(READ_STOCK)],
    consistency: Annotated[
        Literal["eventual", "strong"], Query(description="`strong` folds the event store")
    ] = "eventual",
) -> Response:
    """Levels of one SKU in one warehouse; ETag is the stream version.

    Read from Redis, else the Postgres read model, else (or with `consistency=strong`) the
    event store. `X-Stock-Source` names the source; `X-Projected-At` says when a projection
    last wrote the row, so a client can judge its freshness."""
    headers: dict[str, str] = {}
    level: StockLevel | None = None
    if consistency == "eventual" and services.projected is not None:
        found = await services.projected.level(sku, warehouse_id)
        if found is not None:
            projected, source = found
            level = projected.level
            headers = {
                "X-Stock-Source": source,
                "X-Projected-At": projected.projected_at.isoformat(),
            }
    if level is None and consistency == "strong":
        stream = stock_stream(sku, warehouse_id)
        state = (await services.loader.load([stream]))[stream]
        level = state.level if isinstance(state, StockState) and state.version else None
    elif level is None:
        level = await services.reader.level(sku, warehouse_id)
    if level is None:
        raise Problem(404, "not-found", f"No stock events for {sku} in {warehouse_id}")
    headers.setdefault("X-Stock-Source", "event-store")
    return _json(
        stock_out(level),
        {**headers, "ETag": f'"{level.version}"', "X-Projection-Version": str(level.version)},
    )


@router.get("/stock/{sku}", response_model=s.SkuStockOut, responses=_ERRORS)
async def sku_stock(
    sku: s.Id, services: ServicesDep, _: Annotated[Principal, require(READ_STOCK)]
) -> Response:
    """One SKU across every warehouse, with totals (projections first, like a single level)."""
    levels: list[StockLevel] = []
    source = "event-store"
    if services.projected is not None:
        projected, source = await services.projected.sku_levels(sku)
        levels = [x.level for x in projected]
    if not levels:
        levels, source = await services.reader.sku_levels(sku), "event-store"
    if not levels:
        raise Problem(404, "not-found", f"No stock events for {sku}")
    body = {"sku": sku, "warehouses": [stock_out(x) for x in levels], "totals": totals_out(levels)}
    return _json(body, {"X-Stock-Source": source})


@router.get(
    "/stock/{sku}/{warehouse_id}/at",
    response_model=s.StockOut,
    responses=_ERRORS,
    openapi_extra={"parameters": [s.TIME_TRAVEL_PARAMETER]},
)
async def stock_at(
    sku: s.Id,
    warehouse_id: s.Id,
    services: ServicesDep,
    _: Annotated[Principal, require(READ_HISTORY)],
    timestamp: Annotated[s.Instant | None, Query(include_in_schema=False)] = None,
    version: Annotated[s.StreamVersion | None, Query(include_in_schema=False)] = None,
) -> Response:
    """Time travel: the levels as they were at `timestamp`, or right after `version`."""
    if (timestamp is None) == (version is None):
        raise Problem(422, "validation-error", "Give exactly one of timestamp or version")
    level = await services.reader.level(sku, warehouse_id, version=version, until=timestamp)
    if level is None or (version is not None and level.version < version):
        raise Problem(404, "not-found", f"{sku} in {warehouse_id} had no events by then")
    return _json(stock_out(level), {"ETag": f'"{level.version}"'})


@router.get(
    "/stock/{sku}/{warehouse_id}/history",
    response_model=s.HistoryOut,
    responses=_ERRORS,
    openapi_extra={"parameters": [s.EVENT_TYPES_PARAMETER]},
)
async def stock_history(
    sku: s.Id,
    warehouse_id: s.Id,
    services: ServicesDep,
    _: Annotated[Principal, require(READ_HISTORY)],
    from_: Annotated[s.Instant | None, Query(alias="from", description="recordedAt ≥ from")] = None,
    to: Annotated[s.Instant | None, Query(description="recordedAt ≤ to")] = None,
    types: Annotated[str | None, Query(include_in_schema=False)] = None,
    limit: Limit = 100,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="version cursor (`next`)")] = 0,
) -> Response:
    """Events in version order, each with the balance right after it."""
    try:
        wanted = s.event_types(types) if types is not None else None
    except ValueError as error:
        raise Problem(422, "validation-error", f"types: {error}") from None
    if await services.reader.level(sku, warehouse_id) is None:
        raise Problem(404, "not-found", f"No stock events for {sku} in {warehouse_id}")
    entries = await services.reader.history(
        sku, warehouse_id, after_version=after, types=wanted, since=from_, until=to, limit=limit
    )
    more = len(entries) == limit
    return _json(
        {"events": history_out(entries), "next": str(entries[-1].event.version) if more else None}
    )


@router.get("/reservations/{reservation_id}", response_model=s.ReservationOut, responses=_ERRORS)
async def reservation(
    reservation_id: s.Id,
    services: ServicesDep,
    _: Annotated[Principal, require(READ_RESERVATIONS)],
    consistency: Annotated[
        Literal["eventual", "strong"], Query(description="`strong` folds the event store")
    ] = "eventual",
) -> Response:
    """A reservation's status, expiry and lines; ETag is the stream version.

    Read from the Postgres read model, else (no row yet, or with `consistency=strong`) folded
    from the event store, like a stock level. `X-Reservation-Source` names the source
    (`postgres` or `event-store`); `X-Projected-At` says when a projection last wrote the row."""
    headers: dict[str, str] = {}
    state: ReservationState | None = None
    if consistency == "eventual" and services.projected is not None:
        found = await services.projected.reservation(reservation_id)
        if found is not None:
            state, projected_at = found
            headers = {
                "X-Reservation-Source": "postgres",
                "X-Projected-At": projected_at.isoformat(),
            }
    if state is None:
        stream = reservation_stream(reservation_id)
        folded = (await services.loader.load([stream]))[stream]
        state = folded if isinstance(folded, ReservationState) and folded.version else None
    if state is None:
        raise Problem(404, "not-found", f"Reservation {reservation_id} not found")
    headers.setdefault("X-Reservation-Source", "event-store")
    return _json(
        reservation_out(state),
        {**headers, "ETag": f'"{state.version}"', "X-Projection-Version": str(state.version)},
    )


@router.get("/correlations/{correlation_id}/events", response_model=s.EventsOut, responses=_ERRORS)
async def correlation_events(
    correlation_id: s.CorrelationId,
    services: ServicesDep,
    _: Annotated[Principal, require(AUDIT)],
    after: Position = 0,
    limit: Limit = 1000,
) -> Response:
    """Every event with this correlation id, across streams, in position order."""
    return _json(_page(await services.store.read_correlation(correlation_id, after, limit), limit))


@router.get("/orders/{order_id}/events", response_model=s.EventsOut, responses=_ERRORS)
async def order_events(
    order_id: s.Id,
    services: ServicesDep,
    _: Annotated[Principal, require(AUDIT)],
    after: Position = 0,
    limit: Limit = 1000,
) -> Response:
    """Every event about this order (reservations, shipments, returns), in position order."""
    return _json(_page(await services.store.read_order(order_id, after, limit), limit))


@router.get("/events", response_model=s.EventsOut, responses=_ERRORS)
async def all_events(
    services: ServicesDep,
    _: Annotated[Principal, require(AUDIT)],
    after: Position = 0,
    limit: Limit = 100,
) -> Response:
    """The global feed in position order; never skips an event that commits late."""
    return _json(_page(await services.store.read_all(after, limit), limit))
