"""Auditors over HTTP: recompute hashes from what the API returns, list checkpoints, verify."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from stockledger.api.app import create_app
from stockledger.config import Settings
from tests.databases import Ledgers, ledgers

from ..support import edit_events
from .conftest import API_KEYS, Api, auth

__all__ = ["ledgers"]  # the fixture


def recompute(events: list[dict[str, Any]]) -> list[str]:
    """The README's recipe, with nothing but hashlib and json: an auditor's own code."""
    previous, hashes = bytes(32), []
    for e in events:
        at = datetime.fromisoformat(e["recordedAt"]).astimezone(UTC)
        document = {
            "eventId": e["eventId"],
            "type": e["type"],
            "streamId": e["streamId"],
            "version": e["version"],
            "recordedAt": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "schemaVersion": e["schemaVersion"],
            "data": e["data"],
            "metadata": e["metadata"],
        }
        body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        previous = hashlib.sha256(previous + body.encode("utf-8")).digest()
        hashes.append(previous.hex())
    return hashes


async def test_history_hashes_recompute_from_the_api_alone(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    first = await api.receive(sku, "WH-A", 10, supplier='Größe & Söhne "quoted"')
    order = ids("ORDER")
    reserved = await api.reserve(order, (sku, "WH-A", 3))
    await api.post(
        "/v1/counts", {"sku": sku, "warehouseId": "WH-A", "countedQuantity": 9, "notes": "n"}
    )
    history = await api.get(f"/v1/stock/{sku}/WH-A/history", role="auditor")
    events = history.json()["events"]
    assert [e["type"] for e in events] == [
        "StockReceived",
        "StockReserved",
        "StockCounted",
        "StockAdjusted",
    ]
    assert [e["hash"] for e in events] == recompute(events)
    assert first.json()["events"][0]["hash"] == events[0]["hash"]
    stock_event = next(e for e in reserved.json()["events"] if e["streamId"].startswith("stock:"))
    assert stock_event["hash"] == events[1]["hash"]


def readme_recipe() -> Any:
    """The Python block of the README's "Verifying the ledger yourself", as printed there."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Verifying the ledger yourself", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["verify_stream"]


async def test_the_readme_recipe_verifies_a_stream_and_catches_an_edit(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    await api.receive(sku, "WH-A", 5, supplier='Zoë\'s "best"\n')
    await api.post(
        "/v1/adjustments",
        {
            "sku": sku,
            "warehouseId": "WH-A",
            "quantityChange": -2,
            "reason": "damage",
            "notes": "dropped ☂",
        },
    )
    events = (await api.get(f"/v1/stock/{sku}/WH-A/history", role="auditor")).json()["events"]
    verify_stream = readme_recipe()
    verify_stream(events)
    events[1]["data"]["quantityChange"] = -1
    with pytest.raises(AssertionError, match=f"stock:{sku}:WH-A version 2 is broken"):
        verify_stream(events)


async def test_verify_one_stream_and_the_whole_shared_store(api: Api, ids: Any) -> None:
    sku = ids("SKU")
    for qty in (1, 2, 3):
        await api.receive(sku, "WH-A", qty)
    one = await api.get("/v1/audit/verify", role="auditor", stream=f"stock:{sku}:WH-A")
    assert one.status_code == 200, one.text
    assert one.json() == {
        "ok": True,
        "eventsChecked": 3,
        "streamsChecked": 1,
        "checkpointsChecked": 0,
        "breakCount": 0,
        "breaks": [],
    }
    everything = (await api.get("/v1/audit/verify", role="admin")).json()
    assert everything["streamsChecked"] >= 1
    assert not [b for b in everything["breaks"] if sku in (b["streamId"] or "")]
    bad = await api.get("/v1/audit/verify", role="auditor", stream="not a stream")
    assert bad.status_code == 422


@pytest.fixture
async def audited(ledgers: Ledgers) -> AsyncIterator[tuple[Api, str]]:
    """An app on a ledger of its own that signs a checkpoint every 3 events (polled each second)."""
    url = await ledgers.new()
    settings = Settings(
        database_url=url,
        api_keys=API_KEYS,
        audit_key="e2e-audit-key",
        checkpoint_every_events=3,
        checkpoint_every_seconds=3600,
    )
    app = create_app(settings, run_expiry=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Api(http), url


async def test_checkpoints_are_signed_listed_and_tampering_is_reported(
    audited: tuple[Api, str], ids: Any
) -> None:
    api, url = audited
    sku = ids("SKU")
    for qty in (1, 2, 3):
        await api.receive(sku, "WH-A", qty)
    deadline = asyncio.get_running_loop().time() + 30  # the horizon is cluster-wide
    while not (listed := (await api.get("/v1/audit/checkpoints", role="auditor")).json())[
        "checkpoints"
    ]:
        assert asyncio.get_running_loop().time() < deadline, "no checkpoint was signed"
        await asyncio.sleep(0.02)
    checkpoint = listed["checkpoints"][0]
    assert (checkpoint["eventCount"], checkpoint["streamCount"]) == (3, 1)
    assert len(checkpoint["signature"]) == 64
    assert listed["next"] is None
    clean = (await api.get("/v1/audit/verify", role="auditor")).json()
    assert (clean["ok"], clean["eventsChecked"], clean["checkpointsChecked"]) == (True, 3, 1)

    conn = await asyncpg.connect(url)  # a superuser edits version 2's payload
    try:
        edit = "UPDATE events SET data = jsonb_set(data, '{quantity}', '20') "
        where = "WHERE stream_id = $1 AND version = 2"
        await edit_events(conn, (edit + where, f"stock:{sku}:WH-A"))
    finally:
        await conn.close()
    report = (await api.get("/v1/audit/verify", role="admin")).json()
    assert report["ok"] is False
    assert [(b["kind"], b["streamId"], b["version"]) for b in report["breaks"]] == [
        ("hash-mismatch", f"stock:{sku}:WH-A", 2)
    ]
    for role in ("orders", "warehouse"):
        denied = await api.http.get("/v1/audit/verify", headers=auth(role))
        assert denied.status_code == 403
