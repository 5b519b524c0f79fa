"""FastRoute answers every request exactly as FastAPI's own route does: the same values reach
the endpoint, and an invalid request gets the same 422 with the same error locations. The two
routers below declare the same endpoints; only the route class differs."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

import httpx
import orjson
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.routing import Mount, Route

from stockledger.api.app import create_app, serve_routes
from stockledger.api.fastroute import DEPENDANT, FastRoute, reads_this_fastapi
from stockledger.config import Settings


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]+-\d+$")
    quantity: int = Field(gt=0)


class Order(BaseModel):
    order_id: str = Field(alias="orderId", min_length=1)
    lines: list[Line] = Field(min_length=1)


async def headers(
    key: Annotated[str | None, Header(alias="Idempotency-Key", pattern=r"^[!-~]{1,8}$")] = None,
) -> str | None:
    return key


def _json(value: Any) -> Response:
    return Response(orjson.dumps(value), media_type="application/json")


def router(route_class: type[APIRoute]) -> APIRouter:
    api = APIRouter(route_class=route_class)

    @api.get("/items/{item_id}")
    async def item(
        item_id: Annotated[str, Field(pattern=r"^[a-z]+$")],
        request: Request,
        key: Annotated[str | None, Depends(headers)],
        types: Annotated[list[Literal["A", "B"]] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10)] = 5,
        consistency: Literal["eventual", "strong"] = "eventual",
    ) -> Response:
        return _json(
            {"item": item_id, "types": types, "limit": limit, "c": consistency, "key": key}
        )

    @api.post("/orders")
    async def order(body: Order, at: Annotated[int, Query()]) -> Response:
        return _json({"order": body.model_dump(by_alias=True), "at": at})

    @api.post("/optional")
    async def optional(body: Line | None = None) -> Response:
        return _json(body.model_dump() if body else None)

    return api


def app(route_class: type[APIRoute]) -> FastAPI:
    built = FastAPI()
    serve_routes(built, router(route_class))
    return built


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/items/abc", {}),
    ("GET", "/items/abc?types=A&types=B&limit=3&consistency=strong", {}),
    ("GET", "/items/abc?types=C", {}),
    ("GET", "/items/abc?limit=0", {}),
    ("GET", "/items/abc?limit=ten", {}),
    ("GET", "/items/ABC", {}),
    ("GET", "/items/abc?consistency=weak", {}),
    ("GET", "/items/abc", {"headers": {"Idempotency-Key": "k-1"}}),
    ("GET", "/items/abc", {"headers": {"Idempotency-Key": "far-too-long-key"}}),
    ("POST", "/orders?at=1", {"json": {"orderId": "o", "lines": [{"sku": "A-1", "quantity": 2}]}}),
    ("POST", "/orders?at=1", {"json": {"orderId": "", "lines": []}}),
    ("POST", "/orders?at=1", {"json": {"lines": [{"sku": "a", "quantity": 0}]}}),
    ("POST", "/orders", {"json": {"orderId": "o", "lines": [{"sku": "A-1", "quantity": 2}]}}),
    ("POST", "/orders?at=1", {"content": b"not json", "headers": {"content-type": "text/plain"}}),
    ("POST", "/orders?at=1", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("POST", "/orders?at=1", {}),
    ("POST", "/optional", {}),
    ("POST", "/optional", {"json": {"sku": "A-1", "quantity": 1}}),
    ("POST", "/optional", {"json": {"sku": "A-1", "quantity": -1}}),
]


async def _answers(route_class: type[APIRoute]) -> list[tuple[int, Any]]:
    transport = httpx.ASGITransport(app=app(route_class))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = []
        for method, url, options in REQUESTS:
            response = await client.request(method, url, **options)
            answers.append((response.status_code, response.json()))
        return answers


# A body that is not JSON at all: FastRoute decodes it with pydantic's parser, which names no
# byte offset (FastAPI: loc body.<offset>), and validates other media types' bytes as a value
# (pydantic says model_type where FastAPI says model_attributes_type). Both are 422 at `body`.
UNDECODABLE = {13, 14}


@pytest.mark.parametrize("index", range(len(REQUESTS)), ids=lambda i: " ".join(REQUESTS[i][:2]))
async def test_fastroute_answers_like_fastapi(index: int) -> None:
    fastapi_answer = (await _answers(APIRoute))[index]
    fast_answer = (await _answers(FastRoute))[index]
    if fastapi_answer[0] != 422:
        assert fast_answer == fastapi_answer
        return
    assert fast_answer[0] == 422  # the same errors, at the same places
    ours = [(e["loc"], e["type"]) for e in fast_answer[1]["detail"]]
    theirs = [(e["loc"], e["type"]) for e in fastapi_answer[1]["detail"]]
    if index in UNDECODABLE:
        assert [loc[:1] for loc, _ in ours] == [loc[:1] for loc, _ in theirs] == [["body"]]
    else:
        assert ours == theirs


def test_a_signature_fastroute_cannot_serve_is_refused_at_startup() -> None:
    api = APIRouter(route_class=FastRoute)

    def sync_endpoint() -> Response:
        return _json(None)

    with pytest.raises(TypeError, match="async endpoint"):
        api.add_api_route("/sync", sync_endpoint)


def test_fastroute_knows_every_field_of_this_fastapis_dependant() -> None:
    """FastRoute reads FastAPI's internal `Dependant`: a FastAPI that adds, drops or renames
    one of its fields fails here, before FastRoute serves a request it may misread (at run
    time such a FastAPI gets FastAPI's own handler)."""
    fields = {f.name for f in dataclasses.fields(Dependant)}
    assert fields == set(DEPENDANT), (
        f"FastAPI's Dependant changed: new {sorted(fields - set(DEPENDANT))}, "
        f"gone {sorted(set(DEPENDANT) - fields)}; update fastroute.DEPENDANT and _compile"
    )
    assert reads_this_fastapi()


def test_an_included_fastroute_router_is_refused() -> None:
    """include_router would build a second handler with the inclusion's dependencies, which
    the compiled plan does not apply: refused rather than served without them."""
    built = FastAPI()
    built.include_router(router(FastRoute))
    with pytest.raises(TypeError, match="serve_routes"):
        built.openapi()


def test_the_app_serves_its_routes_flat() -> None:
    """Every route of the app is its own (no nested router walked on each request), and every
    API route is a FastRoute."""
    routes = create_app(Settings(database_url="postgresql://unused/")).routes
    assert all(isinstance(route, Route | Mount) for route in routes), routes
    api = [route for route in routes if route.path.startswith("/v1/")]  # type: ignore[attr-defined]
    assert len(api) > 40
    assert all(isinstance(route, FastRoute) for route in api)
