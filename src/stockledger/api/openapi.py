"""The OpenAPI document as clients are generated from it: operation ids from the routes'
function names (`reserve`, `stock_level`: what a generated client calls them), the schemas the
problem answers refer to, and what the rate limiter adds to every operation behind a key."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from .rate_limits import limited
from .schemas.headers import RATE_LIMIT, RETRY_AFTER
from .schemas.problems import problem_answers, problem_components

RATE_LIMITED = problem_answers(
    (
        429,
        "rate-limited: with STOCKLEDGER_RATE_LIMITS, the principal's budget is spent for now "
        "(nothing was decided or appended)",
    ),
    headers={**RATE_LIMIT, "Retry-After": {**RETRY_AFTER, "required": True}},
)[429]


def operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name (unique: a test holds them so). Each
    router names its routes so (`generate_unique_id_function`), as the app names its own: a
    route keeps the id it was made with, however the app then serves it."""
    return route.name


def install_document(app: FastAPI) -> None:
    """Serve the document with ProblemOut and the models it holds among its schemas: every
    route documents its errors as application/problem+json with ProblemOut
    (`problem_answers`), and FastAPI registers only the models it is given as `model`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = generate()  # FastAPI keeps it as app.openapi_schema
        if fresh:
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(problem_components())
            _rate_limits(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way


def _rate_limits(document: dict[str, Any]) -> None:
    """A limited operation behind a key (api/rate_limits.py) may answer 429, and every answer
    the limiter lets through carries the RateLimit-* headers (a 401 never meets it)."""
    for path, operations in document["paths"].items():
        if not limited(path):
            continue
        for operation in operations.values():
            if not operation.get("security"):
                continue
            answers = operation["responses"]
            for status, answer in answers.items():
                if status != "401":  # headers replaced, not updated: they may be shared
                    answer["headers"] = {**answer.get("headers", {}), **RATE_LIMIT}
            answers["429"] = RATE_LIMITED
