"""API keys -> principal and role; who may do what (the matrix of API.md)."""

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

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: <key>`")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role


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
    `require` (and FastRoute's plan of it), so no route solves the security schemes again."""

    def __init__(self, app: ASGIApp, keys: tuple[ApiKey, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[PRINCIPAL] = self.principal(scope["headers"])
        await self.app(scope, receive, send)

    def principal(self, headers: list[tuple[bytes, bytes]]) -> Principal | None:
        bearer = header = None
        for name, value in headers:
            if name == b"authorization" and bearer is None:  # as fastapi.security.HTTPBearer
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                bearer = credentials if scheme.lower() == "bearer" and credentials else ""
            elif name == b"x-api-key" and header is None:
                header = value.decode("latin-1")
        presented = bearer or header
        key = find_key(self.keys, presented) if presented else None
        return Principal(key.principal, key.role) if key is not None else None


def authorize(request: Request, roles: frozenset[Role]) -> Principal:
    """The request's principal if its role is one of `roles`; else 401 / 403."""
    principal: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
    if principal is None:
        log.info("denied", reason="unauthorized", path=request.scope["path"])
        raise Problem(401, "unauthorized", "Send `Authorization: Bearer <key>` with a known key")
    if principal.role not in roles:
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
