"""Catching the read models up from the event store when the topic lost messages.

A broker that loses its log (restarted empty, a topic deleted) takes with it what the relay
had published and the projectors had not consumed yet: those events are in the store, not in
the outbox, and on no topic. The projector's own gap filling repairs a stream when its next
event arrives; this repairs the others at once. It hands the projection the newest event of
every stream written since `since`: a stream already at that version ignores it, one behind
reads what it misses from the store (projections/postgres.py `_todo`), so nothing is applied
twice or skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from ..store.rows import RecordedEvent
from .postgres import PROJECTED_KINDS

_NEWEST = """
SELECT DISTINCT ON (stream_id)
       position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at
FROM events
WHERE recorded_at >= $1 AND split_part(stream_id, ':', 1) = ANY($2::text[])
ORDER BY stream_id, version DESC
"""
CHUNK = 2000  # streams per projection batch


async def catch_up(
    pool: asyncpg.Pool[Any],
    since: datetime,
    apply: Callable[[list[RecordedEvent]], Awaitable[None]],
) -> int:
    """Offer `apply` the newest event of each projected stream recorded since `since`;
    returns how many streams were offered."""
    rows = await pool.fetch(_NEWEST, since, sorted(PROJECTED_KINDS))
    events = [RecordedEvent(*r.values()) for r in rows]
    for start in range(0, len(events), CHUNK):
        await apply(events[start : start + CHUNK])
    return len(events)
