"""RFC 9457 problem+json for every error, mapped in one place."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from ..domain.errors import (
    ConflictingDuplicate,
    DomainError,
    InsufficientQualityControl,
    InsufficientStock,
    InvalidCommand,
    ItemInactive,
    KitHasNoStock,
    LedgerConflict,
    LotExpiryMismatch,
    LotRequired,
    NotFound,
    NotShippedOnOrder,
    PurchaseOrderClosed,
    PurchaseOrderExists,
    ReservationNotActive,
    SerialInStock,
    SerialNotInStock,
    SerialsRequired,
    TrackingLocked,
    UnitCostRequired,
    UnknownItem,
    UnknownWarehouse,
    ValuationMethodLocked,
    VersionMismatch,
    WarehouseInactive,
    WarehouseNotEmpty,
)
from ..write.ledger import IdempotencyKeyReused, VersionConflictExhausted

log = structlog.get_logger()

TITLES = {
    "validation-error": "Your request is not valid",
    "unauthorized": "Missing or unknown API key",
    "forbidden": "Your role may not do this",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "insufficient-stock": "Not enough stock",
    "reservation-not-active": "Reservation is not active",
    "version-conflict": "Version conflict",
    "conflict": "Conflicts with what the ledger holds",
    "item-inactive": "The item is inactive",
    "warehouse-inactive": "The warehouse is inactive",
    "warehouse-not-empty": "The warehouse still holds stock",
    "valuation-method-locked": "The valuation method is locked by stock events",
    "tracking-locked": "The item's tracking is locked by stock events",
    "lot-required": "The item is tracked by lot: name the lot",
    "lot-expiry-mismatch": "The lot is held with another expiry date",
    "not-shipped-on-order": "That did not ship on that order",
    "serials-required": "The item is tracked by serial number: name the serials",
    "serial-in-stock": "The serial is already in stock or in transit",
    "serial-not-in-stock": "The serial is not in stock there",
    "unknown-item": "The item was never defined (the catalog is required)",
    "unknown-warehouse": "The warehouse was never defined (the catalog is required)",
    "kit-has-no-stock": "A kit holds no stock of its own",
    "purchase-order-exists": "The purchase order exists with other details",
    "purchase-order-closed": "The purchase order is received or cancelled",
    "insufficient-quality-control": "Not that much in quality control",
    "unit-cost-required": "The receipt needs a unitCost: its purchase order has no such line",
    "idempotency-key-reused": "Idempotency-Key reused for a different request",
    "payload-too-large": "Request body too large",
    "rate-limited": "Too many requests: slow down",
    "request-timeout": "Request body too slow",
    "service-unavailable": "Service unavailable",
    "internal-error": "Internal server error",
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers
        self.extensions = extensions
        super().__init__(detail)


def problem_body(
    status: int, slug: str, detail: str, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": TITLES.get(slug, slug),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(
    status: int,
    slug: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = problem_body(status, slug, detail, instance, **extensions)
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def to_problem(error: Exception) -> Problem:
    """The one mapping from a typed error to its problem (status, slug, extensions)."""
    match error:
        case Problem():
            return error
        case InsufficientStock(lines=lines, detail=detail):
            short = [
                {
                    "sku": x.sku,
                    "warehouseId": x.warehouse_id,
                    "requested": x.requested,
                    "available": x.available,
                }
                for x in lines
            ]
            return Problem(409, "insufficient-stock", detail, lines=short)
        case ReservationNotActive(detail=detail, status=status):
            return Problem(409, "reservation-not-active", detail, reservationStatus=status)
        case NotFound(detail=detail):
            return Problem(404, "not-found", detail)
        case VersionMismatch(detail=detail, actual=actual, stream_id=stream):
            return Problem(412, "version-conflict", detail, streamId=stream, currentVersion=actual)
        case VersionConflictExhausted(conflict=conflict):
            return Problem(
                409,
                "version-conflict",
                f"{conflict}; retries exhausted, try again",
                streamId=conflict.stream_id,
            )
        case InvalidCommand(detail=detail):
            return Problem(422, "validation-error", detail)
        case ConflictingDuplicate(detail=detail) | LedgerConflict(detail=detail):
            return Problem(409, "conflict", detail)
        case ItemInactive(detail=detail, sku=sku):
            return Problem(409, "item-inactive", detail, sku=sku)
        case WarehouseInactive(detail=detail, warehouse_id=warehouse_id):
            return Problem(409, "warehouse-inactive", detail, warehouseId=warehouse_id)
        case WarehouseNotEmpty(detail=detail, warehouse_id=warehouse_id, holding=holding):
            return Problem(
                409, "warehouse-not-empty", detail, warehouseId=warehouse_id, streams=holding
            )
        case ValuationMethodLocked(detail=detail, current=current):
            return Problem(409, "valuation-method-locked", detail, valuationMethod=current)
        case TrackingLocked(detail=detail, current=current):
            return Problem(409, "tracking-locked", detail, tracking=current)
        case LotRequired(detail=detail, sku=sku):
            return Problem(422, "lot-required", detail, sku=sku)
        case LotExpiryMismatch(detail=detail, lot_id=lot_id, expires_on=expires_on):
            return Problem(409, "lot-expiry-mismatch", detail, lotId=lot_id, expiresOn=expires_on)
        case NotShippedOnOrder(detail=detail, lot_id=lot_id, shipped=shipped, serial=None):
            return Problem(409, "not-shipped-on-order", detail, lotId=lot_id, shipped=shipped)
        case NotShippedOnOrder(detail=detail, serial=serial):
            return Problem(409, "not-shipped-on-order", detail, serial=serial)
        case SerialsRequired(detail=detail, sku=sku):
            return Problem(422, "serials-required", detail, sku=sku)
        case SerialInStock(detail=detail, serial=serial, warehouse_id=wh, status=status):
            return Problem(
                409, "serial-in-stock", detail, serial=serial, warehouseId=wh, serialStatus=status
            )
        case SerialNotInStock(detail=detail, serial=serial, warehouse_id=wh):
            return Problem(409, "serial-not-in-stock", detail, serial=serial, warehouseId=wh)
        case UnknownItem(detail=detail, sku=sku):
            return Problem(422, "unknown-item", detail, sku=sku)
        case UnknownWarehouse(detail=detail, warehouse_id=warehouse_id):
            return Problem(422, "unknown-warehouse", detail, warehouseId=warehouse_id)
        case KitHasNoStock(detail=detail, sku=sku):
            return Problem(409, "kit-has-no-stock", detail, sku=sku)
        case PurchaseOrderExists(detail=detail, purchase_order_id=po):
            return Problem(409, "purchase-order-exists", detail, purchaseOrderId=po)
        case PurchaseOrderClosed(detail=detail, purchase_order_id=po, status=status):
            return Problem(
                409, "purchase-order-closed", detail, purchaseOrderId=po, orderStatus=status
            )
        case InsufficientQualityControl(detail=detail, quality_control=held):
            return Problem(409, "insufficient-quality-control", detail, qualityControl=held)
        case UnitCostRequired(detail=detail, purchase_order_id=po):
            return Problem(409, "unit-cost-required", detail, purchaseOrderId=po)
        case IdempotencyKeyReused():
            return Problem(422, "idempotency-key-reused", str(error))
        case DomainError():
            return Problem(422, "validation-error", str(error))
        case _ if primary_lost(error):
            return Problem(
                503,
                "service-unavailable",
                "No primary database answers (it may be failing over); retry shortly",
                headers=RETRY_SOON,
            )
        case asyncpg.TooManyConnectionsError():
            return Problem(
                503,
                "service-unavailable",
                "The database is out of connections",
                headers=RETRY_SOON,
            )
    return Problem(500, "internal-error", "An unexpected error occurred; it has been logged")


RETRY_SOON = {"Retry-After": "1"}  # a failover or a restart takes seconds, not minutes

# What a client meets while the primary is down, restarting or being replaced: no server, a
# server shutting down or starting up (class 57), a connection cut mid-use, only a standby
# (read-only transactions, or no host with target_session_attrs=read-write), and a connect or
# acquire that timed out.
_PRIMARY_LOST = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # no read-write host; a connection cut mid-reply
)


def primary_lost(error: BaseException) -> bool:
    """Whether `error` says the primary database is not (or no longer) there."""
    return isinstance(error, _PRIMARY_LOST)


def refusal(error: DomainError, instance: str) -> tuple[int, dict[str, Any]]:
    """A domain refusal as the status and problem body recorded under an Idempotency-Key."""
    problem = to_problem(error)
    return problem.status, problem_body(
        problem.status, problem.slug, problem.detail, instance, **problem.extensions
    )


def validation_detail(error: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
        for e in error.errors()
    ]
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
    return summary or "Invalid request", errors


def allowed_methods(request: Request, given: str) -> str:
    """Every method the app serves at the request's path, for a 405's `Allow` header (`given`:
    what the refusing route or mount named).

    A path served by several methods is several routes (`GET` and `PUT /v1/items/{sku}`), and
    the router answers 405 from the first route whose path matches, which names only its own
    method; the header must name them all (RFC 9110 section 15.5.6)."""
    methods = {m.strip() for m in given.split(",") if m.strip()}
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        detail, errors = validation_detail(error)
        return problem_response(422, "validation-error", detail, request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
            error.status_code, "validation-error" if error.status_code < 500 else "internal-error"
        )
        detail = error.detail if isinstance(error.detail, str) else slug
        headers = getattr(error, "headers", None)
        if error.status_code == 405:
            headers = dict(headers or {})
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        return problem_response(error.status_code, slug, detail, request.url.path, headers=headers)

    async def _typed(request: Request, error: Exception) -> Response:
        problem = to_problem(error)
        if primary_lost(error):
            # Connections to a server that went away or turned standby are useless: drop them
            # all, so the next acquire finds the primary (the URL may list several hosts).
            # (app.state.services: api/deps.py imports this module's neighbours)
            services = getattr(request.app.state, "services", None)
            if services is not None:
                await services.pool.expire_connections()
        if problem.status >= 500:
            log.error(
                "request failed",
                path=request.url.path,
                error=repr(error),
                exc_info=problem.status == 500,
            )
        return problem_response(
            problem.status,
            problem.slug,
            problem.detail,
            request.url.path,
            problem.headers,
            **problem.extensions,
        )

    # Known errors go through the exception middleware (no re-raise, no stack trace in logs);
    # `Exception` is the last resort of the server-error middleware: a 500 problem body.
    for known in (
        Problem,
        DomainError,
        IdempotencyKeyReused,
        VersionConflictExhausted,
        asyncpg.PostgresConnectionError,
        asyncpg.TooManyConnectionsError,
        *_PRIMARY_LOST,
        Exception,
    ):
        app.add_exception_handler(known, _typed)
