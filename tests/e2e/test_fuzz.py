"""schemathesis against the live OpenAPI schema, for every role and without a key.

Every generated request (valid and deliberately invalid ones) is sent once per caller: no key,
orders, warehouse, auditor and admin. Zero 5xx; every status, header, media type and body as
the schema documents it; invalid input refused; every error an RFC 9457 problem+json body.

Size: STOCKLEDGER_FUZZ_EXAMPLES examples per operation and mode (valid / invalid input):
20 by default, with a fixed seed (CI: about 800 cases, 4,000 requests, a minute or so). The
nightly run sets it to 500 (about 100,000 requests) and STOCKLEDGER_FUZZ_SEED to a fresh value
so that it explores new cases. It runs on a ledger of its own, so the shared test database is
not flooded with generated events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stockledger.api.app import create_app
from stockledger.config import Settings
from tests.databases import Ledgers, ledgers

from .conftest import API_KEYS, auth

__all__ = ["ledgers"]  # the fixture

EXAMPLES = int(os.environ.get("STOCKLEDGER_FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("STOCKLEDGER_FUZZ_SEED")
CALLERS: tuple[str | None, ...] = (None, "orders", "warehouse", "auditor", "admin")


class NotAProblem(Failure):
    def __init__(self, operation: str, message: str) -> None:
        super().__init__(operation=operation, title="Not a problem+json error", message=message)


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is RFC 9457: application/problem+json with type, title, status, detail."""
    if response.status_code < 400 or case.operation.path == "/ready":
        return None  # /ready's 503 is a readiness report (its `checks`), not a request error
    label = case.operation.label
    media = response.headers.get("content-type", [""])
    media = media[0] if isinstance(media, list) else media
    if media != "application/problem+json":
        raise NotAProblem(label, f"{response.status_code} answered with {media!r}")
    body = response.json()
    missing = {"type", "title", "status", "detail"} - set(body)
    if (
        missing
        or body["status"] != response.status_code
        or not body["type"].startswith("/problems/")
    ):
        raise NotAProblem(label, f"{response.status_code} problem body {body!r}")
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    problem_json,
]


@pytest.fixture(scope="module")
async def fuzz_database(ledgers: Ledgers) -> str:
    return await ledgers.new()


@pytest.fixture(scope="module")
def fuzz_app(fuzz_database: str) -> Iterator[FastAPI]:
    settings = Settings(
        database_url=fuzz_database, api_keys=API_KEYS, audit_key="fuzz", log_level="WARNING"
    )
    yield create_app(settings, run_expiry=False)
    shutdown_lifespans()  # the app ran its lifespan in schemathesis' event loop thread


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def session(fuzz_app: FastAPI) -> Iterator[asgi.ASGIClient]:
    """One in-process client for every call (a new one per call costs more than the call)."""
    with asgi.get_client(fuzz_app) as client:  # type: ignore[arg-type]
        yield client


def _cases() -> list[tuple[GenerationMode, str, str]]:
    """Every operation, with valid input and, where it takes any input, invalid input (read
    without I/O: the app connects only in its lifespan)."""
    app = create_app(Settings(database_url="postgresql://unused/"))
    cases = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            cases.append((GenerationMode.POSITIVE, method.upper(), path))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append((GenerationMode.NEGATIVE, method.upper(), path))
    return cases


@pytest.mark.parametrize(("mode", "method", "path"), _cases())
def test_the_api_holds_for_every_caller(
    api_schema: Any, session: asgi.ASGIClient, mode: GenerationMode, method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def holds(case: Any) -> None:
        for caller in CALLERS:
            headers = auth(caller) if caller else {}
            response = case.call(headers=headers, session=session)
            case.validate_response(response, checks=CHECKS, headers=headers)

    if SEED is not None:
        holds = seed(int(SEED))(holds)
    holds()
