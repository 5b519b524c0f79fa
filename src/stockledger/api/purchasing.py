"""Purchase orders (`po:{purchaseOrderId}`), quality control and available to promise.
`warehouse` and `admin` write; every role that reads stock reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..domain import commands as c
from ..domain.promise import promise_date
from ..domain.purchase_order.events import NewDate, OrderedLine
from ..domain.purchase_order.state import PurchaseOrderState
from ..read import purchase_orders as orders
from ..read.promise import promise_timeline
from ..write.ledger import Outcome, utcnow
from .auth import READ_STOCK, Principal, require
from .catalog import LIST_ERRORS, Writer, _json
from .commands import Present, answers, execute, reply
from .deps import CommandHeadersDep, ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .present import command_out
from .problems import Problem
from .schemas import purchasing as s
from .schemas.commands import CommandOut
from .schemas.problems import problem_answers
from .schemas.wire import Id

router = APIRouter(
    prefix="/v1",
    tags=["purchasing"],
    route_class=FastRoute,
    generate_unique_id_function=operation_id,
)
Reader = Annotated[Principal, require(READ_STOCK)]


def _today() -> date:
    return datetime.now(UTC).date()


def order_out(state: PurchaseOrderState, today: date) -> dict[str, Any]:
    assert state.placed_at is not None
    return {
        "purchaseOrderId": state.purchase_order_id,
        "supplier": state.supplier,
        "status": state.status.value,
        "lines": [
            {
                "sku": x.sku,
                "warehouseId": x.warehouse_id,
                "ordered": x.ordered,
                "received": x.received,
                "open": x.open,
                "overReceived": x.over_received,
                "unitCost": str(x.unit_cost),
                "expectedOn": x.expected_on.isoformat(),
                "overdue": x.overdue(today),
            }
            for x in state.lines
        ],
        "placedAt": state.placed_at.isoformat(),
    }


def _listed(rows: list[Any], today: date) -> dict[str, Any]:
    first = rows[0]
    return {
        "purchaseOrderId": first["purchase_order_id"],
        "supplier": first["supplier"],
        "status": first["status"],
        "lines": [
            {
                "sku": r["sku"],
                "warehouseId": r["warehouse_id"],
                "ordered": r["ordered"],
                "received": r["received"],
                "open": r["open"],
                "unitCost": str(r["unit_cost"]),
                "expectedOn": r["expected_on"].isoformat(),
                "overdue": r["open"] > 0 and r["expected_on"] < today,
            }
            for r in rows
        ],
        "placedAt": first["placed_at"].isoformat(),
    }


def _present(purchase_order_id: str) -> Present:
    """A purchase order command's answer: the order's id, then what `command_out` gives."""

    def present(outcome: Outcome) -> dict[str, Any]:
        return {"purchaseOrderId": purchase_order_id, **command_out(outcome)}

    return present


def _placed(outcome: Outcome) -> int:
    return 200 if outcome.already else 201


_COMMAND_ANSWERS = answers(404, model=s.PurchaseOrderCommandOut)


@router.put(
    "/purchase-orders/{purchase_order_id}",
    status_code=201,
    response_model=s.PurchaseOrderCommandOut,
    responses=_COMMAND_ANSWERS,
)
async def place_purchase_order(
    purchase_order_id: Id,
    body: s.PurchaseOrderIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Place a purchase order: `PurchaseOrderPlaced`, and in the same transaction
    `StockExpected` on every stock stream it names (`incoming += quantity`). The same body
    again: 200, nothing appended; another body: 409 `purchase-order-exists`."""
    lines = tuple(
        OrderedLine(x.sku, x.warehouse_id, x.quantity, x.unit_cost, x.expected_on)
        for x in body.lines
    )
    command = c.PlacePurchaseOrder(purchase_order_id, body.supplier, lines)
    answer = await execute(request, services, who, headers, body, command)
    return reply(answer, _present(purchase_order_id), request.url.path, _placed)


