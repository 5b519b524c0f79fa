"""The error answers: RFC 9457 problem details (application/problem+json), one schema with the
extension members the server adds, documented per route by `problem_answers`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...domain.catalog.events import Tracking, ValuationMethod
from .wire import Out

PROBLEM_JSON = "application/problem+json"


class ShortLineOut(Out):
    """A line there is not enough available stock for (409 insufficient-stock)."""

    sku: str
    warehouse_id: str
    requested: int
    available: int


class FieldErrorOut(Out):
    """One reason the request's shape was refused (422 validation-error)."""

    location: str = Field(description="where, dotted: `body.lines.0.quantity`, `query.limit`")
    message: str


class ProblemOut(Out):
    """Every error answer: `type`, `title`, `status`, `detail`, `instance`, and the extension
    members of its type (absent when they do not apply)."""

    type: str = Field(description="`/problems/<slug>`", pattern="^/problems/[a-z-]+$")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="the request's path")
    lines: list[ShortLineOut] | None = Field(
        default=None, description="insufficient-stock: the short lines"
    )
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="validation-error of the request's shape: every error"
    )
    reservation_status: str | None = Field(
        default=None, description="reservation-not-active: the reservation's status"
    )
    stream_id: str | None = Field(default=None, description="version-conflict: the stream")
    current_version: int | None = Field(
        default=None, description="version-conflict (412): the stream's version now"
    )
    sku: str | None = Field(default=None, description="item-inactive, unknown-item")
    warehouse_id: str | None = Field(
        default=None, description="warehouse-inactive, warehouse-not-empty, unknown-warehouse"
    )
    streams: list[str] | None = Field(
        default=None, description="warehouse-not-empty: the stock streams still holding units"
    )
    valuation_method: ValuationMethod | None = Field(
        default=None, description="valuation-method-locked: the method in force"
    )
    tracking: Tracking | None = Field(
        default=None, description="tracking-locked: the tracking in force"
    )
    lot_id: str | None = Field(
        default=None, description="lot-expiry-mismatch, not-shipped-on-order: the lot"
    )
    expires_on: str | None = Field(
        default=None, description="lot-expiry-mismatch: the date the lot is held with"
    )
    shipped: int | None = Field(
        default=None,
        description="not-shipped-on-order: units of the lot shipped on the order, net of returns",
    )
    serial: str | None = Field(
        default=None,
        description="serial-in-stock, serial-not-in-stock, not-shipped-on-order: the serial",
    )
    serial_status: str | None = Field(
        default=None,
        description="serial-in-stock: in_stock or in_transit, in the warehouse named",
    )
    committed_position: int | None = Field(
        default=None, description="an asOfPosition beyond it: what has committed"
    )


PROBLEM_SCHEMA: dict[str, Any] = {"$ref": "#/components/schemas/ProblemOut"}


def problem_answers(
    *answers: tuple[int, str], headers: dict[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem+json answers, each (status, when it happens), with the
    response `headers` they may carry."""
    return {
        code: {
            "description": text,
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
            **({"headers": headers} if headers else {}),
        }
        for code, text in answers
    }


def read_errors(
    forbidden: str = "role not allowed", invalid: str = "invalid parameters"
) -> dict[int | str, dict[str, Any]]:
    """The answers every read route can give: no key, a role not allowed (`forbidden`), what was
    asked wrong (`invalid`), no database."""
    return problem_answers(
        (401, "no or unknown API key"),
        (403, forbidden),
        (422, invalid),
        (503, "database unreachable"),
    )


READ_ERRORS = read_errors()


def problem_components() -> dict[str, Any]:
    """ProblemOut and the models it holds, as `components.schemas` entries (the answers above
    refer to them; FastAPI registers only the models of `model` answers, under JSON)."""
    schema = ProblemOut.model_json_schema(
        by_alias=True, mode="serialization", ref_template="#/components/schemas/{model}"
    )
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {**defs, "ProblemOut": schema}
