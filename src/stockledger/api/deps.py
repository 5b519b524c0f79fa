"""Request-scoped dependencies: the app's services and the command headers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel, WithJsonSchema

from .. import tracing
from ..wiring import Services
from ..write.ledger import Caller
from .auth import Principal
from .fastroute import fast_value


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# Dependencies are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a
# thread hand-off on every request for what is an attribute read.
@fast_value(services_of)
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_HEADER_TEXT = r"^[\x21-\x7e]{1,255}$"


def _header_schema(pattern: str) -> WithJsonSchema:
    """An optional header's schema: a string (absent is `required: false`). Optional's `null`
    branch has no meaning in a header, and a client or fuzzer that sends it sends "null"."""
    return WithJsonSchema({"type": "string", "pattern": pattern})


@dataclass(frozen=True, slots=True)
class CommandHeaders:
    idempotency_key: str | None
    correlation_id: str | None
    request_id: str | None


async def command_headers(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=_HEADER_TEXT,
            description="≤ 255 visible ASCII chars, scoped to your principal, kept ≥ 24 h. "
            "Exactly one execution owns a key, whatever its outcome: a retry with the same key "
            "and body, sent to any process and even while the first runs, gets the original "
            "status and body (`Idempotent-Replayed: true`) and appends nothing. A refusal "
            "(409 insufficient-stock, 404, 412, a domain 422) is an outcome too: it is "
            "recorded and replayed like a success, so retry a refused command with a new key. "
            "The same key with another request (another body, path or operation): 422 "
            "idempotency-key-reused",
        ),
        _header_schema(_HEADER_TEXT),
    ] = None,
    correlation_id: Annotated[
        str | None,
        Header(
            alias="X-Correlation-Id",
            pattern=_HEADER_TEXT,
            description="stored as correlationId; default: the command's order/purchase "
            "order/transfer/return id, else a new UUID",
        ),
        _header_schema(_HEADER_TEXT),
    ] = None,
) -> CommandHeaders:
    return CommandHeaders(
        idempotency_key, correlation_id, getattr(request.state, "request_id", None)
    )


CommandHeadersDep = Annotated[CommandHeaders, Depends(command_headers)]


def caller_for(
    request: Request, principal: Principal, headers: CommandHeaders, body: BaseModel | None
) -> Caller:
    """Who runs the command; the request hash ties an Idempotency-Key to this exact request."""
    return Caller(
        principal=principal.name,
        correlation_id=headers.correlation_id,
        request_id=headers.request_id,
        idempotency_key=headers.idempotency_key,
        request_hash=request_hash(request.method, request.url.path, body),
        traceparent=tracing.traceparent(),
    )


def request_hash(method: str, path: str, body: BaseModel | None) -> str:
    """What an Idempotency-Key is tied to: the operation, the path and the body as validated
    (so the same command sent over HTTP or the command topic hashes the same)."""
    payload: Any = body.model_dump(mode="json", by_alias=True) if body is not None else None
    return hashlib.sha256(
        orjson.dumps([method, path, payload], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


# `If-Match: "7"`: an entity tag as the stock level's ETag gives it; the bare number and a W/
# prefix are taken too. ASCII digits only (str.isdigit() took "²", which int() then refused).
IF_MATCH = r'^(W/)?"[0-9]{1,10}"$|^[0-9]{1,10}$'


def _if_match(what: str) -> Any:
    """The If-Match header of a command on one stream (`what` names it in the document)."""
    return Header(
        alias="If-Match",
        pattern=IF_MATCH,
        description=f'"<version>" of the {what}: 412 version-conflict when the stream is at '
        "another version",
        examples=['"7"'],
    )


IfMatch = Annotated[str | None, _if_match("stock stream (its ETag)"), _header_schema(IF_MATCH)]
CatalogIfMatch = Annotated[
    str | None, _if_match("item or warehouse (its version)"), _header_schema(IF_MATCH)
]


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "7"` (or W/"7", or 7) -> 7; the header's pattern has checked the form."""
    if value is None:
        return None
    return int(value.removeprefix("W/").strip('"'))
