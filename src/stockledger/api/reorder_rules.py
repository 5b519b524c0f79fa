"""Reorder rules (`reorder:{sku}:{warehouseId}`) and the low-stock alerts they open, through
the same write path as stock. `warehouse` and `admin` write; warehouse, auditor and admin
read."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..domain import commands as c
from ..domain.reorder.alerts import AlertQuery
from ..read import reorder_view
from ..write.ledger import Outcome
from .auth import READ_HISTORY, Principal, require
from .catalog import LIST_ERRORS, Writer, _answers, _json
from .commands import execute, reply
from .deps import CommandHeadersDep, ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .params import Limit, PairAfter
from .present import alert_out, catalog_command_out, rule_out, source_headers
from .problems import Problem
from .schemas import reorder_rules as s
from .schemas.headers import LISTED
from .schemas.problems import problem_answers
from .schemas.wire import Id

router = APIRouter(
    prefix="/v1", tags=["catalog"], route_class=FastRoute, generate_unique_id_function=operation_id
)

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
    sku: Id,
    warehouse_id: Id,
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
    responses=_answers(s.ReorderRuleCommandOut, None, 404),
)
async def remove_reorder_rule(
    sku: Id,
    warehouse_id: Id,
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
    responses={**LIST_ERRORS, **problem_answers((404, "no rule for this stream"))},
)
async def reorder_rule(sku: Id, warehouse_id: Id, services: ServicesDep, _: RuleReader) -> Response:
    """The stream's rule and its open alert (folded from its stream); 404 without a rule."""
    state = await reorder_view.rule(services.reads, sku, warehouse_id)
    if state is None:
        raise Problem(404, "not-found", f"No reorder rule for {sku} in {warehouse_id}")
    return _json(rule_out(state))


@router.get("/reorder-rules", response_model=s.ReorderRulesOut, responses=LIST_ERRORS)
async def reorder_rules(
    services: ServicesDep,
    _: RuleReader,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    after: PairAfter = None,
    limit: Limit = 100,
) -> Response:
    """Every rule in force, in `sku:warehouseId` order, keyset-paged (folded from the store)."""
    page = await reorder_view.rules_page(services.reads, warehouse_id, after, limit)
    last = page.rows[-1] if page.more else None
    body = {
        "rules": [rule_out(x) for x in page.rows],
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


@router.get("/alerts", response_model=s.AlertsOut, responses={**LISTED, **LIST_ERRORS})
async def alerts(
    services: ServicesDep,
    _: RuleReader,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    sku: Id | None = None,
    after: AlertAfter = None,
    limit: Limit = 100,
) -> Response:
    """Low-stock and stock-out alerts in (SKU, warehouse, opening) order, keyset-paged. An open
    alert shows the stream's current available and what to order now; a closed one the values
    at closing. From the alerts read model when the pipeline runs (`X-Stock-Source: postgres`),
    else folded from the event store."""
    query = AlertQuery(status, warehouse_id, sku, after, limit)
    page, source = await reorder_view.alerts(services.reads, query)
    body = {
        "alerts": [alert_out(x) for x in page.rows],
        "next": page.rows[-1].alert_id if page.more else None,
    }
    return _json(body, source_headers(source))
