"""Webhook routes (`admin` only): subscriptions and their deliveries. Nothing here sends: the
elected dispatcher does (webhooks/dispatcher.py), from the event log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..config import Role
from ..webhooks import deliveries, subscriptions
from ..webhooks.addresses import UnsafeUrl, check_url
from ..webhooks.deliveries import AlreadyDelivered, Delivery, WebhookInactive
from ..webhooks.secret_box import secret_box
from ..webhooks.subscriptions import Subscription
from .auth import Principal, require
from .deps import ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .problems import Problem
from .schemas import webhooks as w
from .schemas.problems import problem_answers

router = APIRouter(
    prefix="/v1/webhooks",
    tags=["webhooks"],
    route_class=FastRoute,
    generate_unique_id_function=operation_id,
)

Admin = Annotated[Principal, require(frozenset({Role.ADMIN}))]

_ERRORS = problem_answers(
    (401, "no or unknown API key"),
    (403, "role not allowed (webhooks are admin's)"),
    (404, "no such webhook or delivery"),
    (422, "invalid request"),
    (503, "database unreachable"),
)
_BODY_ERRORS = problem_answers(
    (408, "the body did not arrive within the body timeout"),
    (413, "body over 256 KiB"),
)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def webhook_out(hook: Subscription) -> dict[str, Any]:
    return {
        "webhookId": str(hook.webhook_id),
        "url": hook.url,
        "eventTypes": list(hook.event_types) if hook.event_types is not None else None,
        "skuPrefix": hook.sku_prefix,
        "description": hook.description,
        "active": hook.active,
        "createdAt": hook.created_at.isoformat(),
        "createdBy": hook.created_by,
        "failingSince": hook.failing_since.isoformat() if hook.failing_since else None,
        "disabledAt": hook.disabled_at.isoformat() if hook.disabled_at else None,
    }


def delivery_out(d: Delivery) -> dict[str, Any]:
    return {
        "deliveryId": str(d.delivery_id),
        "eventId": str(d.event_id),
        "position": d.position,
        "streamId": d.stream_id,
        "version": d.version,
        "status": d.status,
        "attempts": d.attempts,
        "lastStatusCode": d.last_status_code,
        "lastError": d.last_error,
        "lastAttemptAt": d.last_attempt_at.isoformat() if d.last_attempt_at else None,
        "nextAttemptAt": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
    }


async def _found(services: ServicesDep, webhook_id: UUID) -> Subscription:
    hook = await subscriptions.find(services.pool, webhook_id)
    if hook is None:
        raise Problem(404, "not-found", f"No webhook {webhook_id}")
    return hook


@router.post(
    "",
    status_code=201,
    response_model=w.WebhookCreatedOut,
    responses={
        **_ERRORS,
        **_BODY_ERRORS,
        **problem_answers(
            (
                422,
                "invalid request, or a URL refused: not http(s), a host that does not "
                "resolve, or a loopback, private or link-local address",
            ),
            (
                503,
                "database unreachable, or no key to seal secrets with "
                "(STOCKLEDGER_WEBHOOKS_SECRET_KEY or STOCKLEDGER_AUDIT_KEY)",
            ),
        ),
    },
)
async def register_webhook(body: w.WebhookIn, services: ServicesDep, who: Admin) -> Response:
    """Subscribe a URL to events (all, or `eventTypes`, of SKUs starting with `skuPrefix`).
    Every matching event committed from now on is POSTed to it, signed with the `secret` of
    this answer (Standard Webhooks); the secret is never shown again."""
    settings = services.settings
    box = secret_box(settings)
    if box is None:
        raise Problem(
            503,
            "service-unavailable",
            "Webhooks need STOCKLEDGER_WEBHOOKS_SECRET_KEY (or STOCKLEDGER_AUDIT_KEY) to seal "
            "their secrets",
        )
    try:
        await check_url(body.url, allow_private=settings.webhooks_allow_private)
    except UnsafeUrl as refused:
        raise Problem(
            422,
            "validation-error",
            f"body.url: {refused}",
            errors=[{"location": "body.url", "message": str(refused)}],
        ) from None
    hook, secret = await subscriptions.register(
        services.pool,
        box,
        url=body.url,
        event_types=body.event_types,
        sku_prefix=body.sku_prefix,
        description=body.description,
        principal=who.name,
        now=datetime.now(UTC),
    )
    location = {"Location": f"/v1/webhooks/{hook.webhook_id}"}
    return _json({**webhook_out(hook), "secret": secret}, 201, location)


@router.get("", response_model=w.WebhooksOut, responses=_ERRORS)
async def list_webhooks(services: ServicesDep, _: Admin) -> Response:
    """Every webhook, oldest first (no secrets)."""
    hooks = await subscriptions.listing(services.pool)
    return _json({"webhooks": [webhook_out(h) for h in hooks]})


@router.get("/{webhook_id}", response_model=w.WebhookOut, responses=_ERRORS)
async def get_webhook(webhook_id: UUID, services: ServicesDep, _: Admin) -> Response:
    """One webhook (no secret)."""
    return _json(webhook_out(await _found(services, webhook_id)))


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "deleted, with its deliveries"}, **_ERRORS},
)
async def delete_webhook(webhook_id: UUID, services: ServicesDep, _: Admin) -> Response:
    """Unsubscribe: nothing more is sent, and its deliveries are deleted."""
    if not await subscriptions.delete(services.pool, webhook_id):
        raise Problem(404, "not-found", f"No webhook {webhook_id}")
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/enable",
    response_model=w.WebhookOut,
    responses={**_ERRORS, **_BODY_ERRORS},
)
async def enable_webhook(
    webhook_id: UUID, services: ServicesDep, _: Admin, body: w.EmptyIn | None = None
) -> Response:
    """Enable a webhook disabled after 3 days of failures: its pending deliveries go at once,
    each with a fresh 24 h of retries, and new events match it again (those committed while it
    was disabled are not sent: read them from `GET /v1/events`). An active one stays as it is."""
    hook = await subscriptions.enable(services.pool, webhook_id, datetime.now(UTC))
    if hook is None:
        raise Problem(404, "not-found", f"No webhook {webhook_id}")
    return _json(webhook_out(hook))


DeliveryStatus = Literal["pending", "delivered", "failed"]


@router.get("/{webhook_id}/deliveries", response_model=w.DeliveriesOut, responses=_ERRORS)
async def list_deliveries(
    webhook_id: UUID,
    services: ServicesDep,
    _: Admin,
    status: Annotated[DeliveryStatus | None, Query(description="only these")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")] = 100,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="the `next` of the previous page")
    ] = 0,
) -> Response:
    """The webhook's deliveries in event order (position). Delivered ones are kept 7 days,
    failed ones 30 days."""
    await _found(services, webhook_id)
    found = await deliveries.page(services.pool, webhook_id, status, after, limit)
    more = str(found[-1].position) if len(found) == limit else None
    return _json({"deliveries": [delivery_out(d) for d in found], "next": more})


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=w.DeliveryOut,
    responses={
        **_ERRORS,
        **_BODY_ERRORS,
        **problem_answers((409, "already delivered, or the webhook is disabled (enable it first)")),
    },
)
async def retry_delivery(
    webhook_id: UUID,
    delivery_id: UUID,
    services: ServicesDep,
    _: Admin,
    body: w.EmptyIn | None = None,
) -> Response:
    """Send a pending or failed delivery at once (202: queued for the dispatcher). If earlier
    deliveries of its stream are still pending, they go first, in order. A failed one gets a
    fresh 24 h of retries."""
    try:
        found = await deliveries.retry(services.pool, webhook_id, delivery_id)
    except AlreadyDelivered:
        raise Problem(409, "conflict", f"Delivery {delivery_id} was delivered") from None
    except WebhookInactive:
        raise Problem(
            409, "conflict", f"Webhook {webhook_id} is disabled: enable it first"
        ) from None
    if found is None:
        raise Problem(404, "not-found", f"No delivery {delivery_id} of webhook {webhook_id}")
    return _json(delivery_out(found), 202)
