"""Catalog routes: items (`item:{sku}`) and warehouses (`warehouse:{id}`), through the same
write path as stock. `warehouse` and `admin` write; every role reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..domain import commands as c
from ..domain.aggregates import initial_state
from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.reorder.alerts import Alert, AlertQuery, live
from ..domain.reorder.state import ReorderState
from ..domain.stock.state import StockState
from ..domain.streams import (
    item_stream,
    like_prefix,
    reorder_stream,
    stock_stream,
    warehouse_stream,
)
from ..store.snapshots import fold
from ..write.ledger import Outcome
from . import schemas as s
from .auth import READ_HISTORY, READ_STOCK, WAREHOUSE, Principal, require
from .commands import errors, execute, reply
from .deps import CatalogIfMatch, CommandHeadersDep, ServicesDep, parse_if_match
from .fastroute import FastRoute
from .present import alert_out, catalog_command_out, item_out, rule_out, warehouse_out
from .problems import Problem

router = APIRouter(prefix="/v1", tags=["catalog"], route_class=FastRoute)

Writer = Annotated[Principal, require(WAREHOUSE)]
Reader = Annotated[Principal, require(READ_STOCK)]
DEFINED = frozenset({"ItemDefined", "WarehouseDefined"})


def _defined(outcome: Outcome) -> int:
    """201 when the command defined the item or warehouse; 200 for every later answer."""
    return 201 if any(e.type in DEFINED for e in outcome.events) else 200


def _answers(model: type[s.Out], first: str, *problems: int) -> dict[int | str, dict[str, Any]]:
    documented = {k: v for k, v in errors(*problems).items() if k != 200}
    later = "changed (the events say what), or already so: no event"
    return {200: {"description": later, "model": model}, 201: {"description": first}, **documented}


async def _run(
    request: Request,
    services: ServicesDep,
    who: Principal,
    headers: CommandHeadersDep,
    body: s.Body | None,
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
    sku: s.Id,
    body: s.ItemIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
    if_match: CatalogIfMatch = None,
) -> Response:
    """Define an item (201, `ItemDefined`), or change the fields that differ (200, `ItemChanged`
    with only those; no event when nothing differs). `valuationMethod` cannot change once the
    SKU has stock events (409 `valuation-method-locked`)."""
    command = c.DefineItem(
        sku,
        body.name,
        body.description,
        body.unit_of_measure,
        body.valuation_method,
        parse_if_match(if_match),
    )
    return await _run(request, services, who, headers, body, command)


@router.post(
    "/items/{sku}/deactivate",
    response_model=s.ItemCommandOut,
    responses=_answers(s.ItemCommandOut, "never: an item is defined by PUT", 404),
)
async def deactivate_item(
    sku: s.Id,
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
    responses=_answers(s.ItemCommandOut, "never: an item is defined by PUT", 404),
)
async def activate_item(
    sku: s.Id,
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
    warehouse_id: s.Id,
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
    responses=_answers(s.WarehouseCommandOut, "never: a warehouse is defined by PUT", 404),
)
async def deactivate_warehouse(
    warehouse_id: s.Id,
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


def _source(services: ServicesDep) -> dict[str, str]:
    """Where a listing came from: the read models (pipeline) or a fold of the event store."""
    return {"X-Stock-Source": "postgres" if services.projected is not None else "event-store"}


_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    k: v for k, v in errors(404).items() if k in (401, 403, 404, 422, 503)
}


At = Annotated[
    s.Instant | None,
    Query(description="as it was at this instant (its name, state and version then)"),
]


async def _as_of(services: ServicesDep, stream: str, at: datetime | None) -> Any:
    """The stream's state now (snapshot + tail), or folded from its events recorded by `at`."""
    if at is None:
        return (await services.loader.load([stream]))[stream]
    return fold(initial_state(stream), await services.store.read_stream(stream, until=at))


@router.get("/items/{sku}", response_model=s.ItemOut, responses=_READ_ERRORS)
async def item(sku: s.Id, services: ServicesDep, _: Reader, at: At = None) -> Response:
    """One item as it now is, or as it was `at` an instant (folded from its stream); 404 if it
    was never defined (by then)."""
    state = await _as_of(services, item_stream(sku), at)
    if not isinstance(state, ItemState) or not state.version:
        raise Problem(404, "not-found", f"Item {sku} was never defined{' by then' if at else ''}")
    return _json(item_out(state))


@router.get("/warehouses/{warehouse_id}", response_model=s.WarehouseOut, responses=_READ_ERRORS)
async def warehouse(
    warehouse_id: s.Id, services: ServicesDep, _: Reader, at: At = None
) -> Response:
    """One warehouse as it now is, or as it was `at` an instant; 404 if it was never defined
    (by then)."""
    state = await _as_of(services, warehouse_stream(warehouse_id), at)
    if not isinstance(state, WarehouseState) or not state.version:
        then = " by then" if at else ""
        raise Problem(404, "not-found", f"Warehouse {warehouse_id} was never defined{then}")
    return _json(warehouse_out(state))


