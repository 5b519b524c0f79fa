"""The OpenAPI document states the rules the server enforces, so that a request the document
calls valid is never refused for its shape (tests/e2e/test_fuzz.py checks it end to end)."""

from __future__ import annotations

from functools import cache
from typing import Any

from stockledger.api.app import create_app
from stockledger.config import Settings


@cache
def document() -> dict[str, Any]:
    """The document of an app that does no I/O until its lifespan."""
    openapi: dict[str, Any] = create_app(Settings(database_url="postgresql://unused/")).openapi()
    return openapi


def body_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document()["components"]["schemas"][name]
    return schema


def test_an_adjustment_of_zero_is_outside_the_document() -> None:
    change = body_schema("AdjustmentIn")["properties"]["quantityChange"]
    assert change["not"] == {"const": 0}
    assert (change["minimum"], change["maximum"]) == (-1_000_000_000, 1_000_000_000)
