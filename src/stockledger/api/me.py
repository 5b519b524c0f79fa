"""`GET /v1/me`: whom the presented key belongs to, so a client (the ops console) can show only
what that role may read. The answer says nothing the key's holder does not already know."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from ..config import Role
from .auth import ANY_ROLE, Principal, require
from .fastroute import FastRoute
from .openapi import operation_id
from .schemas.problems import problem_answers
from .schemas.wire import Out

router = APIRouter(
    prefix="/v1", tags=["queries"], route_class=FastRoute, generate_unique_id_function=operation_id
)


class MeOut(Out):
    principal: str
    role: Role


@router.get(
    "/me",
    response_model=MeOut,
    responses=problem_answers((401, "no or unknown API key")),
)
async def me(principal: Annotated[Principal, require(ANY_ROLE)]) -> Response:
    """The principal and role of the key sent with this request (every known key may ask)."""
    body = {"principal": principal.name, "role": principal.role.value}
    return Response(orjson.dumps(body), media_type="application/json")