Limit = Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")]
Active = Annotated[bool | None, Query(description="only active (true) or inactive (false)")]
Prefix = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="id prefix")]
After = Annotated[
    s.Id | None, Query(description="the `next` of the previous page: ids after this one")
]


async def _page(
    services: ServicesDep, pattern: str, after: str, limit: int, keep: Callable[[Any], bool]
) -> tuple[list[Any], bool]:
    """Up to `limit` states of the streams matching `pattern` after the stream id `after`,
    those `keep` takes, folded from the store (always current): stream ids by a loose index
    scan, a page filled from the next ids when `keep` left some out. Also: whether more may
    follow (a full page)."""
    found: list[Any] = []
    while len(found) < limit:
        streams = await services.reader.streams_after(pattern, after, limit)
        states = await services.loader.load(streams) if streams else {}
        found += [st for x in streams if keep(st := states[x])][: limit - len(found)]
        if len(streams) < limit:
            return found, False
        after = streams[-1]
    return found, True


async def _catalog_page(
    services: ServicesDep,
    category: str,
    prefix: str | None,
    active: bool | None,
    after: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """A keyset page of the defined items or warehouses, by id prefix and active state: from
    the catalog read model when the pipeline runs, else folded from the store."""

    def keep(state: Any) -> bool:
        return bool(state.version) and active in (None, state.active)

    cursor = f"{category}:{after or ''}"
    if services.projected is not None:  # the catalog read model (X-Stock-Source: postgres)
        found: list[Any] = await services.projected.catalog(
            category, prefix or "", active, cursor, limit
        )
        more = len(found) == limit
    else:
        pattern = like_prefix(f"{category}:{prefix or ''}")
        found, more = await _page(services, pattern, cursor, limit, keep)
    return found, _id(found[-1]) if more else None


def _id(state: Any) -> str:
    return state.sku if isinstance(state, ItemState) else state.warehouse_id


@router.get("/items", response_model=s.ItemsOut, responses=_READ_ERRORS)
async def items(
    services: ServicesDep,
    _: Reader,
    prefix: Prefix = None,
    active: Active = None,
    after: After = None,
    limit: Limit = 100,
) -> Response:
    """Every defined item in SKU order, keyset-paged (`next` -> `after`)."""
    found, cursor = await _catalog_page(services, "item", prefix, active, after, limit)
    return _json({"items": [item_out(x) for x in found], "next": cursor}, _source(services))


@router.get("/warehouses", response_model=s.WarehousesOut, responses=_READ_ERRORS)
async def warehouses(
    services: ServicesDep,
    _: Reader,
    prefix: Prefix = None,
    active: Active = None,
    after: After = None,
    limit: Limit = 100,
) -> Response:
    """Every defined warehouse in id order, keyset-paged (`next` -> `after`)."""
    found, cursor = await _catalog_page(services, "warehouse", prefix, active, after, limit)
    body = {"warehouses": [warehouse_out(x) for x in found], "next": cursor}
    return _json(body, _source(services))


# -- reorder rules: written by warehouse and admin; read by warehouse, auditor and admin ------

RuleReader = Annotated[Principal, require(READ_HISTORY)]


def _ruled(outcome: Outcome) -> int:
    """201 when this PUT set the first rule of the stream; 200 after."""
    first = any(e.type == "ReorderRuleSet" and e.version == 1 for e in outcome.events)
    return 201 if first else 200


@router.put(
    "/reorder-rules/{sku}/{warehouse_id}",
    status_code=201,
    response_model=s.ReorderRuleCommandOut,
    responses=_answers(s.ReorderRuleCommandOut, "the stream's first rule: ReorderRuleSet"),
)
async def set_reorder_rule(
    sku: s.Id,
    warehouse_id: s.Id,
    body: s.ReorderRuleIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Set the stream's reorder rule (`ReorderRuleSet`; no event when unchanged). It is
    evaluated at once against the current level: an alert opens (`LowStockDetected`) when
    available + inTransit is at or below `reorderPoint`, in the same transaction."""
    command = c.SetReorderRule(
        sku, warehouse_id, body.reorder_point, body.reorder_quantity, body.safety_stock
    )
    answer = await execute(request, services, who, headers, body, command)
    return reply(answer, catalog_command_out, request.url.path, _ruled)


@router.delete(
    "/reorder-rules/{sku}/{warehouse_id}",
    response_model=s.ReorderRuleCommandOut,
    responses=_answers(s.ReorderRuleCommandOut, "never: removal answers 200", 404),
)
async def remove_reorder_rule(
    sku: s.Id,
    warehouse_id: s.Id,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """`ReorderRuleRemoved`; an open alert closes (`LowStockResolved`). 404 without a rule."""
    command = c.RemoveReorderRule(sku, warehouse_id)
    answer = await execute(request, services, who, headers, None, command)
    return reply(answer, catalog_command_out, request.url.path, lambda _: 200)


@router.get(
    "/reorder-rules/{sku}/{warehouse_id}",
    response_model=s.ReorderRuleOut,
    responses=_READ_ERRORS,
)
async def reorder_rule(
    sku: s.Id, warehouse_id: s.Id, services: ServicesDep, _: RuleReader
) -> Response:
    """The stream's rule and its open alert (folded from its stream); 404 without a rule."""
    stream = reorder_stream(sku, warehouse_id)
    state = (await services.loader.load([stream]))[stream]
    if not isinstance(state, ReorderState) or state.rule is None:
        raise Problem(404, "not-found", f"No reorder rule for {sku} in {warehouse_id}")
    return _json(rule_out(state))


@router.get("/reorder-rules", response_model=s.ReorderRulesOut, responses=_READ_ERRORS)
async def reorder_rules(
    services: ServicesDep,
    _: RuleReader,
    warehouse_id: Annotated[s.Id | None, Query(alias="warehouseId")] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            description="the `next` of the previous page (`sku:warehouseId`)",
        ),
    ] = None,
    limit: Limit = 100,
) -> Response:
    """Every rule in force, in `sku:warehouseId` order, keyset-paged (folded from the store)."""

    def keep(state: Any) -> bool:  # a rule in force, in the warehouse asked for
        in_force = isinstance(state, ReorderState) and state.rule is not None
        return in_force and warehouse_id in (None, state.warehouse_id)

    found, more = await _page(services, "reorder:%", f"reorder:{after or ''}", limit, keep)
    last = found[-1] if more else None
    body = {
        "rules": [rule_out(x) for x in found],
        "next": f"{last.sku}:{last.warehouse_id}" if last else None,
    }
    return _json(body)


