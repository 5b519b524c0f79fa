"""The auditors' answers: the integrity report, the signed checkpoints, an export's manifest."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .wire import Out


class BreakOut(Out):
    kind: Literal["hash-mismatch", "missing-version", "checkpoint-mismatch", "checkpoint-signature"]
    stream_id: str | None = Field(description="the broken stream (chain breaks)")
    version: int | None = Field(description="the first version of that stream that fails")
    checkpoint_id: int | None = Field(description="the failing checkpoint (checkpoint breaks)")
    detail: str


class AuditReportOut(Out):
    ok: bool = Field(description="true when every chain and every checkpoint verified")
    events_checked: int
    streams_checked: int
    checkpoints_checked: int
    break_count: int
    breaks: list[BreakOut] = Field(description="the first break of each broken stream (≤ 100)")


class CheckpointOut(Out):
    id: int
    position: int = Field(description="covers every event with position ≤ this, and no other")
    event_count: int
    stream_count: int
    digest: str = Field(description="hex sha256 over the sorted streamId:version:hash lines")
    created_at: datetime
    signature: str = Field(description="hex HMAC-SHA256 with the audit key")


class CheckpointsOut(Out):
    checkpoints: list[CheckpointOut]
    next: str | None = Field(description="pass as `after` for the next page; null at the end")


class ExportManifestOut(Out):
    count: int = Field(description="events in the export")
    first_position: int | None = Field(description="null when nothing matched")
    last_position: int | None
    sha256: str = Field(description="hex SHA-256 of the exact bytes of the export")
    as_of_position: int = Field(description="the export holds matching events up to this")
    created_at: datetime
    signature: str | None = Field(
        description="hex HMAC-SHA256 with the audit key over `stockledger-export:<asOfPosition>:"
        "<count>:<firstPosition>:<lastPosition>:<sha256>:<createdAt UTC>` (null: no key set)"
    )
