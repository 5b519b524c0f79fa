"""Report rows as CSV, and the opaque cursors of report pages.

A report row is a dict of wire fields (camelCase) whose values are numbers, strings, None or
nested dicts of those (`opening: {onHand, ...}`). CSV flattens the nesting with a dot
(`opening.onHand`), in the order of the row's fields: the same columns as the JSON, the same
values, one line per row after a header row.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

Row = Mapping[str, Any]


def flatten(row: Row, prefix: str = "") -> dict[str, Any]:
    """`{"opening": {"onHand": 3}}` -> `{"opening.onHand": 3}` (any depth)."""
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def columns_of(example: Row) -> tuple[str, ...]:
    """The CSV header of rows shaped like `example`."""
    return tuple(flatten(example))


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: True is an int
        return "true" if value else "false"
    return value


def csv_bytes(rows: Iterable[Row], columns: Iterable[str], *, header: bool = True) -> bytes:
    """The rows as CSV (UTF-8, `\\r\\n` line ends as RFC 4180), the header row first unless
    `header=False` (a later chunk of the same file). A missing field is an empty cell."""
    names = tuple(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(names)
    for row in rows:
        flat = flatten(row)
        writer.writerow([_cell(flat.get(name)) for name in names])
    return buffer.getvalue().encode()


# -- cursors -----------------------------------------------------------------------------------


class CursorError(ValueError):
    """A cursor this server did not hand out (or one for another report)."""


def encode_cursor(kind: str, *parts: str | int) -> str:
    """An opaque `next`: the report's kind and where the page ended, base64url of JSON."""
    return base64.urlsafe_b64encode(orjson.dumps([kind, *parts])).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """The parts `encode_cursor(kind, ...)` packed, checked against their types."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found = orjson.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise CursorError(f"{cursor!r} is not a cursor of this report") from error
    if (
        not isinstance(found, list)
        or len(found) != len(shape) + 1
        or found[0] != kind
        or not all(
            isinstance(part, kind_) and not isinstance(part, bool)
            for part, kind_ in zip(found[1:], shape, strict=True)
        )
    ):
        raise CursorError(f"{cursor!r} is not a cursor of this report")
    return found[1:]


def cursor_instant(text: str) -> datetime:
    """An instant a cursor carries (RFC 3339 with its offset); CursorError for anything else,
    a naive time included (it could not be compared with the request's)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CursorError(f"{text!r} is not an instant of a cursor") from None
    if moment.tzinfo is None:
        raise CursorError(f"{text!r} has no offset")
    return moment
