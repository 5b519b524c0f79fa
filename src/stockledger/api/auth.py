"""API keys -> principal and role; who may do what (README "Roles")."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import ApiKey, Role
from .fastroute import fast_value
from .oidc import TokenRejected, TokenVerifier, looks_like_jwt
from .problems import Problem

log = structlog.get_logger()

ORDERS = frozenset({Role.ORDERS, Role.ADMIN})
WAREHOUSE = frozenset({Role.WAREHOUSE, Role.ADMIN})
READ_STOCK = frozenset({Role.ORDERS, Role.WAREHOUSE, Role.AUDITOR, Role.ADMIN})
READ_HISTORY = frozenset({Role.WAREHOUSE, Role.AUDITOR, Role.ADMIN})
READ_REPORTS = frozenset({Role.WAREHOUSE, Role.AUDITOR, Role.ADMIN})
READ_RESERVATIONS = frozenset({Role.ORDERS, Role.AUDITOR, Role.ADMIN})
AUDIT = frozenset({Role.AUDITOR, Role.ADMIN})
ANY_ROLE = frozenset(Role)

PRINCIPAL = "principal"  # the request-state key Authenticate fills
REJECTED = "token_rejected"  # ... and why a bearer token was refused

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: <key>`")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    roles: frozenset[Role] = frozenset()  # every role a token maps to (a key has only `role`)

    def may(self, roles: frozenset[Role]) -> bool:
        return self.role in roles or not self.roles.isdisjoint(roles)


def find_key(keys: tuple[ApiKey, ...], presented: str) -> ApiKey | None:
    """Compare against every key in constant time (no early exit that leaks which matched)."""
    found = None
    for candidate in keys:
        if hmac.compare_digest(candidate.key.encode(), presented.encode()):
            found = candidate
    return found


class Authenticate:
    """ASGI middleware: the principal of the request's API key (or None), found once.

    `Authorization: Bearer <key>` first, else `X-API-Key`; stored in the request state for
    `require` (and FastRoute's plan of it), so no route solves the security schemes again.
    With `oidc`, a bearer that is a JWT is verified as an OpenID Connect token instead."""

    def __init__(
        self, app: ASGIApp, keys: tuple[ApiKey, ...], oidc: TokenVerifier | None = None
    ) -> None:
        self.app = app
        self.keys = keys
        self.oidc = oidc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            bearer, header = credentials(scope["headers"])
            if self.oidc is not None and bearer and looks_like_jwt(bearer):
                state[PRINCIPAL] = await self.token_principal(bearer, state)
            else:
                presented = bearer or header
                key = find_key(self.keys, presented) if presented else None
                state[PRINCIPAL] = Principal(key.principal, key.role) if key is not None else None
        await self.app(scope, receive, send)

    async def token_principal(self, token: str, state: dict[str, object]) -> Principal | None:
        assert self.oidc is not None
        try:
            identity = await self.oidc.identity(token)
        except TokenRejected as rejected:
            state[REJECTED] = rejected
            return None
        return Principal(identity.name, identity.role, identity.roles)


def credentials(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The `Authorization: Bearer` credentials and the `X-API-Key` header, as sent."""
    bearer = header = None
    for name, value in headers:
        if name == b"authorization" and bearer is None:  # as fastapi.security.HTTPBearer
            scheme, _, sent = value.decode("latin-1").partition(" ")
            bearer = sent if scheme.lower() == "bearer" and sent else ""
        elif name == b"x-api-key" and header is None:
            header = value.decode("latin-1")
    return bearer, header


def authorize(request: Request, roles: frozenset[Role]) -> Principal:
    """The request's principal if its role is one of `roles`; else 401 / 403."""
    principal: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
    if principal is None:
        rejected: TokenRejected | None = request.scope.get("state", {}).get(REJECTED)
        if rejected is not None:
            raise token_problem(rejected, request.scope["path"])
        log.info("denied", reason="unauthorized", path=request.scope["path"])
        raise Problem(401, "unauthorized", "Send `Authorization: Bearer <key>` with a known key")
    if not principal.may(roles):
        log.info(
            "denied",
            reason="forbidden",
            principal=principal.name,
            role=principal.role.value,
            path=request.scope["path"],
        )
        raise Problem(
            403, "forbidden", f"Role {principal.role.value} may not {request.method} this resource"
        )
    return principal


def token_problem(rejected: TokenRejected, path: str) -> Problem:
    """RFC 6750: an invalid token is 401 with `WWW-Authenticate: Bearer error="invalid_token"`;
    a valid one that maps to no role is 403; keys that cannot be fetched, 503."""
    log.info("denied", reason="token", detail=rejected.reason, path=path)
    if rejected.status == 403:
        return Problem(403, "forbidden", f"Token accepted, but {rejected.reason}")
    if rejected.status == 503:
        return Problem(503, "service-unavailable", rejected.reason, headers={"Retry-After": "5"})
    description = rejected.reason.replace("\\", "").replace('"', "'")
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return Problem(
        401,
        "unauthorized",
        f"Invalid token: {rejected.reason}",
        headers={"WWW-Authenticate": challenge},
    )


def require(roles: frozenset[Role]) -> object:
    """A dependency: the principal, checked against `roles`. Its security parameters document
    the two ways to send a key; Authenticate has already read them."""

    @fast_value(lambda request: authorize(request, roles))
    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
    ) -> Principal:
        return authorize(request, roles)

    return Depends(dependency)
