"""Expiry worker: appends ReservationExpired for due reservations, and LotExpired for lots whose
date has come, through the one write path.

Due reservations come from `reservation_deadlines`, which the append transaction keeps in step
with the reservation stream (never a lagging projection). Racing a confirm or a ship, or another
worker, is safe: the expiry is decided against the reservation stream at its current version,
so exactly one terminal outcome lands and a second worker's attempt appends nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from ..domain.commands import ExpireLot, ExpireReservation
from ..domain.streams import parse_stock_stream
from ..metrics import EXPIRATIONS, EXPIRY_OVERDUE
from .ledger import Caller, Ledger, utcnow

log = structlog.get_logger()

SYSTEM = Caller(principal="system:expiry")
IDEMPOTENCY_RETENTION = timedelta(hours=48)  # the contract: keys are kept at least 24 h
OVERDUE_AFTER = timedelta(seconds=5)  # the contract: expired within 5 s of expiresAt


class ExpiryWorker:
    def __init__(
        self,
        ledger: Ledger,
        pool: asyncpg.Pool[Any],
        *,
        interval: float = 1.0,
        batch: int = 500,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.pool = pool
        self.interval = interval
        self.batch = batch
        self.clock = clock

    async def run_once(self) -> int:
        """Expire every reservation due now; returns how many this call expired."""
        due = await self.pool.fetch(
            "SELECT reservation_id FROM reservation_deadlines WHERE expires_at <= $1 "
            "ORDER BY expires_at LIMIT $2",
            self.clock(),
            self.batch,
        )
        results = await asyncio.gather(
            *(self.ledger.execute(ExpireReservation(r["reservation_id"]), SYSTEM) for r in due),
            return_exceptions=True,
        )
        expired = 0
        for row, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "expiry failed", reservation_id=row["reservation_id"], error=repr(result)
                )
            elif result.outcome is not None and result.outcome.events:
                expired += 1
        overdue: int = await self.pool.fetchval(
            "SELECT count(*) FROM reservation_deadlines WHERE expires_at <= $1",
            self.clock() - OVERDUE_AFTER,
        )
        EXPIRY_OVERDUE.set(overdue)
        if expired:
            EXPIRATIONS.inc(expired)
            log.info("reservations expired", count=expired)
        return expired

    async def expire_lots(self) -> int:
        """Expire every lot whose date (UTC) has come; returns how many lots this call tried.
        A lot received already expired is expired at the next round (within the interval)."""
        due = await self.pool.fetch(
            "SELECT stream_id, lot_id FROM lot_holdings WHERE expires_on <= $1 "
            "AND on_hand > reserved + quality_control ORDER BY expires_on LIMIT $2",
            self.clock().date(),
            self.batch,
        )
        commands = [ExpireLot(*parse_stock_stream(r["stream_id"]), r["lot_id"]) for r in due]
        results = await asyncio.gather(
            *(self.ledger.execute(x, SYSTEM) for x in commands), return_exceptions=True
        )
        for command, result in zip(commands, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("lot expiry failed", lot=command, error=repr(result))
        if due:
            log.info("lots expired", count=len(due))
        return len(due)

    async def forget_old_idempotency_keys(self) -> None:
        await self.ledger.store.forget_idempotency_before(self.clock() - IDEMPOTENCY_RETENTION)

    async def run(self) -> None:
        rounds = 0
        while True:
            try:
                while await self.run_once() == self.batch:
                    pass  # a backlog: keep going without waiting
                while await self.expire_lots() == self.batch:
                    pass
                if rounds % 3600 == 0:
                    await self.forget_old_idempotency_keys()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("expiry round failed", error=repr(error))
            rounds += 1
            await asyncio.sleep(self.interval)
