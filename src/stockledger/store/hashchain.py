"""The hash chain that makes the event store tamper-evident, defined so anyone can recompute it.

Every event stores `hash = SHA-256(previous || canonical(event))`, where `previous` is the
32-byte hash of the event one version earlier in the same stream, and, for version 1, 32 zero
bytes (`GENESIS`). Changing, removing, inserting or reordering any event of a stream changes
the hash of that event and of every later one, so a verifier finds the exact first break.

`canonical(event)` is the UTF-8 encoding of a JSON object with exactly these eight keys:

    eventId        the event's UUID, lowercase hex with hyphens ("0f8c...-...")
    type           the event type ("StockReserved")
    streamId       the stream ("stock:SKU-1:WH-A")
    version        the version in its stream (integer)
    recordedAt     UTC, always `YYYY-MM-DDTHH:MM:SS.ffffffZ` (six fraction digits, "Z"); the API
                   shows the same instant as RFC 3339 with an offset: convert, don't copy
    schemaVersion  integer
    data           the event's data object, as the API returns it
    metadata       the event's metadata object, as the API returns it

and nothing else (`position` is not covered: it is assigned inside the INSERT). The JSON is
written with object keys sorted by code point at every level, no whitespace at all (separators
"," and ":"), non-ASCII characters as themselves (not \\u escapes), and in strings only `"` and
`\\` escaped as `\\"` and `\\\\`, and control characters below U+0020 as `\\b \\t \\n \\f \\r` or
`\\u00xx` (lowercase hex). Numbers are integers written in plain decimal (the ledger stores no
floats: quantities are integers and money is a decimal string). In Python this is exactly
`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`.

The store computes the chain inside its one-statement append (see `event_store.py`): Python
sends `canonical(event)` for each new event and Postgres folds it onto the stored hash of the
stream's head with the `event_hash_chain` aggregate, `sha256(previous || body)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

GENESIS = bytes(32)  # the "previous hash" of every stream's version 1


def canonical_time(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC (a naive datetime is taken to be UTC)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def _no_floats(value: Any) -> None:
    kind = type(value)  # exact types: the hot path of every append (no ABC isinstance checks)
    if kind is dict:
        for item in value.values():
            if type(item) not in _SCALARS:
                _no_floats(item)
    elif kind is list or kind is tuple:
        for item in value:
            if type(item) not in _SCALARS:
                _no_floats(item)
    elif kind is float or isinstance(value, float):
        raise TypeError(f"the ledger stores no floats (found {value!r}); use an integer or string")
    elif isinstance(value, Mapping):
        _no_floats(dict(value))


_SCALARS = frozenset({str, int, bool, type(None)})


def canonical(
    *,
    event_id: UUID | str,
    type: str,
    stream_id: str,
    version: int,
    recorded_at: datetime,
    schema_version: int,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> bytes:
    """The bytes an event's hash covers (see the module docstring). TypeError if not JSON."""
    _no_floats(data)
    _no_floats(metadata)
    document = {
        "eventId": str(event_id),
        "type": type,
        "streamId": stream_id,
        "version": version,
        "recordedAt": canonical_time(recorded_at),
        "schemaVersion": schema_version,
        "data": data,
        "metadata": metadata,
    }
    # orjson with sorted keys writes exactly the bytes of json.dumps(document, sort_keys=True,
    # separators=(",", ":"), ensure_ascii=False).encode() for float-free JSON, about 20x faster
    # (tests/unit/test_canonical_json.py checks that equivalence on generated documents).
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def chain(previous: bytes, body: bytes) -> bytes:
    """One link: SHA-256 over the previous hash (32 bytes) followed by the canonical bytes."""
    return hashlib.sha256(previous + body).digest()