AlertAfter = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[1-9][0-9]{0,8}$",
        description="the `next` of the previous page (an alertId)",
    ),
]


@router.get("/alerts", response_model=s.AlertsOut, responses=_READ_ERRORS)
async def alerts(
    services: ServicesDep,
    _: RuleReader,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    warehouse_id: Annotated[s.Id | None, Query(alias="warehouseId")] = None,
    sku: s.Id | None = None,
    after: AlertAfter = None,
    limit: Limit = 100,
) -> Response:
    """Low-stock and stock-out alerts in (SKU, warehouse, opening) order, keyset-paged. An open
    alert shows the stream's current available and what to order now; a closed one the values
    at closing. From the alerts read model when the pipeline runs (`X-Stock-Source: postgres`),
    else folded from the event store."""
    query = AlertQuery(status, warehouse_id, sku, after, limit)
    if services.projected is not None:
        found, source = await services.projected.alerts(query), "postgres"
    else:
        found, source = await _store_alerts(services, query), "event-store"
    body = {
        "alerts": [alert_out(x) for x in found],
        "next": found[-1].alert_id if len(found) == limit else None,
    }
    return _json(body, {"X-Stock-Source": source})


async def _store_alerts(services: ServicesDep, query: AlertQuery) -> list[Alert]:
    """The alert page folded from the reorder streams' events (no projections): streams by a
    loose index scan from the cursor's, each stream's alerts from its alert events, the open
    ones at their stream's current level."""
    found: list[Alert] = []
    cursor = (query.after_stream, query.after_version)
    streams = [query.after_stream] if query.after else []
    after = query.after_stream or "reorder:"
    while True:
        batch = await services.reader.streams_after(query.pattern, after, query.limit)
        streams += batch
        for alert in await services.reader.alert_history(streams):
            key = (reorder_stream(alert.sku, alert.warehouse_id), alert.opened_version)
            if key > cursor and query.keeps(alert):
                found.append(alert)
        if len(found) >= query.limit or len(batch) < query.limit:
            break
        after, streams = batch[-1], []
    found = found[: query.limit]
    open_ = [a for a in found if a.closed_at is None]
    wanted = [x for a in open_ for x in (stock_stream(a.sku, a.warehouse_id),
                                         reorder_stream(a.sku, a.warehouse_id))]  # fmt: skip
    states = await services.loader.load(wanted) if wanted else {}
    now: dict[str, Alert] = {}
    for a in open_:
        stock = states[stock_stream(a.sku, a.warehouse_id)]
        rule = states[reorder_stream(a.sku, a.warehouse_id)]
        if isinstance(stock, StockState) and isinstance(rule, ReorderState):
            now[a.alert_id] = live(a, stock.level.levels, rule.rule)
    return [now.get(a.alert_id, a) for a in found]
