"""The response headers the routes send, described once (OpenAPI `headers` of a response)."""

from __future__ import annotations

from typing import Any


def header(description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


VERSION_TAG = r'^"[0-9]+"$'

_CORRELATION = (
    "the correlationId of the command's events: X-Correlation-Id as sent, else the command's "
    "order, purchase order, transfer or return id, else a new UUID"
)
CORRELATION_ID = header(_CORRELATION, {"type": "string"}, required=True)
IDEMPOTENT_REPLAYED = header(
    "`true` when this is an earlier execution's answer and nothing was appended: a retry with "
    "the same Idempotency-Key and body (the original status and body, a recorded refusal "
    "included), or a command whose id (receiptId, shipmentId, returnId, transferId, ...) the "
    "ledger already recorded; absent otherwise",
    {"type": "string", "enum": ["true"]},
)
ETAG = header(
    '`"<version>"`: the stream\'s version, for If-Match',
    {"type": "string", "pattern": VERSION_TAG},
    required=True,
)
PROJECTION_VERSION = header(
    "the stream version the answer reflects", {"type": "integer", "minimum": 1}, required=True
)
STOCK_SOURCE = header(
    "where the answer was read: `redis` or `postgres` (the projections) or `event-store`",
    {"type": "string", "enum": ["redis", "postgres", "event-store"]},
    required=True,
)
RESERVATION_SOURCE = header(
    "where the answer was read: `postgres` (the projection) or `event-store`",
    {"type": "string", "enum": ["postgres", "event-store"]},
    required=True,
)
PROJECTED_AT = header(
    "when a projection last wrote what was read (absent when read from the event store)",
    {"type": "string", "format": "date-time"},
)
AS_OF_POSITION = header(
    "the global position the figures include: pass it as `asOfPosition` for the same figures",
    {"type": "integer", "minimum": 0},
    required=True,
)
REPLICA_AS_OF = header(
    "when a read replica answered: its commit horizon, the highest position the answer may "
    "include (absent when the primary answered: everything committed)",
    {"type": "integer", "minimum": 0},
)
REPLICA: dict[int | str, dict[str, Any]] = {200: {"headers": {"X-As-Of-Position": REPLICA_AS_OF}}}
NEXT_CURSOR = header(
    "CSV only: the `after` of the next page, when there is one", {"type": "string"}
)
LOCATION = header("the reservation: `/v1/reservations/{reservationId}`", {"type": "string"})

# A listing's: where it was read, and when a projection wrote it.
LISTED: dict[int | str, dict[str, Any]] = {
    200: {"headers": {"X-Stock-Source": STOCK_SOURCE, "X-Projected-At": PROJECTED_AT}}
}

# The headers of a command's answer, and of its refusal: a refusal recorded under an
# Idempotency-Key is answered like a success; one without a key carries neither.
COMMAND = {"X-Correlation-Id": CORRELATION_ID, "Idempotent-Replayed": IDEMPOTENT_REPLAYED}
REFUSAL = {
    "X-Correlation-Id": header(
        f"when the refusal was recorded under an Idempotency-Key: {_CORRELATION}",
        {"type": "string"},
    ),
    "Idempotent-Replayed": IDEMPOTENT_REPLAYED,
}

# With STOCKLEDGER_RATE_LIMITS, on every answer to a limited principal (IETF httpapi draft).
RATE_LIMIT = {
    "RateLimit-Limit": header(
        "with rate limits: requests the principal may send at once (the burst)",
        {"type": "integer", "minimum": 1},
    ),
    "RateLimit-Remaining": header(
        "with rate limits: requests that would pass now", {"type": "integer", "minimum": 0}
    ),
    "RateLimit-Reset": header(
        "with rate limits: seconds until the budget is full again",
        {"type": "integer", "minimum": 0},
    ),
}
RETRY_AFTER = header("seconds to wait before the next request", {"type": "integer", "minimum": 1})
