"""The Postgres event store: atomic multi-stream appends with expected versions, and reads.

Global position and commit order
--------------------------------
An identity/sequence position is taken at INSERT but becomes visible at COMMIT, and transactions
commit out of order, so a reader tailing "position > last" could pass an event that commits late.
Our choice (docs/architecture.md), in one number: `position = (writer's xid8 << 16) + index of the
event in its transaction`. Positions sort exactly like (transaction id, index), and a tailing
reader only returns rows whose transaction is below the snapshot's xmin (the oldest transaction
still running). Every transaction below it has committed or aborted; every transaction that may
still commit has, or will get, an xid (hence positions) at or above it. So nothing is skipped
and the positions a reader sees only grow. The cost: one long-open writing transaction holds
tailing readers back (servers set idle_in_transaction_session_timeout). Stream reads need no
horizon: a stream's versions commit in order (UNIQUE(stream_id, version) + expected version).

Hash chain
----------
Each event's `hash` chains onto the previous event of its stream (definition: hashchain.py).
The append stays one round trip: Python sends each new event's canonical bytes, and the same
statement reads the stored hash at the expected version (the `heads` CTE, by the unique
(stream_id, version) index) and folds the new events onto it in SQL. The chain cannot fork:
two appends that read the same head both insert version expected+1, and UNIQUE(stream_id,
version) lets exactly one commit; the other fails as a ConcurrencyConflict like any stale append.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from ..domain.streams import like_prefix, stock_stream
from .hashchain import canonical
from .rows import (
    NO_DEADLINES,
    ORDER_LINES_SQL,
    VALUES_SQL,
    ConcurrencyConflict,
    Deadlines,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    NewEvent,
    OrderLineRow,
    RecordedEvent,
    StreamWrite,
    ValueRow,
    level_columns,
    order_line_columns,
    value_rows,
)

# A connection of the pool, inside `transaction()`.
Connection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

MAX_EVENTS_PER_TRANSACTION = 65_535  # the low 16 bits of a position

_APPEND = """
WITH heads AS (
    SELECT x.stream_id, x.expected, x.n,
           COALESCE((SELECT max(e.version) FROM events e WHERE e.stream_id = x.stream_id), 0)
             AS actual,
           -- the hash the stream's next event chains from (32 zero bytes before version 1)
           CASE WHEN x.expected = 0 THEN decode(repeat('00', 32), 'hex')
                ELSE (SELECT e.hash FROM events e
                      WHERE e.stream_id = x.stream_id AND e.version = x.expected) END AS previous
    FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS x(stream_id, expected, n)
), allowed AS (
    SELECT NOT EXISTS (SELECT 1 FROM heads WHERE actual <> expected) AS ok
), inserted AS (
    INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data,
                        metadata, recorded_at, correlation_id, order_id,
                        d_on_hand, d_reserved, d_in_transit, d_damaged, d_incoming,
                        d_quality_control, d_expired, hash)
    SELECT (pg_current_xact_id()::text::bigint << 16) + r.ord, r.event_id, r.stream_id,
           r.version, r.type, r.schema_version, r.data::jsonb, r.metadata::jsonb, r.recorded_at,
           r.correlation_id, r.order_id, r.d1, r.d2, r.d3, r.d4, r.d5, r.d6, r.d7,
           -- hash chain (store/hashchain.py): sha256(previous || canonical bytes), folded
           -- over the stream's new events in version order from the stored head's hash
           event_hash_chain(h.previous, r.body) OVER (PARTITION BY r.stream_id ORDER BY r.version)
    FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::int2[], $8::text[],
                $9::text[], $10::timestamptz[], $11::text[], $12::text[],
                $13::int[], $14::int[], $15::int[], $16::int[], $21::int[], $22::int[],
                $23::int[], $20::bytea[])
         WITH ORDINALITY AS r(event_id, stream_id, version, type, schema_version, data, metadata,
                              recorded_at, correlation_id, order_id, d1, d2, d3, d4, d5, d6, d7,
                              body,
                              ord)
    JOIN heads h ON h.stream_id = r.stream_id
    WHERE (SELECT ok FROM allowed)
    RETURNING position, stream_id, version, hash
), outboxed AS (
    INSERT INTO outbox (position, stream_id, version)
    SELECT position, stream_id, version FROM inserted
), deadlines_set AS (
    INSERT INTO reservation_deadlines (reservation_id, expires_at)
    SELECT * FROM unnest($17::text[], $18::timestamptz[]) WHERE (SELECT ok FROM allowed)
    ON CONFLICT (reservation_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
), deadlines_cleared AS (
    DELETE FROM reservation_deadlines
    WHERE reservation_id = ANY($19::text[]) AND (SELECT ok FROM allowed)
)
SELECT h.stream_id, h.expected, h.actual, (SELECT min(position) - 1 FROM inserted) AS base,
       CASE WHEN h.n = 1 THEN (SELECT array_agg(hash ORDER BY position) FROM inserted) END
         AS hashes,
       pg_notify('stockledger_outbox', '') AS woke_relay  -- sent at COMMIT, once per transaction
FROM heads h ORDER BY h.n
"""

_COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at,"
    " hash"
)


# Every writing transaction starts here. The append is one big statement whose plan does not
# depend on its arrays; left to itself Postgres re-plans it at every execution (~3 ms, half of a
# one-event append on 4 writers: bench P9), hence the generic plan. Then it takes a transaction-
# scoped advisory lock on every stream it may write, in the order of the lock keys, so that two
# writers never wait on each other in a cycle. Every append holds these locks, so a writer that
# read its streams *after* locking them cannot meet a conflict (write/batch_writer.py). A
# stream it only reads (an item: is it active?) is locked shared: readers do not wait on each
# other, only on a writer of that stream.
_BEGIN = """
SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
       (SELECT count(CASE WHEN exclusive THEN pg_advisory_xact_lock(k)
                          ELSE pg_advisory_xact_lock_shared(k) END)
        FROM (SELECT hashtextextended(s, 0) AS k, bool_or(NOT (s = ANY($2::text[]))) AS exclusive
              FROM unnest($1::text[]) s GROUP BY 1 ORDER BY 1) keys)
"""

_SAVE_KEYS = """
INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::jsonb[])
ON CONFLICT DO NOTHING
RETURNING principal, key
"""


def _row(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(*row.values())


class EventStore:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(
        self, streams: Iterable[str], read_only: Iterable[str] = ()
    ) -> AsyncIterator[Connection]:
        """One writing transaction holding the advisory lock of each of `streams` to COMMIT:
        shared for those in `read_only` (only read, e.g. version-checked), else exclusive."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_BEGIN, list(streams), list(read_only))
            yield conn

    async def append(
        self,
        writes: Sequence[StreamWrite],
        deadlines: Deadlines = NO_DEADLINES,
        *,
        conn: Connection | None = None,
        orders: Sequence[OrderLineRow] = (),
    ) -> list[RecordedEvent]:
        """Append to every stream in ONE transaction, each at its expected version, or nothing;
        the due-reservation rows `deadlines` go in the same statement, the purchase order lines
        `orders` in the same transaction.

        Raises ConcurrencyConflict; nothing is then written. With `conn`, the append runs in
        that open `transaction()` (which must hold the locks of every stream written, and may
        go on to write more, e.g. idempotency records); without, in one of its own.
        """
        if conn is None:
            checked = [w.stream_id for w in writes if not w.events]
            async with self.transaction((w.stream_id for w in writes), checked) as own:
                return await self.append(writes, deadlines, conn=own, orders=orders)
        flat = [
            (w.stream_id, w.expected_version + i + 1, e)
            for w in writes
            for i, e in enumerate(w.events)
        ]
        if len(flat) > MAX_EVENTS_PER_TRANSACTION:
            raise ValueError(f"at most {MAX_EVENTS_PER_TRANSACTION} events per transaction")
        if len({w.stream_id for w in writes}) != len(writes):
            raise ValueError("one StreamWrite per stream and append")
        args = _append_args(writes, flat, deadlines)
        try:  # the error aborts the whole transaction: the caller's `async with` rolls it back
            heads = await conn.fetch(_APPEND, *args)
        except asyncpg.UniqueViolationError as error:
            raise await self._conflict(error, writes) from error
        for head in heads:
            if head["actual"] != head["expected"]:
                raise ConcurrencyConflict(head["stream_id"], head["expected"], head["actual"])
        base: int = heads[0]["base"]
        hashes: list[bytes] = heads[0]["hashes"]
        valued = [
            ValueRow(base + i + 1, s, e.recorded_at, e.delta, e.move)
            for i, (s, _, e) in enumerate(flat)
            if e.move is not None and e.stock_values_row
        ]
        if valued:
            await conn.execute(VALUES_SQL, *value_rows(valued))
        if orders:
            await conn.execute(ORDER_LINES_SQL, *order_line_columns(orders))
        return [
            RecordedEvent(
                base + i + 1,
                e.event_id,
                stream_id,
                version,
                e.type,
                e.schema_version,
                e.data,
                e.metadata,
                e.recorded_at,
                hashes[i],
            )
            for i, (stream_id, version, e) in enumerate(flat)
        ]

    async def _conflict(
        self, error: asyncpg.UniqueViolationError, writes: Sequence[StreamWrite]
    ) -> ConcurrencyConflict:
        """Translate the driver's unique violation, naming the stream and its actual version."""
        detail = str(getattr(error, "detail", "") or "")
        for write in writes:
            if f"={write.stream_id}," in detail.replace("(", "=").replace(" ", ""):
                actual = await self.pool.fetchval(
                    "SELECT max(version) FROM events WHERE stream_id = $1", write.stream_id
                )
                return ConcurrencyConflict(write.stream_id, write.expected_version, actual)
        first = writes[0]
        return ConcurrencyConflict(first.stream_id, first.expected_version, None)

    @staticmethod
    async def save_idempotency(conn: Connection, records: Sequence[IdempotencyRecord]) -> None:
        """Store every record in one statement, inside the caller's transaction.

        A key another transaction holds makes this one wait for it (the unique index), then
        skip it: every key found taken is raised at once, so the caller drops all of those
        requests together and the transaction (events included) rolls back."""
        if not records:
            return
        saved = await conn.fetch(
            _SAVE_KEYS,
            [r.principal for r in records],
            [r.key for r in records],
            [r.request_hash for r in records],
            [r.status_code for r in records],
            [r.response for r in records],
        )
        taken = {(r.principal, r.key) for r in records} - {(p, k) for p, k in saved}
        if taken:
            raise IdempotencyKeyTaken(frozenset(taken))

    async def find_idempotency(self, principal: str, key: str) -> IdempotencyRecord | None:
        row = await self.pool.fetchrow(
            "SELECT principal, key, request_hash, status_code, response FROM idempotency_keys "
            "WHERE principal = $1 AND key = $2",
            principal,
            key,
        )
        return None if row is None else IdempotencyRecord(*row.values())

    async def recorded_keys(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (principal, key) pairs have a record, in one statement."""
        if not keys:
            return set()
        rows = await self.pool.fetch(
            "SELECT i.principal, i.key FROM idempotency_keys i"
            " JOIN unnest($1::text[], $2::text[]) AS k(principal, key)"
            " ON i.principal = k.principal AND i.key = k.key",
            [p for p, _ in keys],
            [k for _, k in keys],
        )
        return {(row[0], row[1]) for row in rows}

    async def forget_idempotency_before(self, cutoff: datetime) -> int:
        result: str = await self.pool.execute(
            "DELETE FROM idempotency_keys WHERE created_at < $1", cutoff
        )
        return int(result.split()[-1])

    # -- facts a decision needs beyond its streams (read in the deciding transaction) ---------

    @staticmethod
    async def has_stock(conn: Connection, sku: str) -> bool:
        """Whether any stock stream of `sku` has events."""
        found: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id LIKE $1)",
            like_prefix(stock_stream(sku, "")),
        )
        return found

    @staticmethod
    async def kits_using(conn: Connection, sku: str) -> list[str]:
        """The kit streams whose current definition names `sku` among its components."""
        rows = await conn.fetch(
            "SELECT stream_id FROM (SELECT DISTINCT ON (stream_id) stream_id, data FROM events"
            " WHERE stream_id LIKE 'kit:%' ORDER BY stream_id, version DESC) k"
            " WHERE k.data->'components' @> jsonb_build_array(jsonb_build_object('sku', $1::text))",
            sku,
        )
        return [r["stream_id"] for r in rows]

    @staticmethod
    async def holding(conn: Connection, warehouse_id: str, limit: int = 100) -> list[str]:
        """The stock streams of a warehouse with any bucket other than 0 (up to `limit`).

        Sums the per-event deltas of every stock event (no index leads by warehouse: it would
        cost every append): about a second on a 2,000,000-event ledger, for a rare command."""
        rows = await conn.fetch(
            "SELECT stream_id FROM events WHERE stream_id LIKE 'stock:%' "
            "AND split_part(stream_id, ':', 3) = $1 GROUP BY stream_id "
            "HAVING sum(d_on_hand) <> 0 OR sum(d_reserved) <> 0 OR sum(d_in_transit) <> 0 "
            "OR sum(d_damaged) <> 0 OR sum(d_incoming) <> 0 OR sum(d_expired) <> 0 "
            "ORDER BY stream_id LIMIT $2",
            warehouse_id,
            limit,
        )
        return [r["stream_id"] for r in rows]

    # -- reads -------------------------------------------------------------------------------

    async def read_stream(
        self,
        stream_id: str,
        after_version: int = 0,
        *,
        to_version: int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 "
            "AND ($3::int IS NULL OR version <= $3) "
            "AND ($4::timestamptz IS NULL OR recorded_at <= $4) ORDER BY version LIMIT $5",
            stream_id,
            after_version,
            to_version,
            until,
            limit,
        )
        return [_row(r) for r in rows]

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, *, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        """The global feed in position order, gap-safe (see the module docstring); with `conn`,
        read in that connection's transaction (the webhook matcher's)."""
        rows = await (conn or self.pool).fetch(
            f"SELECT {_COLUMNS} FROM events WHERE position > $1 AND position < "
            "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16) "
            "ORDER BY position LIMIT $2",
            after_position,
            limit,
        )
        return [_row(r) for r in rows]

    async def read_correlation(
        self, correlation_id: str, after_position: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE correlation_id = $1 AND position > $2 "
            "ORDER BY position LIMIT $3",
            correlation_id,
            after_position,
            limit,
        )
        return [_row(r) for r in rows]

    async def read_order(
        self, order_id: str, after_position: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE order_id = $1 AND position > $2 "
            "ORDER BY position LIMIT $3",
            order_id,
            after_position,
            limit,
        )
        return [_row(r) for r in rows]

    async def find(
        self, stream_id: str, type_name: str, match: dict[str, Any]
    ) -> list[RecordedEvent]:
        """Events of one type on a stream whose data contains `match` (answers to retries)."""
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND type = $2 AND data @> $3 "
            "ORDER BY version",
            stream_id,
            type_name,
            match,
        )
        return [_row(r) for r in rows]


def _append_args(
    writes: Sequence[StreamWrite], flat: list[tuple[str, int, NewEvent]], deadlines: Deadlines
) -> list[Any]:
    from orjson import dumps

    events = [e for _, _, e in flat]
    levels = level_columns([e.delta for e in events])
    return [
        [w.stream_id for w in writes],
        [w.expected_version for w in writes],
        [e.event_id for e in events],
        [s for s, _, _ in flat],
        [v for _, v, _ in flat],
        [e.type for e in events],
        [e.schema_version for e in events],
        [dumps(e.data).decode() for e in events],
        [dumps(e.metadata).decode() for e in events],
        [e.recorded_at for e in events],
        [e.correlation_id for e in events],
        [e.order_id for e in events],
        *levels[:4],
        list(deadlines.due),
        list(deadlines.due.values()),
        list(deadlines.ended),
        [
            canonical(
                event_id=e.event_id,
                type=e.type,
                stream_id=stream_id,
                version=version,
                recorded_at=e.recorded_at,
                schema_version=e.schema_version,
                data=e.data,
                metadata=e.metadata,
            )
            for stream_id, version, e in flat
        ],
        *levels[4:],
    ]
