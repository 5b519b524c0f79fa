"""schemathesis against the live OpenAPI schema, for every role and without a key.

Every generated request (valid and deliberately invalid ones) is sent once per caller: no key,
orders, warehouse, auditor and admin. Zero 5xx; every status, header, media type and body as
the schema documents it; invalid input refused; valid input accepted; every error an RFC 9457
problem+json body.

The phases are schemathesis' own (`st run`): the schema's examples, coverage (each constraint's
boundaries and each way to break it) and fuzzing, per operation; then stateful: sequences that
follow the document's links (a reservation's id into confirm, release and shipments).

Size: STOCKLEDGER_FUZZ_EXAMPLES fuzzing examples per operation (20 by default, with a fixed
seed: CI) and as many stateful scenarios; examples and coverage do not depend on it. The
nightly run sets it to 500 and STOCKLEDGER_FUZZ_SEED to a fresh value so that it explores new
cases. It runs on a ledger of its own, so the shared test database is not flooded with
generated events.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from pydantic import TypeAdapter
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi import checks as openapi

from stockledger.api.app import create_app
from stockledger.api.schemas.wire import Boundary
from stockledger.config import Settings
from stockledger.reports.periods import PeriodError, periods
from tests.databases import Ledgers, ledgers

from .conftest import API_KEYS, KEYS, auth

__all__ = ["ledgers"]  # the fixture

EXAMPLES = int(os.environ.get("STOCKLEDGER_FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("STOCKLEDGER_FUZZ_SEED")
CALLERS: tuple[str | None, ...] = (None, "orders", "warehouse", "auditor", "admin")

# The document, from an app that does no I/O until its lifespan; requests go to `fuzz_app`.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="postgresql://unused/")).openapi()
)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
schema.config.generation.update(
    modes=list(GenerationMode), max_examples=EXAMPLES, deterministic=SEED is None
)
if SEED is not None:
    schema.config.seed = int(SEED)


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


class KeyReusedWrongly(Failure):
    def __init__(self, operation: str, message: str) -> None:
        super().__init__(
            operation=operation, title="Idempotency-Key refused wrongly", message=message
        )


PRINCIPALS = {key: role for role, key in KEYS.items()}
# (principal, Idempotency-Key) -> every request sent with that key: method, path, body.
KEYED: defaultdict[tuple[str, str], set[tuple[str, str, bytes]]] = defaultdict(set)


def _principal(headers: Any) -> str | None:
    """Whose key the request presents, read as the server reads it (Bearer first)."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    presented = credentials if scheme.lower() == "bearer" and credentials else None
    return PRINCIPALS.get(presented or headers.get("X-API-Key", ""))


def _problem_type(response: Any) -> str | None:
    if response.status_code < 400 or not response.content:
        return None
    body = response.json()
    return body.get("type") if isinstance(body, dict) else None


def idempotency_keys(ctx: Any, response: Any, case: Any) -> bool | None:
    """422 idempotency-key-reused only when this principal sent the key with another request.

    Keys are scoped to the principal; the server's request hash is over method, path and
    body. Every request sent with a key is remembered, so the check is a necessary condition
    (a request refused before the ledger never owned its key, yet it is remembered too)."""
    request = response.request
    key, principal = request.headers.get("Idempotency-Key"), _principal(request.headers)
    if key is None or principal is None:
        return None
    sent = (request.method, request.path_url, request.body or b"")
    earlier = KEYED[(principal, key)] - {sent}
    KEYED[(principal, key)].add(sent)
    if _problem_type(response) == "/problems/idempotency-key-reused" and not earlier:
        raise KeyReusedWrongly(
            case.operation.label, f"{principal} never sent Idempotency-Key {key!r} before"
        )
    return True


def _if_match(request: Any) -> int | None:
    tag = request.headers.get("If-Match")
    return int(tag.removeprefix("W/").strip('"')) if tag is not None else None


