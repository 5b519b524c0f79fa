"""Kits (`kit:{sku}`), through the same write path as stock. `warehouse` and `admin` write;
every role that reads stock reads them. What a kit makes in a warehouse is answered by the stock
route (`GET /v1/stock/{kitSku}/{warehouseId}`, api/queries.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..domain import commands as c
from ..domain.kit.events import Component
from ..read import kits
from ..write.ledger import Outcome
from .auth import READ_STOCK, Principal, require
from .catalog import Writer, _answers, _json
from .commands import execute, reply
from .deps import CommandHeadersDep, ServicesDep
from .fastroute import FastRoute
from .openapi import operation_id
from .present import catalog_command_out, kit_out
from .problems import Problem
from .schemas import kits as s
from .schemas.problems import READ_ERRORS, problem_answers
from .schemas.wire import Id

router = APIRouter(
    prefix="/v1", tags=["catalog"], route_class=FastRoute, generate_unique_id_function=operation_id
)

KitReader = Annotated[Principal, require(READ_STOCK)]


def _defined(outcome: Outcome) -> int:
    """201 when this PUT defined the kit; 200 after (changed, or the same again)."""
    return 201 if any(e.type == "KitDefined" for e in outcome.events) else 200


@router.put(
    "/kits/{sku}",
    status_code=201,
    response_model=s.KitCommandOut,
    responses=_answers(s.KitCommandOut, "defined: KitDefined"),
)
async def define_kit(
    sku: Id,
    body: s.KitIn,
    request: Request,
    services: ServicesDep,
    who: Writer,
    headers: CommandHeadersDep,
) -> Response:
    """Define a kit (201, `KitDefined`) or give it another list of components (200,
    `KitChanged`; the same list again: 200, no event). 1 to 50 components, each SKU once; a
    kit inside a kit, or inside itself → 422. An SKU with stock events cannot become a kit
    (409 `kit-has-no-stock`). Reservations made before a change keep their components."""
    parts = tuple(Component(x.sku, x.quantity) for x in body.components)
    answer = await execute(request, services, who, headers, body, c.DefineKit(sku, parts))
    return reply(answer, catalog_command_out, request.url.path, _defined)


@router.get(
    "/kits/{sku}",
    response_model=s.KitOut,
    responses={**READ_ERRORS, **problem_answers((404, "never defined"))},
)
async def kit(sku: Id, services: ServicesDep, _: KitReader) -> Response:
    """The kit's components as it is now; 404 if the SKU was never made a kit."""
    found = await kits.kit(services.reads, sku)
    if found is None:
        raise Problem(404, "not-found", f"{sku} is not a kit")
    return _json(kit_out(found))
