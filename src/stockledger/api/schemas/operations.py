"""The operators' answers: readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .wire import Out


class ReadyOut(Out):
    status: Literal["ready", "degraded", "not-ready"] = Field(
        description="`not-ready` (503): Postgres unreachable or not migrated to head; "
        "`degraded` (200): serving, with a check that is not ok"
    )
    checks: dict[str, str] = Field(
        description="each check (postgres, migrations, redis, replica, kafka, outbox, relay, "
        "projector, projections) and `ok` or what is wrong"
    )