def _path_sent_is_valid(case: Any) -> bool:
    """Whether the path parameters the server decodes are valid. schemathesis unquotes a drawn
    path value before quoting it, so one with a literal %hh (a visible-ASCII correlation id
    such as "O%80") reaches the server as another value ("O\ufffd"), which the pattern refuses."""
    return all(
        parameter.is_valid(unquote(str(case.path_parameters[parameter.name])))
        for parameter in case.operation.iter_parameters()
        if parameter.location == ParameterLocation.PATH
    )


def positive_data_acceptance(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' check, less the refusals of schema-valid requests that depend on what
    no JSON Schema can state, each verified: an If-Match that is not the stream's version
    (412 naming the current one), an Idempotency-Key this principal used for another request
    (the contract: 422 idempotency-key-reused; `idempotency_keys` checks it was), a transfer
    to the warehouse it leaves (a rule across two fields), an inspection of nothing (accepted and
    rejected both 0), a purchase order with two lines for one SKU and warehouse (a rule across
    list items), time travel without exactly one of `timestamp` and `version` (a rule across
    two parameters), an expiring-lots cursor this server never handed out, an export or report
    pinned past what
    has committed (the position grows with time), a report's window or cursor refused
    (`_report_window_refused`), and a webhook URL whose host does not resolve or resolves to a
    private address (DNS says so, not the document). A request whose path is not valid
    as sent is not a valid request."""
    if response.status_code == 422 and not _path_sent_is_valid(case):
        return None
    refusal = _problem_type(response)
    if (
        refusal == "/problems/version-conflict"
        and response.status_code == 412
        and response.json().get("currentVersion") != _if_match(response.request)
    ):
        return None
    if refusal == "/problems/idempotency-key-reused" and response.status_code == 422:
        return None
    body = case.body if isinstance(case.body, dict) else {}
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.label == "POST /v1/transfers"
        and body.get("fromWarehouseId") == body.get("toWarehouseId")
    ):
        return None
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.label == "POST /v1/inspections"
        and body.get("accepted") == body.get("rejected") == 0
    ):
        return None  # an inspection releases at least one unit
    given = body.get("lines")
    lines: list[Any] = given if isinstance(given, list) else []
    places = [repr((x.get("sku"), x.get("warehouseId"))) for x in lines if isinstance(x, dict)]
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.label == "PUT /v1/purchase-orders/{purchase_order_id}"
        and len(set(places)) < len(places)
    ):
        return None  # one line per SKU and warehouse
    query = case.query or {}
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.path == "/v1/stock/{sku}/{warehouse_id}/at"
        and ("timestamp" in query) == ("version" in query)
    ):
        return None
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.path.startswith(("/v1/exports/", "/v1/reports/", "/v1/valuation"))
        and "committedPosition" in response.json()
        and int((case.query or {}).get("asOfPosition", -1)) > response.json()["committedPosition"]
    ):
        return None
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.path.startswith(("/v1/reports/", "/v1/valuation"))
        and _report_window_refused(case.query or {})
    ):
        return None
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.path == "/v1/lots"
        and "after" in query
    ):
        return None  # an `after` this server never handed out (not a date)
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.label == "POST /v1/webhooks"
        and [e["location"] for e in response.json().get("errors", [])] == ["body.url"]
    ):
        return None  # a host that does not resolve, or resolves to a private address
    if (
        refusal == "/problems/validation-error"
        and response.status_code == 422
        and case.operation.label == "PUT /v1/kits/{sku}"
        and _kit_refused(case, response.json()["detail"])
    ):
        return None
    return openapi.positive_data_acceptance(ctx, response, case)


def _kit_refused(case: Any, detail: str) -> bool:
    """A kit that names itself or one component twice (rules across the path and the items),
    or a kit inside a kit (what the ledger holds decides it)."""
    body = case.body if isinstance(case.body, dict) else {}
    parts = body.get("components")
    skus = [x["sku"] for x in parts or () if isinstance(x, dict) and isinstance(x.get("sku"), str)]
    itself = (case.path_parameters or {}).get("sku") in skus
    return itself or len(set(skus)) != len(skus) or detail.startswith("No kit inside a kit")


def _report_window_refused(query: dict[str, Any]) -> bool:
    """A report's refusals across parameters: `from` not before `to`, more than 400 periods,
    or an `after` this server never handed out (any string of the cursor's alphabet)."""
    if "after" in query:
        return True
    try:
        since, until = (TypeAdapter(Boundary).validate_python(query[k]) for k in ("from", "to"))
        periods(since, until, query.get("granularity", "day"))
    except PeriodError:
        return True
    except (KeyError, ValueError):
        return False
    return False


CHECKS = [
    not_a_server_error,
    openapi.status_code_conformance,
    openapi.content_type_conformance,
    openapi.response_headers_conformance,
    openapi.response_schema_conformance,
    openapi.negative_data_rejection,
    positive_data_acceptance,
    idempotency_keys,
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
    # No webhook is ever sent from here: a generated URL may name any host.
    yield create_app(settings, run_expiry=False, run_webhooks=False)
    shutdown_lifespans()  # the app ran its lifespan in schemathesis' event loop thread


@pytest.fixture(scope="module")
def session(fuzz_app: FastAPI) -> Iterator[asgi.ASGIClient]:
    """One in-process client for every call (a new one per call costs more than the call)."""
    with asgi.get_client(fuzz_app) as client:  # type: ignore[arg-type]
        yield client


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_holds_for_every_caller(
    case: Any, fuzz_app: FastAPI, session: asgi.ASGIClient
) -> None:
    for caller in CALLERS:
        headers = auth(caller) if caller else {}
        response = case.call(headers=headers, session=session, app=fuzz_app)
        case.validate_response(response, checks=CHECKS, headers=headers)


ADMIN = auth("admin")
STOCKED = {"sku": "FUZZ-STOCK", "warehouseId": "FUZZ-WH"}


def test_reservation_lifecycles_hold(fuzz_app: FastAPI, session: asgi.ASGIClient) -> None:
    """Stateful: sequences that follow the document's links (a new reservation's id into get,
    confirm, release and shipments), as admin (the one role that may take every step), with
    the same checks. STOCKLEDGER_FUZZ_EXAMPLES scenarios of up to 20 steps.

    A reservation needs stock, and generated SKUs have none: the test receives plenty of one
    SKU, and every valid reservation it draws reserves one unit of it."""
    receipt: dict[str, Any] = {**STOCKED, "quantity": 10**9, "purchaseOrderId": "FUZZ"}
    receipt |= {"unitCost": "1", "supplier": "fuzz"}
    stocked = session.post("/v1/receipts", json=receipt, headers=ADMIN)
    assert stocked.status_code in (200, 201), stocked.text

    class Lifecycle(schema.as_state_machine()):  # type: ignore[misc]
        scenarios = 0

        def setup(self) -> None:
            type(self).scenarios += 1

        def before_call(self, case: Any) -> None:
            valid = case.meta is not None and case.meta.generation.mode.is_positive
            if valid and case.operation.label == "POST /v1/reservations":
                case.body["lines"] = [{**STOCKED, "quantity": 1}]

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": fuzz_app, "session": session, "headers": ADMIN}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, headers=ADMIN, recorder=self.recorder)

    while Lifecycle.scenarios < EXAMPLES:
        started = Lifecycle.scenarios
        try:
            Lifecycle.run(
                settings=settings(
                    # No shrinking, as schemathesis runs state machines: a replay would meet a
                    # ledger that has moved on.
                    phases=[Phase.generate],
                    max_examples=EXAMPLES - started,
                    stateful_step_count=20,
                    deadline=None,
                    # A state machine run takes no seed: with STOCKLEDGER_FUZZ_SEED, it is random.
                    derandomize=SEED is None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
            return
        except FlakyStrategyDefinition:
            # Hypothesis drew a scenario's opening again, and the ledger, which earlier
            # scenarios changed, answered it otherwise (a receipt id now replays: 200, not
            # 201), so other steps were possible. No failure (schemathesis' engine ends its
            # stateful phase there); the scenarios left run afresh.
            if Lifecycle.scenarios == started + 1:
                raise
