"""The OpenAPI document as clients are generated from it: operation ids from the routes'
function names (`reserve`, `stock_level`: what a generated client calls them), and the schemas
the problem answers refer to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from .schemas.problems import problem_components


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
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way
