"""Command routes: JSON -> command -> the ledger's one write path -> 201 (or a replay)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from uuid import uuid4

import orjson
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..config import Role
from ..domain import commands as c
from ..domain.stock.commands import SerialLine
from ..domain.stock.events import Line
from ..write.ledger import Answer, Outcome, utcnow
from .auth import ORDERS, WAREHOUSE, Principal, require
from .deps import CommandHeadersDep, IfMatch, ServicesDep, caller_for, parse_if_match
from .fastroute import FastRoute
from .openapi import operation_id
from .present import command_out, reservation_command_out
from .problems import refusal
from .schemas import commands as s
from .schemas.headers import COMMAND, LOCATION, REFUSAL
from .schemas.problems import problem_answers
from .schemas.wire import Body, Id, Out

router = APIRouter(
    prefix="/v1", tags=["commands"], route_class=FastRoute, generate_unique_id_function=operation_id
)
log = structlog.get_logger()


_PROBLEMS = {
    401: "no or unknown API key",
    403: "role not allowed",
    404: "unknown reservation, transfer, item or warehouse",
    408: "the body did not arrive within the body timeout",
    409: "what the ledger holds refuses it: insufficient stock (`lines`), reservation not active, "
    "a conflicting duplicate, a conflict (a level past 2^31-1, shipping what the reservation "
    "does not hold or for another order, receiving more than was dispatched), an inactive "
    "item (item-inactive) or warehouse (warehouse-inactive), a warehouse still holding stock "
    "(warehouse-not-empty), a valuation method locked by stock events "
    "(valuation-method-locked), a purchase order placed before with another body "
    "(purchase-order-exists) or received or cancelled (purchase-order-closed), a receipt "
    "without unitCost whose order has no such line (unit-cost-required), an inspection of more "
    "than is in quality control (insufficient-quality-control), or version conflicts that "
    "outlasted the retries",
    412: "If-Match does not match the stream version",
    413: "body over 256 KiB",
    422: "invalid request (`errors`); idempotency-key-reused: the Idempotency-Key was used for "
    "another request (another body, path or operation); with STOCKLEDGER_CATALOG_REQUIRED, "
    "an SKU or warehouse never defined (unknown-item, unknown-warehouse)",
    503: "database unreachable",
}
# A refusal the ledger decided is recorded under the request's Idempotency-Key, and answered
# (and replayed) like a success, with its headers.
_RECORDED = frozenset({404, 409, 412, 422})
REPLAY = (
    "; a retry with the same Idempotency-Key and body gets the original status and body again "
    "(`Idempotent-Replayed: true`) and appends nothing"
)


def answers(*statuses: int, model: type[Out] = s.CommandOut) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a command: 201 (the route's model), 200 for a command the
    ledger had carried out before, and every problem it can give."""
    return {
        201: {
            "description": f"carried out: the events appended and what they left{REPLAY}",
            "headers": COMMAND,
        },
        200: {
            "description": "already carried out: the ledger recorded it before (the same "
            "receiptId, shipmentId, returnId or transferId, a transfer already received, a "
            "reservation already confirmed or released); the earlier events, and nothing was "
            f"appended (`Idempotent-Replayed: true`){REPLAY}",
            "model": model,
            "headers": COMMAND,
        },
        **problems(401, 403, 408, 409, 413, 422, 503, *statuses),
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problem answers of a command with these statuses."""
    return {
        **problem_answers(*((code, _PROBLEMS[code]) for code in statuses if code not in _RECORDED)),
        **problem_answers(
            *((code, _PROBLEMS[code]) for code in statuses if code in _RECORDED), headers=REFUSAL
        ),
    }


Present = Callable[[Outcome], dict[str, Any]]


def created(outcome: Outcome) -> int:
    """201, or 200 for a command the ledger had carried out before."""
    return 200 if outcome.already else 201


def answered(
    answer: Answer, present: Present, instance: str, status_of: Callable[[Outcome], int] = created
) -> tuple[int, dict[str, Any]]:
    """The status and body of the ledger's answer: `status_of` the outcome with `present`'s
    body, or the refusal recorded under the Idempotency-Key. The same for HTTP and for the
    command topic (pipeline/commands.py)."""
    if answer.earlier is not None:
        return answer.earlier
    if answer.refusal is not None:
        return refusal(answer.refusal, instance)
    assert answer.outcome is not None
    return status_of(answer.outcome), present(answer.outcome)


def reply(
    answer: Answer, present: Present, instance: str, status_of: Callable[[Outcome], int] = created
) -> Response:
    """The ledger's answer over HTTP (`answered`), with its headers."""
    headers = {"X-Correlation-Id": answer.correlation_id}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    status, body = answered(answer, present, instance, status_of)
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json" if status >= 400 else "application/json",
        headers=headers,
    )


