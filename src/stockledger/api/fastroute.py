"""Routes that keep FastAPI's signature for the OpenAPI document but not its per-request solver.

FastAPI turns a route's signature into the document (parameters, body schema, security
schemes) and, on every request, solves that signature again: a recursive walk of the
dependency tree that inspects each callable, opens exit stacks, builds a Response and a
BackgroundTasks nobody uses, runs the security classes, and validates. Measured on a reserve
POST through `create_app()`, that is most of the HTTP stack's CPU (`python -m bench.stack_cost`).

`FastRoute` compiles the same signature once, at startup, into a plan of plain steps:

- `Request` -> the request; `Depends(get_services)` -> `app.state.services`;
- `require(roles)` -> the principal the `Authenticate` middleware found, checked against the
  roles (401 / 403 exactly as before);
- any other dependency that takes only the request and header/query parameters (the command
  headers) -> those parameters validated, then the function called;
- path, query and header parameters -> what FastAPI's `request_params_to_args` does, with
  its per-field work (is it a sequence, its alias, its location) done once: the same aliases,
  defaults, validation (pydantic, against the parameter's annotation and FieldInfo, as
  FastAPI validates it) and error locations;
- the body model -> pydantic `validate_json` of the bytes (`validate_python` of them when the
  media type is not JSON, which gives FastAPI's own "not an object" error).

Errors are collected and raised as one `RequestValidationError`, as FastAPI does, so the
problem bodies are unchanged. A signature with anything else (a generator dependency, a
`Response` or `BackgroundTasks` parameter, a form) is refused at startup, never served slowly
or wrongly. The endpoint must return a `Response`.

It reads the `Dependant` FastAPI builds from a signature (its parameter lists, each field's
name, alias and FieldInfo), an internal of FastAPI; everything else is pydantic. `DEPENDANT`
says what becomes of each of its fields. A FastAPI whose `Dependant` has other fields is not
guessed at: its routes are served by FastAPI's own handler (slower, still correct) with a
warning, and tests/unit/test_fastroute.py fails, as it does when the plan answers any request
otherwise than FastAPI's own route.

A route is compiled once, when it is declared: serve its router with `serve_routes`
(api/app.py), whose routes are the app's own. `include_router` would give FastAPI a second
handler to build per inclusion, with that inclusion's dependencies, which the plan (built from
the route's own signature) would not see: it is refused.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import inspect
import types
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

import structlog
from fastapi import Request, params
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from .middleware import is_json

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Step = Callable[[Request, list[Any]], Awaitable[Any]]

FAST_VALUE = "__fast_value__"  # a dependency's cheap equivalent: (request) -> value


def fast_value(cheap: Callable[[Request], Any]) -> Callable[[Callable[..., Any]], Any]:
    """Mark a dependency with the plain function FastRoute calls instead of solving it."""

    def mark(dependency: Callable[..., Any]) -> Callable[..., Any]:
        setattr(dependency, FAST_VALUE, cheap)
        return dependency

    return mark


# Every field of FastAPI's `Dependant`, and what the plan does with it.
DEPENDANT = {
    "call": "the endpoint or dependency, awaited (an async def, else refused)",
    "name": "the parameter a dependency's value is passed as",
    "path_params": "validated",
    "query_params": "validated",
    "header_params": "validated",
    "cookie_params": "refused",
    "body_params": "one body model, validated",
    "dependencies": "solved in order (FAST_VALUE, or async with parameters only)",
    "request_param_name": "the request",
    "websocket_param_name": "refused",
    "http_connection_param_name": "refused",
    "response_param_name": "refused",
    "background_tasks_param_name": "refused",
    "security_scopes_param_name": "refused",
    "own_oauth_scopes": "the document's (no OAuth2 scheme is checked per request)",
    "parent_oauth_scopes": "the document's",
    "use_cache": "not kept: a dependency listed twice is called twice (these are cheap)",
    "path": "the document's",
    "scope": "only for dependencies with yield, which are refused",
    "concurrency": "async calls only: nothing runs in a thread",
}

log = structlog.get_logger()


def reads_this_fastapi() -> bool:
    """Whether FastAPI's `Dependant` has exactly the fields `DEPENDANT` accounts for."""
    return {f.name for f in dataclasses.fields(Dependant)} == set(DEPENDANT)


class FastRoute(APIRoute):
    _compiled = False

    def get_route_handler(self) -> Handler:
        if self._compiled:
            raise TypeError(
                f"FastRoute {self.path}: serve its router with serve_routes(), not "
                "include_router() (the inclusion's dependencies would not be applied)"
            )
        self._compiled = True
        if not reads_this_fastapi():
            log.warning("FastRoute does not know this FastAPI: served by FastAPI", path=self.path)
            return super().get_route_handler()
        return _compile(self.dependant)


def _compile(dependant: Dependant) -> Handler:
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        raise TypeError(f"FastRoute needs an async endpoint, got {call!r}")
    _refuse_special_parameters(dependant)
    steps: list[tuple[str, Step]] = [(d.name or "", _dependency(d)) for d in dependant.dependencies]
    params = _params(dependant)
    body = _body(dependant)
    request_name = dependant.request_param_name

    async def handler(request: Request) -> Response:
        errors: list[Any] = []
        values: dict[str, Any] = {}
        for name, step in steps:
            values[name] = await step(request, errors)
        values.update(params(request, errors))
        if body is not None:
            name, value = await body(request, errors)
            values[name] = value
        if errors:
            raise RequestValidationError(errors)
        if request_name:
            values[request_name] = request
        response = await call(**values)
        if not isinstance(response, Response):
            raise TypeError(f"FastRoute endpoint {call.__name__} must return a Response")
        return response

    return handler


