"""Catalog routes: items (`item:{sku}`) and warehouses (`warehouse:{id}`), through the same
write path as stock. `warehouse` and `admin` write; every role reads."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..domain import commands as c
from ..read import catalog_view
from ..write.ledger import Outcome
from .auth import READ_STOCK, WAREHOUSE, Principal, require
from .commands import REPLAY, execute, problems, reply
from .deps import CatalogIfMatch, CommandHeadersDep, ServicesDep, parse_if_match
from .fastroute import FastRoute
from .openapi import operation_id
from .params import Limit
from .present import catalog_command_out, item_out, source_headers, warehouse_out
from .problems import Problem
from .schemas import catalog as s
from .schemas.headers import COMMAND, LISTED
from .schemas.problems import READ_ERRORS, problem_answers
from .schemas.wire import Body, Id, Instant, Out

router = APIRouter(
    prefix="/v1", tags=["catalog"], route_class=FastRoute, generate_unique_id_function=operation_id
)

Writer = Annotated[Principal, require(WAREHOUSE)]
Reader = Annotated[Principal, require(READ_STOCK)]
DEFINED = frozenset({"ItemDefined", "WarehouseDefined"})


def _defined(outcome: Outcome) -> int:
    """201 when the command defined the item or warehouse; 200 for every later answer."""
    return 201 if any(e.type in DEFINED for e in outcome.events) else 200


def _answers(
    model: type[Out], first: str | None, *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """A catalog command's answers: 201 when it defined the stream (`first`), else 200."""
    later = f"changed (the events say what), or already so: no event{REPLAY}"
    return {
        **({201: {"description": first + REPLAY, "headers": COMMAND}} if first else {}),
        200: {"description": later, "model": model, "headers": COMMAND},
        **problems(401, 403, 408, 409, 413, 422, 503, *statuses),
    }


async def _run(
    request: Request,
    services: ServicesDep,
    who: Principal,
    headers: CommandHeadersDep,
    body: Body | None,
    command: c.Command,
) -> Response:
    answer = await execute(request, services, who, headers, body, command)
    return reply(answer, catalog_command_out, request.url.path, _defined)


@router.put(
    "/items/{sku}",
    status_code=201,
    response_model=s.ItemCommandOut,
    responses=_answers(s.ItemCommandOut, "defined: ItemDefined", 412),
)
async def define_item(
    sku: Id,
    body: s.ItemIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
    if_match: CatalogIfMatch = None,
) -> Response:
    """Define an item (201, `ItemDefined`), or change the fields that differ (200, `ItemChanged`
    with only those; no event when nothing differs). `valuationMethod` cannot change once the
    SKU has stock events (409 `valuation-method-locked`), nor `tracking` (409
    `tracking-locked`)."""
    command = c.DefineItem(
        sku,
        body.name,
        body.description,
        body.unit_of_measure,
        body.valuation_method,
        parse_if_match(if_match),
        tracking=body.tracking,
    )
    return await _run(request, services, who, headers, body, command)


