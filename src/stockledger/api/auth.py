"""API keys -> principal and role; who may do what (the matrix of API.md)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..config import ApiKey, Role
from .problems import Problem

log = structlog.get_logger()

ORDERS = frozenset({Role.ORDERS, Role.ADMIN})
WAREHOUSE = frozenset({Role.WAREHOUSE, Role.ADMIN})
READ_STOCK = frozenset({Role.ORDERS, Role.WAREHOUSE, Role.AUDITOR, Role.ADMIN})
READ_HISTORY = frozenset({Role.WAREHOUSE, Role.AUDITOR, Role.ADMIN})
READ_RESERVATIONS = frozenset({Role.ORDERS, Role.AUDITOR, Role.ADMIN})
AUDIT = frozenset({Role.AUDITOR, Role.ADMIN})

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


def require(roles: frozenset[Role]) -> object:
    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
    ) -> Principal:
        presented = bearer.credentials if bearer else header
        key = find_key(request.app.state.api_keys, presented) if presented else None
        if key is None:
            log.info("denied", reason="unauthorized", path=request.url.path)
            raise Problem(
                401, "unauthorized", "Send `Authorization: Bearer <key>` with a known key"
            )
        if key.role not in roles:
            log.info(
                "denied",
                reason="forbidden",
                principal=key.principal,
                role=key.role.value,
                path=request.url.path,
            )
            raise Problem(
                403, "forbidden", f"Role {key.role.value} may not {request.method} this resource"
            )
        return Principal(key.principal, key.role)

    return Depends(dependency)
