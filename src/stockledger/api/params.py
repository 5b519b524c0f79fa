"""Query parameters shared by the list routes, stated once so every page reads the same."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=1000, description="page size, max 1000")]
PairAfter = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="the `next` of the previous page (`sku:warehouseId`)",
    ),
]
ReplicaConsistency = Annotated[
    Literal["eventual", "strong"],
    Query(
        description="`strong` reads the primary; by default a read replica answers when there "
        "is one (STOCKLEDGER_READ_DATABASE_URL), showing what it has replayed"
    ),
]
