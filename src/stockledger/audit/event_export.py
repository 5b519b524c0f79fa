"""Auditor exports: every matching event in position order, as JSONL or CSV, with a manifest.

An export is pinned to `asOfPosition` (default: the commit horizon when it starts, less one):
every event at or below it has committed and none can ever appear there later (positions,
event_store.py), and events are never changed or removed, so the same request returns the same
bytes forever. It is read in keyset pages of positions (no long transaction holding back the
global feed, constant memory), each page rendered by Postgres: JSONL lines are the envelope as
the API and Kafka carry it plus `hash`; CSV has the columns of CSV_COLUMNS, `data` and
`metadata` as JSON text.

The manifest: `count`, `firstPosition`, `lastPosition`, `sha256` of the exact bytes,
`asOfPosition`, `createdAt` and `signature` = HMAC-SHA256 with STOCKLEDGER_AUDIT_KEY (hex)
over the UTF-8 string
`"stockledger-export:<asOfPosition>:<count>:<firstPosition>:<lastPosition>:<sha256 hex>:
<createdAt>"` (no line break; first/last empty when nothing matched; createdAt in the hash
chain's fixed UTC format). `verify_export` checks a file against it offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import hmac
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
import orjson

from ..domain.streams import like_prefix
from ..store.hashchain import GENESIS, canonical, canonical_time, chain
from ..store.rows import ENVELOPE_JOIN, RECORDED_AT_SQL, envelope_sql

Format = Literal["jsonl", "csv"]
CSV_COLUMNS = (
    "position",
    "eventId",
    "type",
    "streamId",
    "version",
    "recordedAt",
    "schemaVersion",
    "data",
    "metadata",
    "hash",
)
PAGE = 2_000
AHEAD = 3  # pages rendering at once (Postgres backends)
# Every export of the process together holds at most this many pool connections: however many
# auditors download at once, the write path and the reads keep the rest of the pool.
_SLOTS = asyncio.Semaphore(AHEAD)
_HORIZON = "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16) - 1"
# Postgres renders each row (the other core does that work; store.rows.envelope_sql).
_FROM = f"events e {ENVELOPE_JOIN}"
_ROW = {
    "jsonl": envelope_sql(hashed=True),
    "csv": f"e.event_id::text, e.type, e.stream_id, e.version::text, {RECORDED_AT_SQL}, "
    "e.schema_version::text, e.data::text, e.metadata::text, encode(e.hash, 'hex')",
}
# JSONL lines travel as bytea: asyncpg hands over the bytes as they came (a text column is
# decoded to str and would be encoded again).
_LINE = {"jsonl": f"convert_to({_ROW['jsonl']}, 'UTF8')", "csv": _ROW["csv"]}
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """Which events: a period (`since` inclusive, `until` exclusive, by recordedAt), a
    correlation id, an order id, an SKU (its stock, reorder and item streams), a warehouse (its
    stock, reorder and warehouse streams); all given filters apply."""

    format: Format = "jsonl"
    since: datetime | None = None
    until: datetime | None = None
    correlation_id: str | None = None
    order_id: str | None = None
    sku: str | None = None
    warehouse_id: str | None = None

    def conditions(self, first: int) -> tuple[list[str], list[Any]]:
        """SQL conditions on `e` and their arguments, numbered from `$first`."""
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${first + len(args) - 1}"

        if self.since is not None:
            where.append(f"e.recorded_at >= {arg(self.since)}")
        if self.until is not None:
            where.append(f"e.recorded_at < {arg(self.until)}")
        if self.correlation_id is not None:
            where.append(f"e.correlation_id = {arg(self.correlation_id)}")
        if self.order_id is not None:
            where.append(f"e.order_id = {arg(self.order_id)}")
        if self.sku is not None:
            sku = self.sku
            where.append(
                f"(e.stream_id LIKE {arg(like_prefix(f'stock:{sku}:'))} "
                f"OR e.stream_id LIKE {arg(like_prefix(f'reorder:{sku}:'))} "
                f"OR e.stream_id = {arg(f'item:{sku}')})"
            )
        if self.warehouse_id is not None:
            warehouse = arg(self.warehouse_id)
            where.append(
                "((split_part(e.stream_id, ':', 1) IN ('stock', 'reorder') "
                f"AND split_part(e.stream_id, ':', 3) = {warehouse}) "
                f"OR e.stream_id = 'warehouse:' || {warehouse})"
            )
        return where, args


async def horizon(pool: asyncpg.Pool[Any]) -> int:
    """The highest position every export started now may include (all of it committed)."""
    position: int = await pool.fetchval(_HORIZON)
    return position


async def count(pool: asyncpg.Pool[Any], query: ExportQuery, as_of: int) -> int:
    where, args = query.conditions(2)
    total: int = await pool.fetchval(
        f"SELECT count(*) FROM events e WHERE {' AND '.join(['e.position <= $1', *where])}",
        as_of,
        *args,
    )
    return total


@dataclass(slots=True)
class Page:
    """One page of an export: its bytes and the positions it holds."""

    data: bytes
    count: int
    first: int | None
    last: int | None


async def pages(
    pool: asyncpg.Pool[Any], query: ExportQuery, as_of: int, size: int = PAGE
) -> AsyncIterator[Page]:
    """The export's bytes page by page (the CSV header first), in position order.

    Rendering the rows is Postgres' work (most of an export's cost), so AHEAD pages render at
    once on as many connections (backends, so cores) while this one is sent: a cheap
    index-only query finds where each page ends, the pages are then read by position range."""
    if query.format == "csv":
        yield Page(_csv([CSV_COLUMNS]), 0, None, None)
    where, args = query.conditions(3)
    matching = " AND ".join(["e.position > $1", "e.position <= $2", *where])
    offset = f"${3 + len(args)}"
    edge_sql = (
        f"SELECT e.position FROM events e WHERE {matching} ORDER BY e.position "
        f"OFFSET {offset} LIMIT 1"
    )
    page_sql = (
        f"SELECT e.position, {_LINE[query.format]} FROM {_FROM} WHERE {matching} "
        "ORDER BY e.position"
    )
    render = _jsonl if query.format == "jsonl" else _csv_rows

    async def fetch(low: int, high: int) -> list[asyncpg.Record]:
        async with _SLOTS:
            return await pool.fetch(page_sql, low, high, *args)

    async def edges() -> AsyncIterator[tuple[int, int]]:
        low = -1
        while True:
            async with _SLOTS:
                high = await pool.fetchval(edge_sql, low, as_of, *args, size - 1)
            if high is None:
                yield low, as_of
                return
            yield low, high
            low = high

    pending: list[asyncio.Future[list[asyncpg.Record]]] = []
    try:
        async for low, high in edges():
            pending.append(asyncio.ensure_future(fetch(low, high)))
            if len(pending) < AHEAD:
                continue
            rows = await pending.pop(0)
            if rows:
                yield Page(render(rows), len(rows), rows[0][0], rows[-1][0])
        while pending:
            rows = await pending.pop(0)
            if rows:
                yield Page(render(rows), len(rows), rows[0][0], rows[-1][0])
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _jsonl(rows: list[asyncpg.Record]) -> bytes:
    return b"\n".join([r[1] for r in rows]) + b"\n"


def _csv_rows(rows: list[asyncpg.Record]) -> bytes:
    return _csv(tuple(r) for r in rows)


def _csv(rows: Any) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


# -- manifests --------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What a manifest says of the bytes it has seen so far."""

    count: int = 0
    first: int | None = None
    last: int | None = None
    digest: Any = field(default_factory=hashlib.sha256)

    def add(self, page: Page) -> None:
        self.digest.update(page.data)
        self.count += page.count
        if page.first is not None and self.first is None:
            self.first = page.first
        if page.last is not None:
            self.last = page.last