async def execute(
    request: Request,
    services: ServicesDep,
    principal: Principal,
    headers: CommandHeadersDep,
    body: Body | None,
    command: c.Command,
) -> Answer:
    answer = await services.ledger.execute(command, caller_for(request, principal, headers, body))
    structlog.contextvars.bind_contextvars(correlation_id=answer.correlation_id)
    log.info(
        "command",
        command=type(command).__name__,
        refused=answer.refusal is not None,
        principal=principal.name,
        replayed=answer.replayed,
    )
    return answer


async def _run(
    request: Request,
    services: ServicesDep,
    principal: Principal,
    headers: CommandHeadersDep,
    body: Body | None,
    command: c.Command,
    present: Present = command_out,
) -> Response:
    answer = await execute(request, services, principal, headers, body, command)
    return reply(answer, present, request.url.path)


def _lines(lines: list[s.LineIn]) -> tuple[Line, ...]:
    return tuple(
        SerialLine(x.sku, x.warehouse_id, x.quantity, tuple(x.serials))
        if x.serials
        else Line(sku=x.sku, warehouse_id=x.warehouse_id, quantity=x.quantity)
        for x in lines
    )


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def _reserved_lines(lines: list[s.LineIn]) -> tuple[Line, ...]:
    """Plain lines, and the lines that narrow the lots they may take (lot-tracked items)."""
    return tuple(
        c.LotLine(x.sku, x.warehouse_id, x.quantity, x.lot_id, x.min_expires_on)
        if x.lot_id is not None or x.min_expires_on is not None
        else Line(x.sku, x.warehouse_id, x.quantity)
        for x in lines
    )


# What each body means as a command: one function per operation, shared by its route and the
# command topic (OPERATIONS below), so both decide the same command from the same request.


def receipt_command(body: s.ReceiptIn) -> c.Command:
    return c.ReceiveStock(
        body.sku,
        body.warehouse_id,
        body.quantity,
        body.purchase_order_id,
        body.unit_cost,
        body.supplier,
        body.receipt_id,
        bool(body.inspect),
        body.lot_id,
        body.expires_on,
        _tuple(body.serials),
    )


def reservation_command(body: s.ReservationIn, default_ttl_seconds: int) -> c.Command:
    ttl = body.ttl_seconds or default_ttl_seconds
    return c.ReserveStock(
        str(uuid4()), body.order_id, _reserved_lines(body.lines), utcnow() + timedelta(seconds=ttl)
    )


def release_command(reservation_id: str, body: s.ReleaseIn | None) -> c.Command:
    return c.ReleaseReservation(reservation_id, body.reason if body else None)


def shipment_command(body: s.ShipmentIn) -> c.Command:
    return c.ShipStock(
        body.shipment_id,
        body.order_id,
        body.reservation_id,
        _lines(body.lines) if body.lines else None,
    )


def return_command(body: s.ReturnIn) -> c.Command:
    return c.ReturnStock(
        body.return_id,
        body.order_id,
        body.sku,
        body.warehouse_id,
        body.quantity,
        body.reason,
        body.condition,
        body.lot_id,
        _tuple(body.serials),
    )


def transfer_command(body: s.TransferIn) -> c.Command:
    return c.DispatchTransfer(
        body.transfer_id,
        body.sku,
        body.from_warehouse_id,
        body.to_warehouse_id,
        body.quantity,
        body.lot_id,
        _tuple(body.serials),
    )


