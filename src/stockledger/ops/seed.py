"""`stockledger seed`: Mei's shop demo data, in bulk, with exactly the real write path's events.

The shop (`ops/demo_shop.py`) issues domain commands on a simulated clock. `BulkLedger` records them
in memory with the write path's own `record.record` (same `NewEvent`s: metadata, correlation
ids, order ids, deltas) and buffers the events per stream. Full chunks go through
`EventStore.append`, many streams per transaction, each at the version it had before the chunk,
so positions, outbox rows and the reservation-deadline index are the store's own. Snapshots every
`snapshot_every` versions are written right after the chunk holding them commits.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..domain.streams import is_valid_id
from ..domain.upcasting import as_written_in
from ..store.db import create_pool, settle
from ..store.event_store import MAX_EVENTS_PER_TRANSACTION, Connection, EventStore
from ..store.rows import RecordedEvent
from ..write.bulk import BulkLedger, Chunk
from ..write.lot_holdings import write_holdings
from ..write.serial_places import place_serials
from ..write.tracked_events import write_tracked
from .demo_shop import MeisShop

_SNAPSHOTS = """
INSERT INTO snapshots (stream_id, version, recorded_at, state)
SELECT s, v, r, j::jsonb FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[])
     AS x(s, v, r, j)
ON CONFLICT DO NOTHING
"""


def last_midnight() -> datetime:
    """The default end of the history: today 00:00 UTC (so a seed is the same all day long)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class SeedPlan:
    skus: int = 15_000
    warehouses: int = 3
    days: int = 90
    random_seed: int = 42
    end: datetime = field(default_factory=last_midnight)
    prefix: str = ""  # namespaces SKU, order, reservation... ids: several seeds in one database
    reservation_ttl_seconds: int = 900
    snapshot_every: int = 100
    chunk_events: int = 30_000  # per transaction; a chunk may overshoot by one command's events
    # Write every event as schemaVersion 1, as a ledger from before valuation held
    # it: no costs on the events, no stock_values rows, snapshots without values. Reads go
    # through the upcasters; `stockledger migrate` derives the value rows.
    schema_v1: bool = False
    # The purchasing desk's orders on the last day (ops/demo_shop.py). A ledger from before
    # purchase orders had none: `schema_v1` leaves them out whatever this says.
    purchasing: bool = True
    # Mei's tracked stock (ops/tracked_shop.py): perishables in lots, devices by serial. A v1
    # ledger cannot hold it (lots and serials came later), so `schema_v1` leaves it out.
    tracked: bool = True

    def __post_init__(self) -> None:
        if min(self.skus, self.warehouses, self.days) < 1:
            raise ValueError("skus, warehouses and days must be at least 1")
        if (self.prefix and not is_valid_id(self.prefix)) or len(self.prefix) > 24:
            raise ValueError("prefix: up to 24 of A-Z a-z 0-9 . _ -, first a letter or digit")
        if not 0 < self.chunk_events <= MAX_EVENTS_PER_TRANSACTION - 1_000:
            raise ValueError("chunk_events must leave room below the per-transaction limit")


@dataclass(slots=True)
class SeedResult:
    plan: SeedPlan
    events: Counter[str]
    refused: Counter[str]
    streams: Counter[str]
    still_open: Counter[str]
    first: datetime | None
    last: datetime | None
    seconds: float = 0.0


def simulate(plan: SeedPlan, ledger: BulkLedger) -> Iterator[tuple[int, Chunk]]:
    """Pure and deterministic for a plan: (day, chunk) in commit order; no I/O."""
    day = 0
    for day in MeisShop(plan, ledger).run():
        if ledger.pending >= plan.chunk_events:
            yield day, ledger.take()
    if ledger.pending:
        yield day + 1, ledger.take()


def as_v1(chunk: Chunk) -> Chunk:
    """The chunk as it would have been written before schemaVersion 2: every event's data
    without what version 2 added (the upcasting registry's ADDED), at version 1, unvalued;
    stock snapshots without their value (the loader then folds those streams from events)."""
    writes = [
        replace(
            write,
            events=tuple(
                replace(
                    e,
                    schema_version=1,
                    data=as_written_in(e.type, 1, e.data),
                    move=None,
                )
                for e in write.events
            ),
        )
        for write in chunk.writes
    ]
    snapshots = [
        (stream, version, at, _without_value(state) if stream.startswith("stock:") else state)
        for stream, version, at, state in chunk.snapshots
    ]
    return replace(chunk, writes=writes, snapshots=snapshots)


def _without_value(state: str) -> str:
    parsed = orjson.loads(state)
    parsed.pop("value", None)
    return orjson.dumps(parsed).decode()


