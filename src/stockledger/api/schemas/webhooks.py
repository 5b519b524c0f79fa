"""Wire schemas of the webhook routes (camelCase; unknown fields refused, as everywhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from ...domain.events import EVENT_TYPES
from ...webhooks.addresses import MAX_URL
from .wire import Body, Out, Text

# An http(s) URL: a host name or IP literal, an optional port, then anything without spaces.
# No user:password@ (credentials belong in the signature, not in a URL stored in clear).
URL = (
    r"^https?://([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?"
    r"([/?#][^\s]*)?$"
)
Url = Annotated[
    str,
    StringConstraints(max_length=MAX_URL, pattern=URL),
    Field(
        description="where events are POSTed: http or https, to a public address (loopback, "
        "private and link-local ones are refused unless STOCKLEDGER_WEBHOOKS_ALLOW_PRIVATE)",
        examples=["https://hooks.example.com/stockledger"],
    ),
]


def _event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"not an event type: {value!r}")
    return value


EventType = Annotated[
    str, AfterValidator(_event_type), WithJsonSchema({"type": "string", "enum": list(EVENT_TYPES)})
]


def _distinct(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("each event type once")
    return values


SkuPrefix = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$"),
    Field(description="only events about an SKU starting with this", examples=["SKU-"]),
]


class WebhookIn(Body):
    url: Url
    event_types: (
        Annotated[
            list[EventType],
            Field(
                min_length=1,
                max_length=len(EVENT_TYPES),
                json_schema_extra={"uniqueItems": True},
                description="only these event types (default: every type, those added later too)",
            ),
            AfterValidator(_distinct),
        ]
        | None
    ) = None
    sku_prefix: SkuPrefix | None = None
    description: Text | None = None


class EmptyIn(Body):
    pass


class WebhookOut(Out):
    webhook_id: UUID
    url: str
    event_types: list[str] | None = Field(description="null: every event type")
    sku_prefix: str | None
    description: str | None
    active: bool = Field(description="false: disabled after 3 days of failures, until enabled")
    created_at: datetime
    created_by: str
    failing_since: datetime | None = Field(
        description="the first failed attempt since the last delivered one; null while healthy"
    )
    disabled_at: datetime | None


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(
        pattern=r"^whsec_[A-Za-z0-9+/=]+$",
        description="the Standard Webhooks signing secret: shown only in this answer",
    )


class WebhooksOut(Out):
    webhooks: list[WebhookOut]


class DeliveryOut(Out):
    delivery_id: UUID
    event_id: UUID = Field(description="also the `webhook-id` header: deduplicate by it")
    position: int
    stream_id: str
    version: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = Field(description="the last attempt's HTTP status, if any")
    last_error: str | None = Field(description="why the last attempt failed, if it did")
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(
        description="when a failed attempt is tried again (null: delivered, failed, or not "
        "tried yet: it goes once the earlier deliveries of its stream have)"
    )


class DeliveriesOut(Out):
    deliveries: list[DeliveryOut]
    next: str | None = Field(description="pass as `after` for the next page; null at the end")