def transfer_receipt_command(transfer_id: str, body: s.TransferReceiveIn | None) -> c.Command:
    received = body.received_quantity if body else None
    serials = _tuple(body.received_serials) if body else None
    return c.ReceiveTransfer(transfer_id, received, serials)


def adjustment_command(body: s.AdjustmentIn, if_match: int | None) -> c.Command:
    return c.AdjustStock(
        body.sku,
        body.warehouse_id,
        body.quantity_change,
        body.reason,
        body.notes,
        if_match,
        body.unit_cost,
        body.lot_id,
        _tuple(body.serials),
    )


def count_command(body: s.CountIn, if_match: int | None) -> c.Command:
    return c.CountStock(
        body.sku,
        body.warehouse_id,
        body.counted_quantity,
        body.notes,
        if_match,
        body.lot_id,
        _tuple(body.counted_serials),
    )


def _reservation_answers(
    *statuses: int, links: dict[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    documented = answers(*statuses, model=s.ReservationCommandOut)
    if links is not None:  # a new reservation: where it is, and what can follow it
        documented[201] |= {"links": links, "headers": {**COMMAND, "Location": LOCATION}}
    return documented


Writer = Annotated[Principal, require(WAREHOUSE)]
Orders = Annotated[Principal, require(ORDERS)]


@router.post("/receipts", status_code=201, response_model=s.CommandOut, responses=answers())
async def receive(
    body: s.ReceiptIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Goods arrived from a purchase order: onHand += quantity. When the order has an open line
    for this SKU and warehouse, the receipt takes what it can off that line and off `incoming`
    (the rest is recorded as `overReceived`); `inspect: true` holds the units in
    qualityControl."""
    return await _run(request, services, who, headers, body, receipt_command(body))


@router.post(
    "/reservations",
    status_code=201,
    response_model=s.ReservationCommandOut,
    responses=_reservation_answers(links=s.RESERVATION_LINKS),
)
async def reserve(
    body: s.ReservationIn,
    request: Request,
    services: ServicesDep,
    who: Orders,
    headers: CommandHeadersDep,
) -> Response:
    """Hold stock for an order: all lines or none (409 lists the short lines)."""
    command = reservation_command(body, services.reservation_ttl_seconds)
    answer = await execute(request, services, who, headers, body, command)
    response = reply(answer, reservation_command_out, request.url.path)
    if answer.outcome is not None and answer.outcome.reservation is not None:
        reservation_id = answer.outcome.reservation.reservation_id
        response.headers["Location"] = f"/v1/reservations/{reservation_id}"
    return response


@router.post(
    "/reservations/{reservation_id}/confirm",
    status_code=201,
    response_model=s.ReservationCommandOut,
    responses=_reservation_answers(404),
)
async def confirm(
    reservation_id: Id,
    request: Request,
    services: ServicesDep,
    who: Orders,
    headers: CommandHeadersDep,
    body: s.ConfirmIn | None = None,
) -> Response:
    """Confirm: the reservation no longer expires."""
    command = c.ConfirmReservation(reservation_id)
    return await _run(request, services, who, headers, body, command, reservation_command_out)


@router.post(
    "/reservations/{reservation_id}/release",
    status_code=201,
    response_model=s.ReservationCommandOut,
    responses=_reservation_answers(404),
)
async def release(
    reservation_id: Id,
    request: Request,
    services: ServicesDep,
    who: Orders,
    headers: CommandHeadersDep,
    body: s.ReleaseIn | None = None,
) -> Response:
    """Give the reserved stock back: reserved -= quantity on every line."""
    command = release_command(reservation_id, body)
    return await _run(request, services, who, headers, body, command, reservation_command_out)


@router.post("/shipments", status_code=201, response_model=s.CommandOut, responses=answers(404))
async def ship(
    body: s.ShipmentIn,
    request: Request,
    services: ServicesDep,
    who: Orders,
    headers: CommandHeadersDep,
) -> Response:
    """Ship a reservation (all its lines unless `lines` says less), or `lines` from available."""
    return await _run(request, services, who, headers, body, shipment_command(body))


@router.post("/returns", status_code=201, response_model=s.CommandOut, responses=answers())
async def return_stock(
    body: s.ReturnIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """A customer return: resellable -> onHand, damaged -> damaged, dispose -> recorded only."""
    return await _run(request, services, who, headers, body, return_command(body))


@router.post("/transfers", status_code=201, response_model=s.CommandOut, responses=answers())
async def transfer(
    body: s.TransferIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Dispatch between warehouses: source onHand -= q, destination inTransit += q, atomically."""
    return await _run(request, services, who, headers, body, transfer_command(body))


@router.post(
    "/transfers/{transfer_id}/receive",
    status_code=201,
    response_model=s.CommandOut,
    responses=answers(404),
)
async def receive_transfer(
    transfer_id: Id,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
    body: s.TransferReceiveIn | None = None,
) -> Response:
    """Arrival: inTransit -= dispatched, onHand += received; a shortfall is a recorded loss."""
    command = transfer_receipt_command(transfer_id, body)
    return await _run(request, services, who, headers, body, command)


@router.post("/adjustments", status_code=201, response_model=s.CommandOut, responses=answers(412))
async def adjust(
    body: s.AdjustmentIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
    if_match: IfMatch = None,
) -> Response:
    """Correct onHand (never below reserved nor 0)."""
    command = adjustment_command(body, parse_if_match(if_match))
    return await _run(request, services, who, headers, body, command)


@router.post("/counts", status_code=201, response_model=s.CommandOut, responses=answers(412))
async def count(
    body: s.CountIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
    if_match: IfMatch = None,
) -> Response:
    """Record a physical count; a difference becomes a `physical_count` adjustment."""
    command = count_command(body, parse_if_match(if_match))
    return await _run(request, services, who, headers, body, command)


@dataclass(frozen=True, slots=True)
class Operation:
    """A command as the command topic names it (API.md, "Commands over Kafka"): the route it
    stands for (`path`, with `{id}` for the ids the message's `path` carries), its body, the
    roles that may send it, and how the route builds and presents it."""

    path: str
    body: type[Body]
    body_required: bool
    roles: frozenset[Role]
    build: Callable[[Any, Mapping[str, str], int], c.Command]  # (body, ids, default ttl)
    present: Present = command_out
    ids: tuple[str, ...] = ()


OPERATIONS: dict[str, Operation] = {
    "reserve": Operation(
        "/v1/reservations",
        s.ReservationIn,
        True,
        ORDERS,
        lambda body, _, ttl: reservation_command(body, ttl),
        reservation_command_out,
    ),
    "confirm": Operation(
        "/v1/reservations/{reservationId}/confirm",
        s.ConfirmIn,
        False,
        ORDERS,
        lambda _, ids, __: c.ConfirmReservation(ids["reservationId"]),
        reservation_command_out,
        ("reservationId",),
    ),
    "release": Operation(
        "/v1/reservations/{reservationId}/release",
        s.ReleaseIn,
        False,
        ORDERS,
        lambda body, ids, _: release_command(ids["reservationId"], body),
        reservation_command_out,
        ("reservationId",),
    ),
    "ship": Operation(
        "/v1/shipments", s.ShipmentIn, True, ORDERS, lambda body, _, __: shipment_command(body)
    ),
    "receive": Operation(
        "/v1/receipts", s.ReceiptIn, True, WAREHOUSE, lambda body, _, __: receipt_command(body)
    ),
    "return": Operation(
        "/v1/returns", s.ReturnIn, True, WAREHOUSE, lambda body, _, __: return_command(body)
    ),
    "transfer": Operation(
        "/v1/transfers", s.TransferIn, True, WAREHOUSE, lambda body, _, __: transfer_command(body)
    ),
    "receive-transfer": Operation(
        "/v1/transfers/{transferId}/receive",
        s.TransferReceiveIn,
        False,
        WAREHOUSE,
        lambda body, ids, _: transfer_receipt_command(ids["transferId"], body),
        ids=("transferId",),
    ),
    "adjust": Operation(
        "/v1/adjustments",
        s.AdjustmentIn,
        True,
        WAREHOUSE,
        lambda body, _, __: adjustment_command(body, None),
    ),
    "count": Operation(
        "/v1/counts", s.CountIn, True, WAREHOUSE, lambda body, _, __: count_command(body, None)
    ),
}