def _refuse_special_parameters(dependant: Dependant) -> None:
    special = (
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.security_scopes_param_name,
    )
    if any(special):
        name = getattr(dependant.call, "__name__", dependant.call)
        raise TypeError(
            f"FastRoute: {name} takes a Response, BackgroundTasks, WebSocket, HTTPConnection "
            "or SecurityScopes"
        )


@dataclass(frozen=True, slots=True)
class _Param:
    """One path, query or header parameter, with what FastAPI would look up per request."""

    name: str
    alias: str
    loc: tuple[str, str]
    adapter: TypeAdapter[Any]
    sequence: bool
    required: bool
    default: Any


def _param(field: Any) -> _Param:
    info = field.field_info
    assert isinstance(info, params.Param)
    constrained: Any = Annotated[info.annotation, info]  # validated as FastAPI validates it
    return _Param(
        field.name,
        field.alias,
        (info.in_.value, field.alias),
        TypeAdapter(constrained),
        _is_sequence(info.annotation),
        info.is_required(),
        info.default,
    )


_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set)


def _is_sequence(annotation: Any) -> bool:
    """Whether a parameter takes every occurrence (`?types=A&types=B`), as FastAPI decides it."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_sequence(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_is_sequence(a) for a in get_args(annotation) if a is not type(None))
    return (origin or annotation) in _SEQUENCES


def _params(dependant: Dependant) -> Callable[[Request, list[Any]], dict[str, Any]]:
    """FastAPI's `request_params_to_args`, with what it works out per field done once."""
    if dependant.cookie_params:
        raise TypeError("FastRoute: cookie parameters are not supported")
    path = [_param(f) for f in dependant.path_params]
    query = [_param(f) for f in dependant.query_params]
    header = [_param(f) for f in dependant.header_params]

    def extract(request: Request, errors: list[Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if path:
            _validate(path, request.path_params, values, errors)
        if query:
            _validate(query, request.query_params, values, errors)
        if header:
            _validate(header, request.headers, values, errors)
        return values

    return extract


def _validate(
    wanted: list[_Param], source: Mapping[str, Any], values: dict[str, Any], errors: list[Any]
) -> None:
    for p in wanted:
        value = source.getlist(p.alias) if p.sequence else source.get(p.alias)  # type: ignore[attr-defined]
        if not p.sequence and p.loc[0] == "query" and len(source.getlist(p.alias)) > 1:  # type: ignore[attr-defined]
            # FastAPI would take the last one and ignore the rest: a request the OpenAPI
            # document does not allow (one value) must not be served as if it were valid.
            errors.append(
                {
                    "type": "value_error",
                    "loc": p.loc,
                    "msg": "Give this parameter once",
                    "input": source.getlist(p.alias),  # type: ignore[attr-defined]
                }
            )
            continue
        if value is None or (p.sequence and not value):
            if p.required:
                errors.append(
                    {"type": "missing", "loc": p.loc, "msg": "Field required", "input": None}
                )
            else:
                values[p.name] = copy.deepcopy(p.default)
            continue
        try:
            values[p.name] = p.adapter.validate_python(value, from_attributes=True)
        except ValidationError as error:
            errors.extend(
                {**e, "loc": (*p.loc, *e["loc"])} for e in error.errors(include_url=False)
            )


def _dependency(dependant: Dependant) -> Step:
    call = dependant.call
    cheap = getattr(call, FAST_VALUE, None)
    if cheap is not None:

        async def value(request: Request, errors: list[Any]) -> Any:
            return cheap(request)

        return value
    if call is None or not inspect.iscoroutinefunction(call) or dependant.dependencies:
        raise TypeError(f"FastRoute cannot solve dependency {call!r} without FastAPI")
    if dependant.path_params or dependant.cookie_params or dependant.body_params:
        raise TypeError(f"FastRoute: dependency {call.__name__} takes unsupported parameters")
    _refuse_special_parameters(dependant)
    params = _params(dependant)
    request_name = dependant.request_param_name

    async def solved(request: Request, errors: list[Any]) -> Any:
        wrong: list[Any] = []
        values = params(request, wrong)
        if wrong:  # FastAPI does not call a dependency whose parameters are invalid
            errors.extend(wrong)
            return None
        if request_name:
            values[request_name] = request
        return await call(**values)

    return solved


def _body(
    dependant: Dependant,
) -> Callable[[Request, list[Any]], Awaitable[tuple[str, Any]]] | None:
    fields: Sequence[Any] = dependant.body_params
    if not fields:
        return None
    if len(fields) != 1:
        raise TypeError("FastRoute: one body model per route")
    field = fields[0]
    adapter: TypeAdapter[Any] = TypeAdapter(field.field_info.annotation)
    name, required = field.name, field.field_info.is_required()

    async def parse(request: Request, errors: list[Any]) -> tuple[str, Any]:
        raw = await request.body()
        if not raw:
            if required:
                errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
            return name, None
        try:
            if is_json(request.headers.get("content-type")):
                return name, adapter.validate_json(raw)
            return name, adapter.validate_python(raw)
        except ValidationError as error:
            errors.extend(
                {**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)
            )
            return name, None

    return parse
