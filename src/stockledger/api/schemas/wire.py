"""The wire's building blocks: the field types every request and answer is made of (ids,
units, money, instants, free text), each stated in the document as the server checks it, and
the two bases: `Body` (a request: camelCase, unknown fields refused, so a client can never set
`causedBy`, a version or anything else the server decides) and `Out` (an answer)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from ...domain.streams import ID_PATTERN

MAX_QUANTITY = 1_000_000_000

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN), Field(examples=["SKU-1"])]


def _integral(value: object) -> object:
    """JSON Schema's integer is any number without a fraction: 170.0 is one (2020-12, 6.3)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Counts of units are integers as JSON Schema has them (170 or 170.0), never "170" nor true:
# `Annotated[int, Field(strict=True, <bounds>), WHOLE]` (after the bounds, so that the document
# keeps them as minimum/maximum).
WHOLE = BeforeValidator(_integral)
Quantity = Annotated[
    int, Field(strict=True, gt=0, le=MAX_QUANTITY, description="units, > 0"), WHOLE
]


# Money: a positive decimal of up to 12 digits before the point and 6 after (18 in all).
# As a string, plain notation only: `Decimal()` alone would also take "1e3", " 1", "1_000" or
# Arabic-Indic digits, none of which the document could state.
MONEY_TEXT = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
_MONEY_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")


def _plain_decimal(value: object) -> object:
    if isinstance(value, str) and not _MONEY_TEXT.fullmatch(value):
        raise ValueError("a decimal string: up to 12 digits, optionally a point and up to 6")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_plain_decimal),
    Field(gt=0, max_digits=18, decimal_places=6, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 10**12,
                    "multipleOf": 0.000001,
                },
                {"type": "string", "pattern": MONEY_TEXT, "not": {"pattern": "^[0.]*$"}},
            ],
            "description": "decimal string or number > 0, up to 12 digits before the point and "
            "6 after, stored exactly",
            "examples": ["2.50"],
        }
    ),
]


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("must not be 0")
    return value


# An adjustment changes something: the document says `not: {const: 0}`, the model refuses 0.
QuantityChange = Annotated[
    int,
    Field(
        strict=True,
        ge=-MAX_QUANTITY,
        le=MAX_QUANTITY,
        description="units, ≠ 0",
        json_schema_extra={"not": {"const": 0}},
    ),
    WHOLE,
    AfterValidator(_not_zero),
]

# A query instant: an RFC 3339 date-time, which has an offset (the `date-time` format), less
# what datetime cannot hold (year 0000, the leap second :60). pydantic alone would also take
# "0.5" (Unix seconds), "2026-11-01" or a time without offset.
RFC3339 = (
    r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-[0-9]{2}-[0-9]{2}"
    r"[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(RFC3339)


def _rfc3339(value: object) -> object:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("an RFC 3339 date-time with an offset, e.g. 2026-11-01T09:30:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC. 0001-01-01T00:00:00+14:00 is before year 1 in UTC and
    9999-12-31T23:59:59-14:00 after 9999: no event is that old or that new, so the nearest
    instant datetime holds answers the same."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


Instant = Annotated[
    datetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_in_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339}),
]
# A period boundary of reports and exports: an RFC 3339 instant, or a UTC date (its 00:00 UTC).
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATE = re.compile(DATE)


def _instant_or_date(value: object) -> object:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()
        except ValueError:
            raise ValueError(f"{value} is not a date") from None
    return _rfc3339(value)


Boundary = Annotated[
    datetime,
    BeforeValidator(_instant_or_date),
    AfterValidator(_in_utc),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {"format": "date-time", "pattern": RFC3339},
                {"format": "date", "pattern": DATE},
            ],
            "description": "an RFC 3339 instant, or a UTC date (2026-11-01 = its 00:00 UTC)",
        }
    ),
]
StreamVersion = Annotated[int, Field(ge=1, le=2**31 - 1)]
# Counts that may be 0 (a reorder point, a received quantity).
Units = Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY, description="units, >= 0"), WHOLE]

# Free text: no NUL (Postgres text and jsonb cannot hold U+0000, so it would never be stored).
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[^\x00]+$")]
# Correlation ids are ids, X-Correlation-Id values or UUIDs: visible ASCII.
CorrelationId = Annotated[
    str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$"), Field(examples=["ORDER-1001"])
]


class Body(BaseModel):
    """A request body."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True
    )


class Out(BaseModel):
    """An answer (documentation: the routes render their bodies with `present`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def _iso_date(value: object) -> object:
    """Only `YYYY-MM-DD` text is a date here (not a number of seconds, not an instant)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("a date is YYYY-MM-DD")
    return value


# A calendar date (an expiry date, a lot's minimum expiry): `YYYY-MM-DD`, nothing else.
IsoDate = Annotated[
    date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]