@router.post(
    "/items/{sku}/deactivate",
    response_model=s.ItemCommandOut,
    responses=_answers(s.ItemCommandOut, None, 404),
)
async def deactivate_item(
    sku: Id,
    body: s.DeactivateIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """`ItemDeactivated`: from now on receipts, reservations and new transfers of the SKU are
    refused (409 `item-inactive`); shipments, returns, releases, confirmations, receiving a
    transfer already dispatched, counts and adjustments still work."""
    command = c.DeactivateItem(sku, body.reason)
    return await _run(request, services, who, headers, body, command)


@router.post(
    "/items/{sku}/activate",
    response_model=s.ItemCommandOut,
    responses=_answers(s.ItemCommandOut, None, 404),
)
async def activate_item(
    sku: Id,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
    body: s.ActivateIn | None = None,
) -> Response:
    """`ItemActivated`: the SKU takes receipts, reservations and transfers again."""
    return await _run(request, services, who, headers, body, c.ActivateItem(sku))


@router.put(
    "/warehouses/{warehouse_id}",
    status_code=201,
    response_model=s.WarehouseCommandOut,
    responses=_answers(s.WarehouseCommandOut, "defined: WarehouseDefined", 412),
)
async def define_warehouse(
    warehouse_id: Id,
    body: s.WarehouseIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
    if_match: CatalogIfMatch = None,
) -> Response:
    """Define a warehouse (201, `WarehouseDefined`) or change it (200, `WarehouseChanged`)."""
    command = c.DefineWarehouse(warehouse_id, body.name, body.address, parse_if_match(if_match))
    return await _run(request, services, who, headers, body, command)


@router.post(
    "/warehouses/{warehouse_id}/deactivate",
    response_model=s.WarehouseCommandOut,
    responses=_answers(s.WarehouseCommandOut, None, 404),
)
async def deactivate_warehouse(
    warehouse_id: Id,
    body: s.DeactivateIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """`WarehouseDeactivated`, only while every SKU there is at zero onHand, reserved,
    inTransit and damaged (else 409 `warehouse-not-empty`, checked under the same lock as
    every receipt, return and transfer into it: none can slip in). A deactivated warehouse
    takes no receipts, returns or transfers in (409 `warehouse-inactive`)."""
    command = c.DeactivateWarehouse(warehouse_id, body.reason)
    return await _run(request, services, who, headers, body, command)


def _json(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


LIST_ERRORS = READ_ERRORS
_READ_ERRORS = {**LIST_ERRORS, **problem_answers((404, "never defined (by then)"))}


At = Annotated[
    Instant | None,
    Query(description="as it was at this instant (its name, state and version then)"),
]


@router.get("/items/{sku}", response_model=s.ItemOut, responses=_READ_ERRORS)
async def item(sku: Id, services: ServicesDep, _: Reader, at: At = None) -> Response:
    """One item as it now is, or as it was `at` an instant (folded from its stream); 404 if it
    was never defined (by then)."""
    state = await catalog_view.item(services.reads, sku, at)
    if state is None:
        raise Problem(404, "not-found", f"Item {sku} was never defined{' by then' if at else ''}")
    return _json(item_out(state))


@router.get("/warehouses/{warehouse_id}", response_model=s.WarehouseOut, responses=_READ_ERRORS)
async def warehouse(warehouse_id: Id, services: ServicesDep, _: Reader, at: At = None) -> Response:
    """One warehouse as it now is, or as it was `at` an instant; 404 if it was never defined
    (by then)."""
    state = await catalog_view.warehouse(services.reads, warehouse_id, at)
    if state is None:
        then = " by then" if at else ""
        raise Problem(404, "not-found", f"Warehouse {warehouse_id} was never defined{then}")
    return _json(warehouse_out(state))


Active = Annotated[bool | None, Query(description="only active (true) or inactive (false)")]
Prefix = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="id prefix")]
After = Annotated[
    Id | None, Query(description="the `next` of the previous page: ids after this one")
]


@router.get("/items", response_model=s.ItemsOut, responses={**LISTED, **LIST_ERRORS})
async def items(
    services: ServicesDep,
    _: Reader,
    prefix: Prefix = None,
    active: Active = None,
    after: After = None,
    limit: Limit = 100,
) -> Response:
    """Every defined item in SKU order, keyset-paged (`next` -> `after`)."""
    page, source = await catalog_view.item_page(services.reads, prefix, active, after, limit)
    last = page.rows[-1].sku if page.more else None
    body = {"items": [item_out(x) for x in page.rows], "next": last}
    return _json(body, source_headers(source))


@router.get("/warehouses", response_model=s.WarehousesOut, responses={**LISTED, **LIST_ERRORS})
async def warehouses(
    services: ServicesDep,
    _: Reader,
    prefix: Prefix = None,
    active: Active = None,
    after: After = None,
    limit: Limit = 100,
) -> Response:
    """Every defined warehouse in id order, keyset-paged (`next` -> `after`)."""
    page, source = await catalog_view.warehouse_page(services.reads, prefix, active, after, limit)
    last = page.rows[-1].warehouse_id if page.more else None
    body = {"warehouses": [warehouse_out(x) for x in page.rows], "next": last}
    return _json(body, source_headers(source))
