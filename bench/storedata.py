"""Benchmark data for the store scenarios, fast: the rows the append path writes, by COPY.

`Shop` simulates orders on a clock (reserve, confirm, ship, release, expire, return, receive)
and builds each event's row the way `record.record` + `EventStore.append` would: `data`
exactly as `to_data` writes it, the same metadata, correlation and order ids, the per-event
delta columns, positions `(xid << 16) + index` of the writing transaction and the hash chain.
It skips the pure domain's `decide` (pydantic objects cost ~100 us per event; 2,000,000 events
would take minutes): `tests/integration/test_bench_data.py` checks the rows against the
domain (`from_data` + `to_data`, `delta`, `evolve`) and against `hashchain.canonical`.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import heapq
import itertools
import multiprocessing
import random
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from stockledger.domain.aggregates import State, evolve, initial_state
from stockledger.domain.events import from_data
from stockledger.store.hashchain import GENESIS, canonical_time
from stockledger.store.snapshots import state_to_json

TTL = timedelta(seconds=900)
HOUR = timedelta(hours=1)
SUPPLIERS = ("Acme", "Borealis Trading", "Cobalt Supply", "Dunmore & Sons")
RELEASE_REASONS = ("customer_cancelled", "payment_failed", "address_invalid")
RETURN_REASONS = ("defective", "wrong_item", "customer_changed_mind", "damaged_in_transit")
CONDITIONS = ("resellable", "resellable", "damaged", "dispose")
COLUMNS = (
    "position", "event_id", "stream_id", "version", "type", "schema_version", "data",
    "metadata", "recorded_at", "correlation_id", "order_id",
    "d_on_hand", "d_reserved", "d_in_transit", "d_damaged", "hash",
)  # fmt: skip
Delta = tuple[int, int, int, int]
NONE: Delta = (0, 0, 0, 0)


@dataclass(slots=True)
class Row:
    """One `events` row before the store assigns its position and hash."""

    event_id: UUID
    stream_id: str
    version: int
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    correlation_id: str
    order_id: str | None
    delta: Delta


def wire_time(moment: datetime) -> str:
    """A UTC datetime as pydantic's JSON mode writes it (`to_data`)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{moment.microsecond:06d}Z" if moment.microsecond else "Z")


@dataclass(slots=True)
class _Reservation:
    order_id: str
    lines: list[tuple[int, int]]  # (stock stream index, quantity)
    expires_at: datetime
    status: str = "active"