async def _write(pool: asyncpg.Pool[Any], store: EventStore, chunk: Chunk) -> None:
    if chunk.tracked or chunk.holdings[0] or chunk.serials.claims or chunk.serials.releases:
        async with store.transaction(w.stream_id for w in chunk.writes) as conn:
            recorded = await store.append(
                chunk.writes, chunk.deadlines, conn=conn, orders=chunk.orders
            )
            await _write_tracked(conn, chunk, recorded)
    else:
        await store.append(chunk.writes, chunk.deadlines, orders=chunk.orders)
    if chunk.snapshots:
        await pool.execute(
            _SNAPSHOTS, *(list(column) for column in zip(*chunk.snapshots, strict=True))
        )


async def _write_tracked(conn: Connection, chunk: Chunk, recorded: list[RecordedEvent]) -> None:
    """Tracked stock's rows beside the chunk's events, as the write path writes them."""
    positions = {e.event_id: e.position for e in recorded}
    await place_serials(conn, chunk.serials)
    await write_holdings(conn, *chunk.holdings)
    await write_tracked(conn, [(sku, unit, positions[e]) for e, sku, unit in chunk.tracked])


async def seed_database(
    pool: asyncpg.Pool[Any],
    plan: SeedPlan,
    progress: Callable[[int, int, float], None] | None = None,
) -> SeedResult:
    """Write the plan's events; `progress(day, events written, seconds)` after each chunk."""
    started = time.perf_counter()
    ledger = BulkLedger(plan.snapshot_every, plan.end)
    chunks = simulate(plan, ledger)
    store, written, sent = EventStore(pool), 0, (0, 0)  # sent: day and events being written
    writing: asyncio.Task[None] | None = None
    try:
        while True:
            # Deciding the next chunk (in a thread) overlaps Postgres writing the last one. A
            # chunk is only sent once the one before it committed: its expected versions say so.
            # (A child process would free the GIL, but pickling costs more than it saves here.)
            item = await asyncio.to_thread(next, chunks, None)
            if writing is not None:
                await writing
                written += sent[1]
                if progress:
                    progress(sent[0], written, time.perf_counter() - started)
            if item is None:
                break
            sent, chunk = (item[0], item[1].events), item[1]
            writing = asyncio.create_task(
                _write(pool, store, as_v1(chunk) if plan.schema_v1 else chunk)
            )
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)
    if written:
        await settle(pool)  # analysed, visibility map set: reports fast from the first run
    tallies = (ledger.counts, ledger.refused, ledger.streams, ledger.still_open())
    last = ledger.now if ledger.first else None
    return SeedResult(plan, *tallies, ledger.first, last, time.perf_counter() - started)


def run_seed(database_url: str, plan: SeedPlan, console: Console) -> SeedResult:
    """Seed with a progress bar (events/s), then print what was created."""
    progress = Progress(
        TextColumn("[bold]Mei's shop[/bold] day"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[events]:>10,} events  {task.fields[rate]:>7,.0f} events/s"),
        TimeElapsedColumn(),
        console=console,
    )

    async def main() -> SeedResult:
        pool = await create_pool(database_url, 4)
        try:
            with progress:
                task = progress.add_task("seed", total=plan.days, events=0, rate=0.0)

                def show(day: int, events: int, seconds: float) -> None:
                    rate = events / seconds if seconds else 0.0
                    progress.update(task, completed=min(day, plan.days), events=events, rate=rate)

                return await seed_database(pool, plan, show)
        finally:
            await pool.close()

    result = asyncio.run(main())
    print_summary(console, result)
    return result


def print_summary(console: Console, result: SeedResult) -> None:
    plan, total = result.plan, sum(result.events.values())
    table = Table(title=f"Mei's shop: {total:,} events", show_footer=False)
    table.add_column("event type")
    table.add_column("count", justify="right")
    for name, count in sorted(result.events.items()):
        table.add_row(name, f"{count:,}")
    console.print(table)
    streams = ", ".join(f"{n:,} {kind}" for kind, n in sorted(result.streams.items()))
    console.print(f"{plan.skus:,} SKUs x {plan.warehouses} warehouses; streams: {streams}")
    if result.first and result.last:
        console.print(
            f"recordedAt from {result.first:%Y-%m-%d %H:%M} to {result.last:%Y-%m-%d %H:%M} UTC"
        )
    open_now = ", ".join(f"{n:,} {what}" for what, n in sorted(result.still_open.items()))
    console.print(f"left open at the end: {open_now or 'nothing'}")
    refused = sum(result.refused.values())
    console.print(f"commands refused by the domain (like a 409 to a client): {refused:,}")
    rate = total / result.seconds if result.seconds else 0.0
    console.print(f"done in {result.seconds:,.1f} s ({rate:,.0f} events/s)")
    if plan.schema_v1:
        console.print(
            "written as schemaVersion 1 (no costs on the events): reads upcast them; run "
            "[bold]stockledger migrate[/bold] to derive their values for the valuation and COGS "
            "reports"
        )