@router.post(
    "/purchase-orders/{purchase_order_id}/reschedule",
    response_model=s.PurchaseOrderCommandOut,
    responses=_COMMAND_ANSWERS,
)
async def reschedule_purchase_order(
    purchase_order_id: Id,
    body: s.RescheduleIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Move lines to new expected dates (`PurchaseOrderRescheduled`); a received or cancelled
    order: 409 `purchase-order-closed`."""
    lines = tuple(NewDate(x.sku, x.warehouse_id, x.expected_on) for x in body.lines)
    command = c.ReschedulePurchaseOrder(purchase_order_id, lines)
    answer = await execute(request, services, who, headers, body, command)
    return reply(answer, _present(purchase_order_id), request.url.path, lambda _: 200)


@router.post(
    "/purchase-orders/{purchase_order_id}/cancel",
    response_model=s.PurchaseOrderCommandOut,
    responses=_COMMAND_ANSWERS,
)
async def cancel_purchase_order(
    purchase_order_id: Id,
    body: s.CancelIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Cancel: what is still open leaves `incoming` (`PurchaseOrderCancelled` on the order and
    on each stock stream it still expected); a fully received order: 409
    `purchase-order-closed`."""
    command = c.CancelPurchaseOrder(purchase_order_id, body.reason)
    answer = await execute(request, services, who, headers, body, command)
    return reply(answer, _present(purchase_order_id), request.url.path, lambda _: 200)


@router.get(
    "/purchase-orders/{purchase_order_id}",
    response_model=s.PurchaseOrderOut,
    responses={**LIST_ERRORS, **problem_answers((404, "no such purchase order"))},
)
async def purchase_order(purchase_order_id: Id, services: ServicesDep, _: Reader) -> Response:
    """One purchase order as it now stands (folded from its stream)."""
    state = await orders.order(services.reads, purchase_order_id)
    if state is None:
        raise Problem(404, "not-found", f"Purchase order {purchase_order_id} not found")
    return _json(order_out(state, _today()))


@router.get("/purchase-orders", response_model=s.PurchaseOrdersOut, responses=LIST_ERRORS)
async def purchase_orders(
    services: ServicesDep,
    _: Reader,
    status: Annotated[s.PurchaseOrderStatus | None, Query()] = None,
    sku: Id | None = None,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    supplier: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    overdue: Annotated[bool, Query(description="only orders with an open line past due")] = False,
    after: Annotated[Id | None, Query(description="the `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Purchase orders by id, keyset-paged; filtered by status, by a line's SKU or warehouse,
    by supplier, or to those with an overdue line."""
    today = _today()
    query = orders.OrderQuery(status, sku, warehouse_id, supplier, overdue, after or "", limit)
    page = await orders.orders_page(services.reads.stock.pool, query, today)
    body = {
        "purchaseOrders": [_listed(rows, today) for rows in page],
        "next": page[-1][0]["purchase_order_id"] if len(page) == limit else None,
    }
    return _json(body)


@router.post("/inspections", status_code=201, response_model=CommandOut, responses=answers())
async def inspect(
    body: s.InspectionIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Release units from qualityControl: `accepted` become available, `rejected` leave onHand
    for damaged (`StockInspected`). An inspectionId counts once; more than is in quality
    control: 409 `insufficient-quality-control`."""
    command = c.InspectStock(
        body.inspection_id, body.sku, body.warehouse_id, body.accepted, body.rejected, body.lot_id
    )
    answer = await execute(request, services, who, headers, body, command)
    return reply(answer, command_out, request.url.path)


@router.get(
    "/atp/{sku}",
    response_model=s.PromiseOut,
    responses={**LIST_ERRORS},
)
async def available_to_promise(
    sku: Id,
    services: ServicesDep,
    _: Reader,
    warehouse_id: Annotated[Id | None, Query(alias="warehouseId")] = None,
    quantity: Annotated[int, Query(ge=1, le=1_000_000_000)] = 1,
    horizon_days: Annotated[int, Query(alias="horizonDays", ge=0, le=3650)] = 90,
) -> Response:
    """When `quantity` can be promised: available now (one warehouse, or summed over every
    warehouse) plus the open purchase order lines by expected date (overdue ones from today),
    cumulative per date; `promise.date` is the first date it is there (null: not within
    `horizonDays`). For a kit: per date, the fewest kits its components allow."""
    now = utcnow()
    today = now.date()
    available, points = await promise_timeline(
        services.reads, sku, warehouse_id, today, horizon_days
    )
    when = promise_date(available, points, quantity, today)
    body = {
        "sku": sku,
        **({"warehouseId": warehouse_id} if warehouse_id else {}),
        "asOf": now.isoformat(),
        "availableNow": available,
        "timeline": [
            {"date": x.date.isoformat(), "incoming": x.incoming, "available": x.available}
            for x in points
        ],
        "promise": {"quantity": quantity, "date": when.isoformat() if when else None},
    }
    return _json(body)
