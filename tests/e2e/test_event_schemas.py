"""A downstream team fetches the event contract with no key: the AsyncAPI document of the
topic and the JSON Schema of each event type and version, equal to the committed copies."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from stockledger.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


async def test_the_contract_is_served_without_a_key(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    document = await client.get("/asyncapi.json")
    assert document.status_code == 200
    body = document.json()
    assert body["asyncapi"] == "3.0.0"
    assert body["channels"]["events"]["address"] == settings.kafka_topic
    committed = json.loads((DOCS / "asyncapi.json").read_text())
    assert body["components"] == committed["components"]

    schema = await client.get("/v1/schemas/events/StockReceived/1")
    assert schema.status_code == 200
    assert schema.headers["content-type"].startswith("application/schema+json")
    committed = json.loads((DOCS / "schemas/events/StockReceived/1.json").read_text())
    assert schema.json() == committed
    assert schema.json()["properties"]["data"]["properties"]["unitCost"]["type"] == "string"
    for missing, status in (("StockReceived/4", 404), ("NoSuchEvent/1", 404)):
        got = await client.get(f"/v1/schemas/events/{missing}")
        assert got.status_code == status, got.text
        assert got.headers["content-type"].startswith("application/problem+json")