def signed_message(
    as_of: int, tally_count: int, first: int | None, last: int | None, sha256: str, at: datetime
) -> bytes:
    return (
        f"stockledger-export:{as_of}:{tally_count}:{_edge(first)}:{_edge(last)}:{sha256}:"
        f"{canonical_time(at)}"
    ).encode()


def _edge(position: int | None) -> str:
    return "" if position is None else str(position)


def sign(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def manifest(tally: Tally, as_of: int, created_at: datetime, key: str | None) -> dict[str, Any]:
    sha256 = tally.digest.hexdigest()
    message = signed_message(as_of, tally.count, tally.first, tally.last, sha256, created_at)
    return {
        "count": tally.count,
        "firstPosition": tally.first,
        "lastPosition": tally.last,
        "sha256": sha256,
        "asOfPosition": as_of,
        "createdAt": created_at.isoformat(),
        "signature": sign(key, message) if key else None,
    }


# -- checking a file offline -----------------------------------------------------------------


@dataclass
class ExportCheck:
    """What `verify_export` found: each problem in words (none: the file is the export)."""

    count: int = 0
    links: int = 0  # hash-chain links recomputed (consecutive versions of a stream)
    signature_checked: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _events(path: Path) -> Iterator[dict[str, Any]]:
    """The envelopes of an export file (JSONL or CSV, told apart by the first bytes)."""
    with path.open("rb") as file:
        head = file.read(len(",".join(CSV_COLUMNS)))
    if head.decode(errors="replace") == ",".join(CSV_COLUMNS):
        with path.open(newline="", encoding="utf-8") as text:
            reader = csv.DictReader(text)
            for row in reader:
                yield {
                    **row,
                    "position": int(row["position"]),
                    "version": int(row["version"]),
                    "schemaVersion": int(row["schemaVersion"]),
                    "data": orjson.loads(row["data"]),
                    "metadata": orjson.loads(row["metadata"]),
                }
        return
    with path.open("rb") as file:
        for line in file:
            if line.strip():
                yield orjson.loads(line)


def verify_export(path: Path, manifest_doc: dict[str, Any], key: str | None) -> ExportCheck:
    """Check an export file against its manifest: the SHA-256 of its bytes, the number of
    events and their first/last positions, the signature (with the key), positions rising, and
    every hash-chain link between consecutive versions of a stream in the file (from GENESIS
    where the file holds a stream from version 1)."""
    check = ExportCheck()
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    sha256 = digest.hexdigest()
    if sha256 != manifest_doc.get("sha256"):
        check.problems.append(f"sha256 {sha256} is not the manifest's {manifest_doc.get('sha256')}")
    heads: dict[str, tuple[int, bytes]] = {}
    first = last = None
    try:
        for event in _events(path):
            check.count += 1
            position = event["position"]
            if last is not None and position <= last:
                check.problems.append(f"position {position} after {last}: not in position order")
            first = position if first is None else first
            last = position
            _link(check, heads, event)
    except (ValueError, KeyError, TypeError, csv.Error) as error:
        check.problems.append(f"line {check.count + 1} is not an event of an export: {error!r}")
    for name, found in (("count", check.count), ("firstPosition", first), ("lastPosition", last)):
        if manifest_doc.get(name) != found:
            check.problems.append(f"{name} {found} is not the manifest's {manifest_doc.get(name)}")
    _check_signature(check, manifest_doc, key)
    return check


def _link(check: ExportCheck, heads: dict[str, tuple[int, bytes]], event: dict[str, Any]) -> None:
    stream, version, stored = event["streamId"], event["version"], bytes.fromhex(event["hash"])
    body = canonical(
        event_id=event["eventId"],
        type=event["type"],
        stream_id=stream,
        version=version,
        recorded_at=datetime.fromisoformat(event["recordedAt"]),
        schema_version=event["schemaVersion"],
        data=event["data"],
        metadata=event["metadata"],
    )
    previous = GENESIS if version == 1 else None
    if stream in heads and heads[stream][0] == version - 1:
        previous = heads[stream][1]
    if previous is not None:
        check.links += 1
        if chain(previous, body) != stored:
            check.problems.append(f"{stream}@{version}: the hash does not chain (edited event)")
    heads[stream] = (version, stored)


def _check_signature(check: ExportCheck, doc: dict[str, Any], key: str | None) -> None:
    if key is None:
        return
    check.signature_checked = True
    try:
        message = signed_message(
            doc["asOfPosition"],
            doc["count"],
            doc["firstPosition"],
            doc["lastPosition"],
            doc["sha256"],
            datetime.fromisoformat(doc["createdAt"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        check.problems.append(f"the manifest is incomplete: {error!r}")
        return
    if not doc.get("signature"):
        check.problems.append("the manifest is unsigned (no audit key was set when it was made)")
    elif not hmac.compare_digest(sign(key, message), str(doc["signature"])):
        check.problems.append("the signature does not match: a forged or altered manifest")