@dataclass
class Shop:
    """Orders on `skus` x `warehouses` stock streams, one every `step` of simulated time."""

    skus: int
    warehouses: int = 3
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    step: timedelta = timedelta(seconds=20)
    seed: int = 7
    prefix: str = "B"
    now: datetime = field(init=False)
    rows: list[Row] = field(default_factory=list, init=False)
    emitted: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = self.start
        n = self.skus * self.warehouses
        self.stock = [
            f"stock:{self.prefix}SKU-{i // self.warehouses:06d}:WH-{i % self.warehouses}"
            for i in range(n)
        ]
        self.on_hand, self.reserved = [0] * n, [0] * n
        self.versions: dict[str, int] = {}
        self.reservations: dict[str, _Reservation] = {}
        self._due: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._uuids = random.Random(f"{self.seed}:{self.prefix}:event-ids")

    # -- building rows -----------------------------------------------------------------------

    def _id(self, kind: str) -> str:
        return f"{self.prefix}{kind}-{next(self._ids):08d}"

    def _emit(
        self, stream: str, type_: str, data: dict[str, Any], corr: str, who: str, d: Delta = NONE
    ) -> None:
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        self.emitted += 1
        self.rows.append(
            Row(
                UUID(int=self._uuids.getrandbits(128), version=4),
                stream,
                version,
                type_,
                data,
                {"causedBy": who, "correlationId": corr},
                self.now,
                corr,
                data.get("orderId"),
                d,
            )
        )

    def _key(self, i: int) -> tuple[str, str]:
        _, sku, warehouse = self.stock[i].split(":")
        return sku, warehouse

    def _lines(self, lines: list[tuple[int, int]], shipped: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, q in lines:
            sku, warehouse = self._key(i)
            line: dict[str, Any] = {"sku": sku, "warehouseId": warehouse, "quantity": q}
            if shipped:
                line["reservedQuantity"] = q
            out.append(line)
        return out

    # -- commands ----------------------------------------------------------------------------

    def receive(self, i: int, quantity: int) -> None:
        sku, warehouse = self._key(i)
        po, supplier = f"{self.prefix}PO-{self.now:%y%m%d}-{i % 7}", SUPPLIERS[i % 4]
        data = {
            "sku": sku, "warehouseId": warehouse, "quantity": quantity, "purchaseOrderId": po,
            "unitCost": f"{1 + i % 97}.{i % 100:02d}", "supplier": supplier,
            "receiptId": self._id("RCT"),
        }  # fmt: skip
        self._emit(self.stock[i], "StockReceived", data, po, "bench-warehouse", (quantity, 0, 0, 0))
        self.on_hand[i] += quantity

    def pad(self, i: int, version: int) -> None:
        """Small receipts until stock stream `i` is at exactly `version`."""
        while self.versions.get(self.stock[i], 0) < version:
            self.receive(i, 6)

    def order(self) -> None:
        """Advance the clock one step, run what fell due, then place one new order."""
        self.now += self.step
        while self._due and self._due[0][0] <= self.now:
            _, _, action = heapq.heappop(self._due)
            action()
        r, n = self.rng, len(self.stock)
        picked = {min(n - 1, int(n * r.random() ** 2)) for _ in range(1 + (r.random() < 0.3))}
        lines = [(i, r.choice((1, 1, 1, 1, 2, 2, 3, 5))) for i in sorted(picked)]
        for i, q in lines:
            if self.on_hand[i] - self.reserved[i] < q:
                self.receive(i, 600)
        order = self._id("ORD")
        if r.random() < 0.02:
            self._ship_direct(order, lines)
            return
        self._reserve(order, lines)

    def _later(self, low: timedelta, high: timedelta, action: Callable[[], None]) -> None:
        at = self.now + low + (high - low) * self.rng.random()
        heapq.heappush(self._due, (at, next(self._seq), action))

    def _reserve(self, order: str, lines: list[tuple[int, int]]) -> None:
        rid = self._id("RSV")
        res = _Reservation(order, lines, self.now + TTL)
        self.reservations[rid] = res
        base = {"reservationId": rid, "orderId": order, "expiresAt": wire_time(res.expires_at)}
        self._emit(
            f"reservation:{rid}", "StockReserved", {**base, "lines": self._lines(lines)}, order,
            "bench-orders",
        )  # fmt: skip
        for i, q in lines:
            data = {**base, "lines": self._lines([(i, q)])}
            self._emit(self.stock[i], "StockReserved", data, order, "bench-orders", (0, q, 0, 0))
            self.reserved[i] += q
        fate = self.rng.random()
        if fate < 0.82:
            self._later(TTL * 0.02, TTL * 0.6, lambda: self._confirm(rid, fate < 0.03))
        elif fate < 0.91:
            self._later(TTL * 0.05, TTL * 0.9, lambda: self._end(rid, "ReservationReleased"))
        else:
            self._later(
                TTL, TTL + timedelta(seconds=4), lambda: self._end(rid, "ReservationExpired")
            )

    def _confirm(self, rid: str, cancel: bool) -> None:
        res = self.reservations[rid]
        res.status = "confirmed"
        data = {"reservationId": rid, "orderId": res.order_id}
        self._emit(f"reservation:{rid}", "ReservationConfirmed", data, res.order_id, "bench-orders")
        if cancel:
            self._later(HOUR, 20 * HOUR, lambda: self._end(rid, "ReservationReleased"))
        else:
            self._later(HOUR, 40 * HOUR, lambda: self._ship(rid))

    def _end(self, rid: str, type_: str) -> None:
        res = self.reservations.pop(rid)
        data: dict[str, Any] = {"reservationId": rid, "orderId": res.order_id}
        who = "bench-expiry" if type_ == "ReservationExpired" else "bench-orders"
        released = type_ == "ReservationReleased"
        reason = self.rng.choice(RELEASE_REASONS)

        def body(lines: list[tuple[int, int]]) -> dict[str, Any]:
            out = {**data, "lines": self._lines(lines)}
            return {**out, "reason": reason} if released else out

        self._emit(f"reservation:{rid}", type_, body(res.lines), res.order_id, who)
        for i, q in res.lines:
            self._emit(self.stock[i], type_, body([(i, q)]), res.order_id, who, (0, -q, 0, 0))
            self.reserved[i] -= q

    def _ship(self, rid: str) -> None:
        res = self.reservations.pop(rid)
        shipment = self._id("SHP")
        base = {"shipmentId": shipment, "orderId": res.order_id}

        def body(lines: list[tuple[int, int]]) -> dict[str, Any]:
            return {**base, "lines": self._lines(lines, shipped=True), "reservationId": rid}

        self._emit(
            f"reservation:{rid}", "StockShipped", body(res.lines), res.order_id, "bench-orders"
        )
        for i, q in res.lines:
            self._emit(self.stock[i], "StockShipped", body([(i, q)]), res.order_id, "bench-orders",
                       (-q, -q, 0, 0))  # fmt: skip
            self.on_hand[i] -= q
            self.reserved[i] -= q
        if self.rng.random() < 0.1:
            i, q = self.rng.choice(res.lines)
            self._later(24 * HOUR, 14 * 24 * HOUR, lambda: self._return(res.order_id, i, q))

    def _ship_direct(self, order: str, lines: list[tuple[int, int]]) -> None:
        shipment = self._id("SHP")
        for i, q in lines:
            sku, warehouse = self._key(i)
            line = {"sku": sku, "warehouseId": warehouse, "quantity": q, "reservedQuantity": 0}
            data = {
                "shipmentId": shipment,
                "orderId": order,
                "lines": [line],
                "reservationId": None,
            }
            self._emit(self.stock[i], "StockShipped", data, order, "bench-orders", (-q, 0, 0, 0))
            self.on_hand[i] -= q

    def _return(self, order: str, i: int, q: int) -> None:
        sku, warehouse = self._key(i)
        n = next(self._ids)
        condition = CONDITIONS[n % 4]
        data = {
            "returnId": f"{self.prefix}RET-{n:08d}", "orderId": order, "sku": sku,
            "warehouseId": warehouse, "quantity": q, "reason": RETURN_REASONS[n % 4],
            "condition": condition,
        }  # fmt: skip
        d = {"resellable": (q, 0, 0, 0), "damaged": (0, 0, 0, q)}.get(condition, NONE)
        self._emit(self.stock[i], "StockReturned", data, order, "bench-warehouse", d)
        self.on_hand[i] += d[0]

    # -- batches -----------------------------------------------------------------------------

    def batches(self, size: int, stop: Callable[[Shop], bool]) -> Iterator[list[Row]]:
        """Rows in commit order, `size` at most per batch (one transaction each), until `stop`."""
        while not stop(self):
            self.order()
            if len(self.rows) >= size:
                yield self.rows[:size]
                self.rows = self.rows[size:]
        if self.rows:
            yield self.rows
            self.rows = []


# -- writing -----------------------------------------------------------------------------------


def canonical_fast(row: Row, version_time: str) -> bytes:
    """`hashchain.canonical` for bench rows (ASCII, integers, no floats), via orjson."""
    return orjson.dumps(
        {
            "eventId": str(row.event_id),
            "type": row.type,
            "streamId": row.stream_id,
            "version": row.version,
            "recordedAt": version_time,
            "schemaVersion": 1,
            "data": row.data,
            "metadata": row.metadata,
        },
        option=orjson.OPT_SORT_KEYS,
    )


@dataclass
class Snapshots:
    """Snapshots every `every` versions of the streams `wanted` picks, as the ledger saves them."""

    every: int
    wanted: Callable[[str], bool]
    states: dict[str, State] = field(default_factory=dict)

    def take(self, rows: list[Row]) -> list[tuple[str, int, datetime, str]]:
        out = []
        for row in rows:
            if not self.wanted(row.stream_id):
                continue
            state = self.states.get(row.stream_id) or initial_state(row.stream_id)
            state = evolve(state, from_data(row.type, row.data, 1), row.recorded_at)
            self.states[row.stream_id] = state
            if state.version % self.every == 0:
                json = orjson.dumps(state_to_json(state)).decode()
                out.append((row.stream_id, state.version, row.recorded_at, json))
        return out


@dataclass
class Encoder:
    """Rows -> COPY records with positions relative to their transaction (1, 2, ...) and the
    hash chain carried across batches, exactly as `EventStore.append` computes them."""

    heads: dict[str, bytes] = field(default_factory=dict)

    def records(self, rows: list[Row]) -> list[tuple[Any, ...]]:
        heads, sha, dumps = self.heads, hashlib.sha256, orjson.dumps
        out = []
        times: dict[datetime, str] = {}
        for k, row in enumerate(rows, 1):
            at = times.get(row.recorded_at)
            if at is None:
                at = times[row.recorded_at] = canonical_time(row.recorded_at)
            digest = sha(heads.get(row.stream_id, GENESIS) + canonical_fast(row, at)).digest()
            heads[row.stream_id] = digest
            out.append(
                (
                    k, row.event_id, row.stream_id, row.version, row.type, 1,
                    dumps(row.data).decode(), dumps(row.metadata).decode(), row.recorded_at,
                    row.correlation_id, row.order_id, *row.delta, digest,
                )
            )  # fmt: skip
        return out


Batch = tuple[list[tuple[Any, ...]], list[tuple[str, int, datetime, str]]]


def encode(
    shop: Shop, stop: Callable[[Shop], bool], size: int, snapshots: Snapshots | None
) -> Iterator[Batch]:
    encoder = Encoder()
    for rows in shop.batches(size, stop):
        yield encoder.records(rows), snapshots.take(rows) if snapshots is not None else []


async def write(conn: asyncpg.Connection[Any], batch: Batch, outbox: bool) -> None:
    """One transaction: COPY the events at `(xid << 16) + k`, then outbox rows and snapshots."""
    records, snaps = batch
    if not 0 < len(records) < 65_536:
        raise ValueError("1 to 65,535 events per transaction (the low 16 bits of a position)")
    async with conn.transaction():
        # The transaction's first write, like the append statement's INSERT.
        base = await conn.fetchval("SELECT pg_current_xact_id()::text::bigint << 16")
        positioned = [(base + r[0], *r[1:]) for r in records]
        await conn.copy_records_to_table("events", records=positioned, columns=COLUMNS)
        if outbox:
            await conn.execute(
                "INSERT INTO outbox (position, stream_id, version) SELECT position, "
                "stream_id, version FROM events WHERE position > $1 AND position <= $2",
                base,
                base + len(records),
            )
        if snaps:
            await conn.executemany(
                "INSERT INTO snapshots (stream_id, version, recorded_at, state) "
                "VALUES ($1, $2, $3, $4::jsonb)",
                snaps,
            )


def _produce(
    shop: Shop, stop: Callable[[Shop], bool], size: int, snapshots: Snapshots | None, out: Any
) -> None:
    """Child process: encode every batch and hand it over; None at the end, or the error."""
    gc.disable()  # millions of live rows make the cyclic collector crawl
    try:
        for batch in encode(shop, stop, size, snapshots):
            out.put(batch)
        out.put(None)
    except Exception:
        out.put(RuntimeError("bench data generation failed:\n" + traceback.format_exc()))


_PLAIN_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = 'public' AND i.tablename = 'events'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
"""


async def build(
    url: str,
    shop: Shop,
    stop: Callable[[Shop], bool],
    *,
    batch: int = 50_000,
    outbox: bool = False,
    snapshots: Snapshots | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Generate `shop`'s rows until `stop` and COPY them into the (empty) database at `url`.

    A forked child generates and encodes the next batch while this process writes the current
    one. The events table's plain indexes are dropped for the load and rebuilt from their own
    definitions afterwards (one sort each instead of millions of inserts)."""
    conn = await asyncpg.connect(url)
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=2)
    child = context.Process(target=_produce, args=(shop, stop, batch, snapshots, queue))
    try:
        await conn.execute("SET synchronous_commit = off")  # bench data: durability not needed
        indexes = await conn.fetch(_PLAIN_INDEXES)
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        child.start()
        written = 0
        while (item := await asyncio.to_thread(queue.get)) is not None:
            if isinstance(item, Exception):
                raise item
            await write(conn, item, outbox)
            written += len(item[0])
            if progress is not None:
                progress(written)
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        return written
    finally:
        if child.is_alive():
            child.terminate()
        if child.pid is not None:
            await asyncio.to_thread(child.join)
        await conn.close()


def until_version(i: int, version: int) -> Callable[[Shop], bool]:
    """A `stop` for `Shop.batches`: stock stream `i` ends at exactly `version` events."""

    def stop(shop: Shop) -> bool:
        if shop.versions.get(shop.stock[i], 0) < version - 50:
            return False
        if shop.versions[shop.stock[i]] > version:
            raise ValueError(f"{shop.stock[i]} went past version {version}")
        shop.pad(i, version)
        return True

    return stop
