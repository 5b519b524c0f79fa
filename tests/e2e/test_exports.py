"""Auditors download an order's or a period's events as a file and check it offline against a
signed manifest: same bytes for the same asOfPosition, tampering caught."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from stockledger.api.app import create_app
from stockledger.audit.event_export import verify_export
from stockledger.config import Settings
from stockledger.store.db import create_pool
from stockledger.store.rows import RECORDED_AT_SQL

from ..support import run_cli
from .conftest import Api

KEY = "audit-key-for-exports"


@pytest.fixture(scope="module")
async def audited(settings: Settings) -> AsyncIterator[Api]:
    """The app with an audit key: manifests are signed."""
    app = create_app(settings.model_copy(update={"audit_key": SecretStr(KEY)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as http:
            yield Api(http)


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in body.splitlines() if line]


async def _export(api: Api, role: str = "auditor", **params: Any) -> httpx.Response:
    return await api.get("/v1/exports/events", role=role, **params)


async def _an_order(api: Api, ids: Any) -> tuple[str, str]:
    sku, order = ids("EXP"), ids("ORDER")
    await api.receive(sku, "WH-A", 10)
    await api.receive(sku, "WH-B", 5)
    held = await api.reserve(order, (sku, "WH-A", 2), (sku, "WH-B", 1))
    assert held.status_code == 201, held.text
    rid = held.json()["reservationId"]
    await api.post(f"/v1/reservations/{rid}/confirm", {}, role="orders")
    shipped = await api.post(
        "/v1/shipments",
        {"shipmentId": ids("SHIP"), "orderId": order, "reservationId": rid},
        role="orders",
    )
    assert shipped.status_code == 201, shipped.text
    return sku, order


async def test_an_orders_export_is_its_trail_and_the_same_bytes_later(
    audited: Api, api: Api, ids: Any, tmp_path: Path
) -> None:
    sku, order = await _an_order(api, ids)
    exported = await _export(audited, orderId=order)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    as_of = exported.headers["X-As-Of-Position"]
    trail = (await api.get(f"/v1/orders/{order}/events", role="auditor")).json()["events"]
    assert _lines(exported.content) == trail  # recordedAt spelled as the API spells it
    assert all(len(e["hash"]) == 64 for e in _lines(exported.content))

    await api.reserve(ids("ORDER"), (sku, "WH-A", 1))  # the ledger moves on
    again = await _export(audited, orderId=order, asOfPosition=as_of)
    assert again.content == exported.content
    manifest = (await audited.get("/v1/exports/manifest", orderId=order, asOfPosition=as_of)).json()
    assert manifest["count"] == len(trail)
    assert (manifest["firstPosition"], manifest["lastPosition"]) == (
        trail[0]["position"],
        trail[-1]["position"],
    )
    assert manifest["asOfPosition"] == int(as_of)
    assert manifest["sha256"] == hashlib.sha256(exported.content).hexdigest()
    file = tmp_path / "order.jsonl"
    file.write_bytes(exported.content)
    check = verify_export(file, manifest, KEY)
    assert (check.ok, check.signature_checked, check.count) == (True, True, len(trail)), check
    # every link inside the file is recomputed; the first event of each stock stream here
    # (version 2: the receipts are not the order's) has its link outside the file
    assert check.links == len(trail) - 2

    forged = {**manifest, "count": manifest["count"] - 1}
    assert any("signature" in p for p in verify_export(file, forged, KEY).problems)
    assert not verify_export(file, manifest, "another key").ok
    flipped = bytearray(exported.content)
    at = flipped.index(b'"quantity": ') + len(b'"quantity": ')
    flipped[at : at + 1] = b"9" if flipped[at : at + 1] != b"9" else b"8"
    file.write_bytes(bytes(flipped))
    problems = verify_export(file, manifest, KEY).problems
    assert any("sha256" in p for p in problems)
    assert any("does not chain" in p for p in problems), problems
    file.write_bytes(b"\n".join(exported.content.splitlines()[1:]) + b"\n")  # a dropped line
    problems = verify_export(file, manifest, KEY).problems
    assert any(p.startswith("count") for p in problems), problems


async def test_a_periods_export_is_the_global_feed_over_its_positions_and_csv_round_trips(
    audited: Api, api: Api, ids: Any
) -> None:
    first = await api.receive(ids("PERIOD"), "WH-A", 3)
    start = first.json()["events"][0]["recordedAt"]
    await _an_order(api, ids)
    end_event = (await api.receive(ids("PERIOD"), "WH-A", 1)).json()["events"][0]
    params = {"from": start, "to": end_event["recordedAt"]}
    exported = await _export(audited, **params)
    as_of = int(exported.headers["X-As-Of-Position"])
    lines = _lines(exported.content)
    feed: list[dict[str, Any]] = []
    after = lines[0]["position"] - 1
    while True:
        page = (await api.get("/v1/events", role="auditor", after=after, limit=1000)).json()
        feed += page["events"]
        if not page["next"] or int(page["next"]) >= as_of:
            break
        after = page["next"]
    low, high = datetime.fromisoformat(start), datetime.fromisoformat(end_event["recordedAt"])
    wanted = [
        e
        for e in feed
        if e["position"] <= as_of and low <= datetime.fromisoformat(e["recordedAt"]) < high
    ]
    assert lines == wanted
    assert end_event["eventId"] not in {e["eventId"] for e in lines}  # `to` is exclusive

    as_csv = await _export(audited, format="csv", asOfPosition=as_of, **params)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert list(rows[0]) == [
        "position", "eventId", "type", "streamId", "version", "recordedAt", "schemaVersion",
        "data", "metadata", "hash",
    ]  # fmt: skip
    back = [
        {
            "eventId": r["eventId"],
            "type": r["type"],
            "streamId": r["streamId"],
            "version": int(r["version"]),
            "position": int(r["position"]),
            "recordedAt": r["recordedAt"],
            "schemaVersion": int(r["schemaVersion"]),
            "data": orjson.loads(r["data"]),
            "metadata": orjson.loads(r["metadata"]),
            "hash": r["hash"],
        }
        for r in rows
    ]
    assert back == lines
    day = await _export(audited, **{"from": start[:10]}, asOfPosition=as_of)
    assert day.status_code == 200  # a UTC date is a boundary too


async def test_an_sku_export_holds_its_streams_and_bad_requests_are_refused(
    audited: Api, api: Api, ids: Any
) -> None:
    sku, _ = await _an_order(api, ids)
    lines = _lines((await _export(audited, sku=sku)).content)
    assert {e["streamId"] for e in lines} == {f"stock:{sku}:WH-A", f"stock:{sku}:WH-B"}
    only_b = _lines((await _export(audited, sku=sku, warehouseId="WH-B")).content)
    assert {e["streamId"] for e in only_b} == {f"stock:{sku}:WH-B"}
    assert (await _export(audited, role="warehouse", sku=sku)).status_code == 403
    assert (await audited.get("/v1/exports/manifest", role="orders")).status_code == 403
    for bad in ({"asOfPosition": 2**62}, {"from": "last week"}, {"format": "xml"}):
        refused = await _export(audited, **bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, STOCKLEDGER_DATABASE_URL=database_url, STOCKLEDGER_AUDIT_KEY=KEY)


async def test_the_cli_writes_the_export_and_its_manifest_and_verifies_them_offline(
    audited: Api, api: Api, ids: Any, tmp_path: Path, database_url: str
) -> None:
    _, order = await _an_order(api, ids)
    out = tmp_path / "order.csv"
    made = await asyncio.to_thread(
        _cli, database_url, "export", "--order-id", order, "--format", "csv", "-o", str(out)
    )
    assert made.returncode == 0, made.stdout + made.stderr
    manifest_path = tmp_path / "order.csv.manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())
    over_http = await _export(
        audited, format="csv", orderId=order, asOfPosition=manifest["asOfPosition"]
    )
    assert out.read_bytes() == over_http.content  # the same bytes either way
    assert manifest["signature"]
    assert manifest["count"] == 7
    checked = await asyncio.to_thread(
        _cli, database_url, "verify-export", str(out), str(manifest_path)
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    said = checked.stdout + checked.stderr  # the console writes to stderr
    assert "export verified" in said
    assert "signature ok" in said
    out.write_bytes(out.read_bytes().replace(b"StockShipped", b"StockShipp3d", 1))
    broken = await asyncio.to_thread(
        _cli, database_url, "verify-export", str(out), str(manifest_path)
    )
    assert broken.returncode == 1
    assert "does not chain" in broken.stdout + broken.stderr


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 17, 20, 47, 0, tzinfo=UTC),  # a whole second: no fraction
        datetime(2026, 11, 17, 20, 47, 0, 120000, tzinfo=UTC),  # trailing zeros
        datetime(2026, 11, 17, 20, 47, 0, 5, tzinfo=UTC),
        datetime(2026, 11, 17, 15, 47, 0, 999999, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
async def test_recorded_at_is_spelled_as_the_api_spells_it(
    database_url: str, moment: datetime
) -> None:
    pool = await create_pool(database_url, 1)
    try:
        spelled = await pool.fetchval(
            f"SELECT {RECORDED_AT_SQL} "
            "FROM (SELECT ($1::timestamptz AT TIME ZONE 'UTC')::text AS t) r",
            moment,
        )
    finally:
        await pool.close()
    assert spelled == moment.astimezone(UTC).isoformat()


async def test_concurrent_exports_share_their_connections_and_each_is_whole(
    audited: Api, api: Api, ids: Any
) -> None:
    """Exports of the process hold three pool connections at most between them; five at once
    each still return every event, and a command goes through meanwhile."""
    _, order = await _an_order(api, ids)
    as_of = (await _export(audited, orderId=order)).headers["X-As-Of-Position"]
    alone = (await _export(audited, asOfPosition=as_of)).content
    together = await asyncio.gather(
        *(_export(audited, asOfPosition=as_of) for _ in range(5)),
        api.receive(ids("BUSY"), "WH-A", 1),
    )
    assert all(r.content == alone for r in together[:5])
    assert together[5].status_code == 201
