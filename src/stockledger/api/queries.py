"""Query routes: stock levels, time travel, history, reservations, audit trails, global feed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..read import history, kits, levels, listing, reservations, trails
from .auth import AUDIT, READ_HISTORY, READ_RESERVATIONS, READ_STOCK, Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .params import Limit, PairAfter, ReplicaConsistency
from .pinned import on_replica
from .present import (
    events_page_out,
    history_out,
    kit_level_out,
    reservation_out,
    source_headers,
    stock_out,
    totals_out,
)
from .problems import Problem
from .schemas import headers as h
from .schemas import stock as s
from .schemas.kits import KitStockOut
from .schemas.ledger import ReservationOut, StockOut
from .schemas.problems import READ_ERRORS, problem_answers
from .schemas.wire import CorrelationId, Id, Instant, StreamVersion

router = APIRouter(
    prefix="/v1", tags=["queries"], route_class=FastRoute, generate_unique_id_function=operation_id
)

_LIST_ERRORS = READ_ERRORS
_ERRORS = {**_LIST_ERRORS, **problem_answers((404, "never had an event"))}

StockReader = Annotated[Principal, require(READ_STOCK)]
HistoryReader = Annotated[Principal, require(READ_HISTORY)]
ReservationReader = Annotated[Principal, require(READ_RESERVATIONS)]
Auditor = Annotated[Principal, require(AUDIT)]
Position = Annotated[int, Query(ge=0, le=2**63 - 1, description="global position cursor")]


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


@router.get("/stock", response_model=s.StockListOut, responses={**h.LISTED, **_LIST_ERRORS})
async def stock_listing(
    services: ServicesDep,
    _: StockReader,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    sku_prefix: Annotated[
        str | None, Query(alias="skuPrefix", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    ] = None,
    after: PairAfter = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")] = 100,
    low_stock: Annotated[
        bool, Query(alias="lowStock", description="only the levels with an open low-stock alert")
    ] = False,
) -> Response:
    """Every stock level, keyset-paged, in the order of `sku:warehouseId` (bytes); by
    warehouse and SKU prefix, and with `lowStock=true` only those with an open alert. From the
    Postgres read models when the pipeline runs (`X-Stock-Source: postgres`), else folded from
    the event store."""
    page, source = await listing.stock_page(
        services.reads, sku_prefix or "", warehouse_id, after, limit, low_stock
    )
    last = page.rows[-1] if page.more else None
    body = {
        "levels": [stock_out(x) for x in page.rows],
        "next": f"{last.sku}:{last.warehouse_id}" if last else None,
    }
    return _json(body, source_headers(source))


@router.get(
    "/stock/{sku}/{warehouse_id}",
    response_model=StockOut | KitStockOut,
    responses={
        200: {
            "headers": {
                "ETag": h.ETAG,
                "X-Stock-Source": h.STOCK_SOURCE,
                "X-Projected-At": h.PROJECTED_AT,
                "X-Projection-Version": h.PROJECTION_VERSION,
            }
        },
        **_ERRORS,
    },
)
async def stock_level(
    sku: Id,
    warehouse_id: Id,
    services: ServicesDep,
    _: StockReader,
    consistency: Annotated[
        Literal["eventual", "strong"], Query(description="`strong` folds the event store")
    ] = "eventual",
) -> Response:
    """Levels of one SKU in one warehouse; ETag is the stream version. For a kit SKU:
    `{sku, warehouseId, kit: true, available, components}` (KitStockOut), the whole kits its
    components' available units make, beside each component's level; its ETag and
    X-Projection-Version are the kit's version, X-Stock-Source the least fresh source of a
    component.

    Read from Redis, else the Postgres read model, else (or with `consistency=strong`) the
    event store. `X-Stock-Source` names the source; `X-Projected-At` says when a projection
    last wrote the row, so a client can judge its freshness."""
    found = await levels.level(services.reads, sku, warehouse_id, consistency)
    if found is None:
        # A kit holds no stock, so its stream has no events: what it makes is its components'.
        if (kit := await kits.kit(services.reads, sku)) is not None:
            made = await kits.kit_level(services.reads, kit, warehouse_id, consistency)
            tag = {"ETag": f'"{kit.version}"', "X-Projection-Version": str(kit.version)}
            return _json(kit_level_out(made), {**source_headers(made.source), **tag})
        raise Problem(404, "not-found", f"No stock events for {sku} in {warehouse_id}")
    level, source = found
    return _json(
        stock_out(level),
        {
            **source_headers(source),
            "ETag": f'"{level.version}"',
            "X-Projection-Version": str(level.version),
        },
    )


@router.get("/stock/{sku}", response_model=s.SkuStockOut, responses={**h.LISTED, **_ERRORS})
async def sku_stock(sku: Id, services: ServicesDep, _: StockReader) -> Response:
    """One SKU across every warehouse, with totals (projections first, like a single level)."""
    found, source = await levels.sku_levels(services.reads, sku)
    if not found:
        raise Problem(404, "not-found", f"No stock events for {sku}")
    body = {"sku": sku, "warehouses": [stock_out(x) for x in found], "totals": totals_out(found)}
    return _json(body, source_headers(source))


@router.get(
    "/stock/{sku}/{warehouse_id}/at",
    response_model=StockOut,
    responses={
        200: {"headers": {"ETag": h.ETAG, "X-As-Of-Position": h.REPLICA_AS_OF}},
        **_ERRORS,
        **problem_answers((422, "invalid parameters, or not exactly one of timestamp and version")),
    },
)
async def stock_at(
    sku: Id,
    warehouse_id: Id,
    services: ServicesDep,
    _: HistoryReader,
    timestamp: Annotated[
        Instant | None,
        Query(description="the levels then (RFC 3339 with offset); give this or `version`"),
    ] = None,
    version: Annotated[
        StreamVersion | None,
        Query(description="the levels right after this stream version; or give `timestamp`"),
    ] = None,
    consistency: ReplicaConsistency = "eventual",
) -> Response:
    """Time travel: the levels as they were at `timestamp`, or right after `version`.

    Give exactly one of the two (422 otherwise)."""
    if (timestamp is None) == (version is None):
        raise Problem(422, "validation-error", "Give exactly one of timestamp or version")
    found = await on_replica(
        services,
        consistency,
        lambda reads, through: history.level_at(
            reads, sku, warehouse_id, version=version, until=timestamp, through=through
        ),
    )
    level = found.answer
    if level is None:
        raise Problem(404, "not-found", f"{sku} in {warehouse_id} had no events by then")
    return _json(stock_out(level), {"ETag": f'"{level.version}"', **found.headers})


@router.get(
    "/stock/{sku}/{warehouse_id}/history",
    response_model=s.HistoryOut,
    responses={**h.REPLICA, **_ERRORS},
    openapi_extra={"parameters": [s.EVENT_TYPES_PARAMETER]},
)
async def stock_history(
    sku: Id,
    warehouse_id: Id,
    services: ServicesDep,
    _: HistoryReader,
    from_: Annotated[Instant | None, Query(alias="from", description="recordedAt ≥ from")] = None,
    to: Annotated[Instant | None, Query(description="recordedAt ≤ to")] = None,
    types: Annotated[str | None, Query(include_in_schema=False)] = None,
    limit: Limit = 100,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="version cursor (`next`)")] = 0,
    consistency: ReplicaConsistency = "eventual",
) -> Response:
    """Events in version order, each with the balance right after it."""
    try:
        wanted = s.event_types(types) if types is not None else None
    except ValueError as error:
        raise Problem(422, "validation-error", f"types: {error}") from None
    found = await on_replica(
        services,
        consistency,
        lambda reads, through: history.history(
            reads,
            sku,
            warehouse_id,
            after_version=after,
            types=wanted,
            since=from_,
            until=to,
            limit=limit,
            through=through,
        ),
    )
    entries = found.answer
    if entries is None:
        raise Problem(404, "not-found", f"No stock events for {sku} in {warehouse_id}")
    more = len(entries) == limit
    return _json(
        {"events": history_out(entries), "next": str(entries[-1].event.version) if more else None},
        found.headers,
    )


@router.get(
    "/reservations/{reservation_id}",
    response_model=ReservationOut,
    responses={
        200: {
            "headers": {
                "ETag": h.ETAG,
                "X-Reservation-Source": h.RESERVATION_SOURCE,
                "X-Projected-At": h.PROJECTED_AT,
                "X-Projection-Version": h.PROJECTION_VERSION,
            }
        },
        **_ERRORS,
    },
)
async def reservation(
    reservation_id: Id,
    services: ServicesDep,
    _: ReservationReader,
    consistency: Annotated[
        Literal["eventual", "strong"], Query(description="`strong` folds the event store")
    ] = "eventual",
) -> Response:
    """A reservation's status, expiry and lines; ETag is the stream version.

    Read from the Postgres read model, else (no row yet, or with `consistency=strong`) folded
    from the event store, like a stock level. `X-Reservation-Source` names the source
    (`postgres` or `event-store`); `X-Projected-At` says when a projection last wrote the row."""
    found = await reservations.reservation(services.reads, reservation_id, consistency)
    if found is None:
        raise Problem(404, "not-found", f"Reservation {reservation_id} not found")
    state, source = found
    return _json(
        reservation_out(state),
        {
            **source_headers(source, "X-Reservation-Source"),
            "ETag": f'"{state.version}"',
            "X-Projection-Version": str(state.version),
        },
    )


@router.get(
    "/correlations/{correlation_id}/events",
    response_model=s.EventsOut,
    responses={**h.REPLICA, **_LIST_ERRORS},
)
async def correlation_events(
    correlation_id: CorrelationId,
    services: ServicesDep,
    _: Auditor,
    after: Position = 0,
    limit: Limit = 1000,
    consistency: ReplicaConsistency = "eventual",
) -> Response:
    """Every event with this correlation id, across streams, in position order."""
    found = await on_replica(
        services,
        consistency,
        lambda reads, through: trails.correlation_trail(
            reads, correlation_id, after, limit, through
        ),
    )
    return _json(events_page_out(found.answer, limit), found.headers)


@router.get(
    "/orders/{order_id}/events", response_model=s.EventsOut, responses={**h.REPLICA, **_LIST_ERRORS}
)
async def order_events(
    order_id: Id,
    services: ServicesDep,
    _: Auditor,
    after: Position = 0,
    limit: Limit = 1000,
    consistency: ReplicaConsistency = "eventual",
) -> Response:
    """Every event about this order (reservations, shipments, returns), in position order."""
    found = await on_replica(
        services,
        consistency,
        lambda reads, through: trails.order_trail(reads, order_id, after, limit, through),
    )
    return _json(events_page_out(found.answer, limit), found.headers)


@router.get("/events", response_model=s.EventsOut, responses={**h.REPLICA, **_LIST_ERRORS})
async def all_events(
    services: ServicesDep,
    _: Auditor,
    after: Position = 0,
    limit: Limit = 100,
    consistency: ReplicaConsistency = "eventual",
) -> Response:
    """The global feed in position order; never skips an event that commits late."""
    found = await on_replica(
        services, consistency, lambda reads, through: trails.feed(reads, after, limit, through)
    )
    return _json(events_page_out(found.answer, limit), found.headers)
