"""The lot queries' answers."""

from __future__ import annotations

from datetime import date, datetime

from .wire import Out


class LotOut(Out):
    lot_id: str
    expires_on: date | None
    on_hand: int
    reserved: int
    available: int
    expired: int
    first_received_at: datetime


class StreamLotsOut(Out):
    sku: str
    warehouse_id: str
    lots: list[LotOut]
