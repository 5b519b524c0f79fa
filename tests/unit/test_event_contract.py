"""The event contract is generated from the code's models, valid AsyncAPI 3.0, and equal to the
committed copy under docs/: a model that changes without a new schemaVersion fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from stockledger.api.contract import asyncapi, committed_files, json_schema, versions
from stockledger.config import Settings
from stockledger.domain.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ASYNCAPI_3 = json.loads((ROOT / "tests/fixtures/asyncapi-3.0.0.schema.json").read_text())


def test_the_committed_contract_is_what_the_code_generates() -> None:
    generated = committed_files(Settings.model_construct())
    for name, text in generated.items():
        path = DOCS / name
        assert path.exists(), (
            f"{name} is not committed: run python -m stockledger.api.contract docs"
        )
        assert path.read_text() == text, (
            f"docs/{name} differs from the code. A released schema never changes: if an event's "
            "data changed, give it a new schemaVersion (and an upcaster); then run "
            "python -m stockledger.api.contract docs"
        )
    committed = {str(p.relative_to(DOCS)) for p in (DOCS / "schemas/events").rglob("*.json")}
    assert committed == {n for n in generated if n.startswith("schemas/")}, "a version vanished"


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    document = asyncapi(Settings.model_construct())
    errors = sorted(Draft7Validator(ASYNCAPI_3).iter_errors(document), key=str)
    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_every_event_type_and_version_is_in_the_document() -> None:
    document = asyncapi(Settings.model_construct(kafka_topic="shop.events", kafka_partitions=12))
    messages = document["components"]["messages"]
    assert {m["name"] for m in messages.values()} == set(EVENT_TYPES)
    assert set(messages) == {f"{t}.v{v}" for t, v in versions()}
    channel = document["channels"]["events"]
    assert channel["address"] == "shop.events"
    assert channel["bindings"]["kafka"]["partitions"] == 12
    assert (
        "dedupes by (streamId, version)" in document["operations"]["receiveEvents"]["description"]
    )


@pytest.mark.parametrize(("type_name", "version"), versions())
def test_each_schema_is_a_json_schema_that_pins_its_type_and_version(
    type_name: str, version: int
) -> None:
    schema = json_schema(type_name, version)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    envelope = {
        "eventId": "0f8c0b0e-0000-4000-8000-000000000000",
        "type": type_name,
        "streamId": "stock:SKU-1:WH-A",
        "version": 1,
        "position": 65536,
        "recordedAt": "2026-11-17T15:47:00+00:00",
        "schemaVersion": version,
        "data": {},
        "metadata": {"causedBy": "svc", "correlationId": "C-1"},
    }
    wrong = [e.message for e in validator.iter_errors({**envelope, "type": "Other"})]
    assert any("'Other'" in m or "was expected" in m for m in wrong)
    assert list(validator.iter_errors({**envelope, "schemaVersion": version + 1}))
