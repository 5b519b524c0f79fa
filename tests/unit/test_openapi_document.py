"""The OpenAPI document states the rules the server enforces, so that a request the document
calls valid is never refused for its shape (tests/e2e/test_fuzz.py checks it end to end)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, get_args

import jsonschema_rs
import orjson
import pytest
from fastapi.routing import APIRoute
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from stockledger.api.app import create_app
from stockledger.api.schemas.commands import LineIn, ReceiptIn, ShipmentIn
from stockledger.api.schemas.wire import Instant
from stockledger.config import Settings
from stockledger.domain.events import EVENT_TYPES, Event


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


def test_history_types_are_an_enum_of_the_domain_event_types() -> None:
    history = document()["paths"]["/v1/stock/{sku}/{warehouse_id}/history"]["get"]
    (types,) = [p for p in history["parameters"] if p["name"] == "types"]
    assert (types["style"], types["explode"]) == ("form", False)  # comma-separated
    assert (
        types["schema"]["items"]["enum"]
        == list(EVENT_TYPES)
        == [cls.TYPE for cls in get_args(Event)]
    )


def test_time_travel_takes_timestamp_or_version_as_plain_query_parameters() -> None:
    """Two optional parameters a generator can type (OpenAPI has no rule across parameters:
    'exactly one' is in the description, and the server refuses both and neither, 422)."""
    at = document()["paths"]["/v1/stock/{sku}/{warehouse_id}/at"]["get"]
    query = {p["name"]: p for p in at["parameters"] if p["in"] == "query"}
    assert set(query) == {"timestamp", "version", "consistency"}  # consistency: which database
    assert not any(p["required"] for p in query.values())
    assert "exactly one" in at["description"]
    for parameter in (query["timestamp"], query["version"]):
        (given,) = [s for s in parameter["schema"]["anyOf"] if s.get("type") != "null"]
        assert given["type"] in ("string", "integer")
    timestamp = jsonschema_rs.validator_for(query["timestamp"]["schema"])
    version = jsonschema_rs.validator_for(query["version"]["schema"])
    assert timestamp.is_valid("2026-11-01T00:00:00Z")
    assert not timestamp.is_valid("2026-11-01")
    assert version.is_valid(7)
    assert not version.is_valid(0)


RECEIPT = {"sku": "A", "warehouseId": "W", "quantity": 1, "purchaseOrderId": "P", "supplier": "S"}


def _model_takes(unit_cost: object) -> bool:
    try:
        ReceiptIn.model_validate_json(orjson.dumps({**RECEIPT, "unitCost": unit_cost}))
    except ValidationError:
        return False
    return True


@cache
def _described_unit_cost() -> Any:
    return jsonschema_rs.validator_for(body_schema("ReceiptIn")["properties"]["unitCost"])


@settings(max_examples=500, deadline=None, database=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=-(10**14), max_value=10**14),
        st.integers(min_value=0, max_value=10**12).map(lambda units: units * 1e-6),
        st.decimals(min_value=0, max_value=10**13, places=7).map(str),
        st.from_regex(r"\A[0-9.]{0,20}\Z"),
        st.text(max_size=8),
        st.booleans(),
    )
)
def test_the_document_and_the_model_take_the_same_unit_costs(unit_cost: object) -> None:
    assert _described_unit_cost().is_valid(unit_cost) == _model_takes(unit_cost)


def test_a_unit_cost_string_is_plain_decimal_notation() -> None:
    for taken in ("2.50", "0.000001", "123456789012.123456", 7, 0.25):
        assert _model_takes(taken), taken
    for refused in ("", "0", "0.000", "1e3", " 1", "+1", "1_000", "\u0661", ".5", "1.1234567"):
        assert not _model_takes(refused), refused


INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def _instant_taken(moment: object) -> bool:
    try:
        INSTANT.validate_python(moment)
    except ValidationError:
        return False
    return True


@cache
def _described_instant() -> Any:
    (parameter,) = [
        p
        for p in document()["paths"]["/v1/stock/{sku}/{warehouse_id}/history"]["get"]["parameters"]
        if p["name"] == "to"
    ]
    (instant,) = [s for s in parameter["schema"]["anyOf"] if s["type"] == "string"]
    return jsonschema_rs.validator_for(instant, validate_formats=True)


ISOFORMAT = st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat)
NEAR_RFC3339 = st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(\.[0-9]{0,9})?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?\Z"
)


@settings(max_examples=500, deadline=None, database=None)
@given(
    st.one_of(ISOFORMAT, NEAR_RFC3339, st.from_regex(r"\A[0-9.:-]{0,12}\Z"), st.text(max_size=6))
)
def test_the_document_and_the_model_take_the_same_instants(moment: str) -> None:
    assert _described_instant().is_valid(moment) == _instant_taken(moment)


def test_units_are_json_schema_integers() -> None:
    """170.0 is an integer to JSON Schema (and to the document); "170" and true are not."""
    line = body_schema("LineIn")["properties"]["quantity"]
    assert (line["type"], line["exclusiveMinimum"], line["maximum"]) == ("integer", 0, 10**9)
    for taken in (170, 170.0, 1e9):
        assert LineIn.model_validate({"sku": "A", "warehouseId": "W", "quantity": taken})
    for refused in ("170", True, 1.5, 0, 1e9 + 1):
        with pytest.raises(ValidationError):
            LineIn.model_validate({"sku": "A", "warehouseId": "W", "quantity": refused})


def test_a_shipment_names_a_reservation_or_lines() -> None:
    shipment = jsonschema_rs.validator_for(ShipmentIn.model_json_schema(by_alias=True))
    base = {"shipmentId": "S", "orderId": "O"}
    line = {"sku": "A", "warehouseId": "W", "quantity": 1}
    assert shipment.is_valid({**base, "reservationId": "R"})
    assert shipment.is_valid({**base, "lines": [line]})
    assert shipment.is_valid({**base, "reservationId": "R", "lines": [line]})
    assert not shipment.is_valid(base)
    assert not shipment.is_valid({**base, "reservationId": None, "lines": None})


def _operations() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document()["paths"].items()
        for method, operation in operations.items()
    ]


def test_headers_are_strings_and_a_reused_key_is_a_documented_answer() -> None:
    """A header has no null (a fuzzer sends "null"); every operation that takes an
    Idempotency-Key documents its 422 idempotency-key-reused as a problem."""
    keyed = []
    for label, operation in _operations():
        headers = {p["name"]: p for p in operation.get("parameters", ()) if p["in"] == "header"}
        for name, header in headers.items():
            assert header["schema"]["type"] == "string", (label, name)
        if "Idempotency-Key" in headers:
            keyed.append(label)
            reused = operation["responses"]["422"]
            assert "idempotency-key-reused" in reused["description"], label
            assert "application/problem+json" in reused["content"], label
    # every command: 10 on stock, 5 on the catalog, 2 on rules, 1 kit, 4 on purchasing (place,
    # reschedule, cancel, inspect)
    assert len(keyed) == 22


def test_a_new_reservation_links_to_what_can_follow_it() -> None:
    """OpenAPI links (clients and schemathesis' stateful phase follow them)."""
    created = document()["paths"]["/v1/reservations"]["post"]["responses"]["201"]
    links = created["links"]
    for name, link in links.items():
        pointer = link["operationRef"].removeprefix("#/paths/").split("/")
        path, method = pointer[0].replace("~1", "/").replace("~0", "~"), pointer[1]
        assert method in document()["paths"][path], name
    assert {n: links[n]["parameters"] for n in ("ConfirmReservation", "ReleaseReservation")} == {
        "ConfirmReservation": {"path.reservation_id": "$response.body#/reservationId"},
        "ReleaseReservation": {"path.reservation_id": "$response.body#/reservationId"},
    }
    shipment = links["ShipReservation"]["requestBody"]
    assert shipment["reservationId"] == "$response.body#/reservationId"
    assert ShipmentIn.model_validate(
        {k: "R-1" if v.startswith("$") else v for k, v in shipment.items()}
    )


def test_every_schema_has_a_title_of_its_own() -> None:
    """A generator makes one class per title: two models with one title lose one of them (and
    FastAPI names both by module path). No -Input/-Output pairs either: a model is a request or
    an answer."""
    schemas = document()["components"]["schemas"]
    for name, schema in schemas.items():
        assert schema.get("title") == name, name
        assert not name.endswith(("-Input", "-Output")), name
    assert {"LevelsOut", "MovementLevelsOut", "HistoryOut", "SkuStockOut"} <= set(schemas)


def test_operation_ids_are_the_route_names() -> None:
    ids = [operation["operationId"] for _, operation in _operations()]
    assert len(ids) == len(set(ids))
    assert {"receive", "reserve", "confirm", "ship", "stock_level", "stock_at"} <= set(ids)


PROBLEM = {"$ref": "#/components/schemas/ProblemOut"}


def test_every_error_is_documented_as_the_problem_the_server_sends() -> None:
    """application/problem+json with ProblemOut, never the application/json nobody sends (the
    one error answer that is not a problem: /ready's readiness report, 503)."""
    errors = 0
    for label, operation in _operations():
        for status, answer in operation["responses"].items():
            if int(status) < 400 or label == "GET /ready":
                continue
            errors += 1
            assert answer["content"] == {"application/problem+json": {"schema": PROBLEM}}, (
                label,
                status,
            )
    assert errors > 200
    problem = document()["components"]["schemas"]["ProblemOut"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    lines = problem["properties"]["lines"]["anyOf"][0]["items"]["$ref"]
    errors_ = problem["properties"]["errors"]["anyOf"][0]["items"]["$ref"]
    assert (lines, errors_) == (
        "#/components/schemas/ShortLineOut",
        "#/components/schemas/FieldErrorOut",
    )


def test_every_answer_has_a_schema() -> None:
    for label, operation in _operations():
        for status, answer in operation["responses"].items():
            for media, content in answer.get("content", {}).items():
                assert content.get("schema") not in (None, {}), (label, status, media)


def test_a_replay_is_documented_as_the_original_status_with_its_header() -> None:
    """The same Idempotency-Key and body answer the original status and body (a new
    reservation: 201) with `Idempotent-Replayed: true`; 200 is a command already carried out."""
    for label, operation in _operations():
        if not any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", ())):
            continue
        for status in ("200", "201"):
            answer = operation["responses"].get(status)
            if answer is None:
                continue
            assert answer["headers"]["Idempotent-Replayed"]["schema"]["enum"] == ["true"], label
            assert answer["headers"]["X-Correlation-Id"]["required"], label
            assert "the same Idempotency-Key" in answer["description"], (label, status)
    reserve = document()["paths"]["/v1/reservations"]["post"]["responses"]
    assert "original status and body" in reserve["201"]["description"]
    assert reserve["200"]["description"].startswith("already carried out")


def test_reads_declare_the_headers_they_send() -> None:
    paths = document()["paths"]
    level = paths["/v1/stock/{sku}/{warehouse_id}"]["get"]["responses"]["200"]["headers"]
    assert {"ETag", "X-Stock-Source", "X-Projected-At"} <= set(level)
    assert level["ETag"]["required"]
    assert not level["X-Projected-At"]["required"]  # read from the event store: none
    report = paths["/v1/reports/movements"]["get"]["responses"]["200"]["headers"]
    assert report["X-As-Of-Position"]["required"]
    valuation = paths["/v1/valuation"]["get"]["responses"]["200"]
    assert valuation["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InventoryValuationOut"
    }


def test_routers_name_their_operations_themselves() -> None:
    """A route keeps the operationId it was made with (its router's), and the app serves the
    routers' routes as they are: every router names its routes as the app does."""
    app = create_app(Settings(database_url="postgresql://unused/"))
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]
    assert len(routes) == len(_operations())
    for route in routes:
        assert route.unique_id == route.name, route.path


def test_operations_behind_a_key_document_the_rate_limit() -> None:
    """With STOCKLEDGER_RATE_LIMITS, any of them may answer 429 (a problem, with Retry-After),
    and their answers carry RateLimit-*; the open operations (health, the contract) never."""
    keyed = 0
    for label, operation in _operations():
        limited = "429" in operation["responses"]
        assert limited == bool(operation.get("security")), label
        if not limited:
            continue
        keyed += 1
        refused = operation["responses"]["429"]
        assert refused["content"] == {"application/problem+json": {"schema": PROBLEM}}
        assert refused["headers"]["Retry-After"]["required"]
        ok = next(a for s, a in operation["responses"].items() if s.startswith("2"))
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(ok["headers"])
    assert keyed > 40
