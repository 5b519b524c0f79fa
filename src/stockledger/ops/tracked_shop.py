"""Mei's tracked stock: fresh food in lots with expiry dates, and electronics by serial number.

Three perishables arrive in lots every few days with a ten-day shelf life, sell first-expired-
first-out, come back now and then, expire (the expiry worker's `LotExpired` on each lot's date,
then a write-off) — so the seed ends with lots long expired, lots expiring this week and fresh
ones. Two serial-tracked devices are received, shipped, returned and moved one serial at a
time. The simulation has its own random stream and ids, so the rest of the shop is the same
with or without it.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from ..domain import commands as c
from ..domain.stock.commands import SerialLine
from ..domain.stock.events import Line

if TYPE_CHECKING:
    from .demo_shop import MeisShop

ORDERS, WAREHOUSE, EXPIRY = "seed:orders", "seed:warehouse", "seed:expiry"
FRESH = ("Greek yoghurt 500 g", "Fresh milk 1 l", "Salad mix 200 g")
DEVICES = ("Phone X 128 GB", "Tablet 10 in")
SHELF_LIFE_DAYS = 10
LOT_EVERY_DAYS = 4
HOUR = 3600.0


class TrackedShop:
    def __init__(self, shop: MeisShop) -> None:
        self.shop, self.ledger = shop, shop.ledger
        prefix = shop.plan.prefix
        self.rng = random.Random(shop.plan.random_seed + 1)
        self.fresh = [f"{prefix}FRESH-{n:03d}" for n in range(1, len(FRESH) + 1)]
        self.devices = [f"{prefix}DEVICE-{n:03d}" for n in range(1, len(DEVICES) + 1)]
        self.warehouses = shop.warehouses[:2]
        self.ids = itertools.count(1)
        self.order = itertools.count(-1, -1)  # queue tiebreak of its own: the shop's ids stay
        self.in_stock: dict[tuple[str, str], list[str]] = {}
        self.shipped: list[tuple[str, str, str, str]] = []  # (order, sku, warehouse, serial)

    def _id(self, kind: str) -> str:
        return f"{self.shop.plan.prefix}{kind}-T{next(self.ids):06d}"

    def _at(self, at: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self.shop._queue, (at, next(self.order), action))

    def _run(self, command: c.Command, principal: str) -> bool:
        return self.ledger.execute(command, principal) is not None

    def _later(self, at: datetime, command: c.Command, principal: str) -> None:
        def run() -> None:
            self._run(command, principal)

        self._at(at, run)

    def start(self, at: datetime) -> None:
        self.ledger.now = at
        for sku, name in zip(self.fresh, FRESH, strict=True):
            self._run(c.DefineItem(sku, name, "perishable", tracking="lot"), WAREHOUSE)
        for sku, name in zip(self.devices, DEVICES, strict=True):
            self._run(c.DefineItem(sku, name, "serial-tracked", tracking="serial"), WAREHOUSE)
        days = (self.shop.plan.end - self.shop.start).days + 1
        for day in range(0, days, LOT_EVERY_DAYS):
            for i, sku in enumerate(self.fresh):
                for wh in self.warehouses:
                    arrival = self._day(day) + timedelta(hours=6 + i)
                    self._at(arrival, self._lot_at(sku, wh, day))
        for day in range(days):
            for _ in range(3):
                when = self._day(day) + timedelta(seconds=self.rng.uniform(8, 20) * HOUR)
                self._at(when, self._sell_fresh)
            if day % 3 == 0:
                self._at(self._day(day) + timedelta(hours=12), self._sell_device)
        for sku in self.devices:
            for wh in self.warehouses:
                self._at(self._day(0) + timedelta(hours=7), self._devices_at(sku, wh))

    def _lot_at(self, sku: str, wh: str, day: int) -> Callable[[], None]:
        return lambda: self._lot(sku, wh, day)

    def _devices_at(self, sku: str, wh: str) -> Callable[[], None]:
        return lambda: self._devices(sku, wh)

    def _day(self, n: int) -> datetime:
        return self.shop.start + timedelta(days=n)

    # -- lots --------------------------------------------------------------------------------

    def _lot(self, sku: str, wh: str, day: int) -> None:
        received = self._day(day).date()
        expires = received + timedelta(days=SHELF_LIFE_DAYS)
        lot = f"L{received:%y%m%d}-{sku[-1]}"
        quantity = self.rng.randint(20, 40)
        cost = Decimal(self.rng.randint(60, 180)) / 100
        receipt = c.ReceiveStock(
            sku,
            wh,
            quantity,
            self._id("PO"),
            cost,
            "Valley Farms",
            self._id("RCT"),
            lot_id=lot,
            expires_on=expires,
        )
        if not self._run(receipt, WAREHOUSE):
            return
        due = datetime.combine(expires, time(0, 0, 20), tzinfo=self.shop.start.tzinfo)
        if due < self.shop.plan.end:  # the expiry worker, within a minute of the date
            self._at(due, lambda: self._expire(sku, wh, lot))

    def _expire(self, sku: str, wh: str, lot: str) -> None:
        if not self._run(c.ExpireLot(sku, wh, lot), EXPIRY):
            return
        book = self.ledger.stock(sku, wh).lots
        held = book.lot(lot) if book else None
        if held is not None and held.expired and self.rng.random() < 0.7:  # binned next morning
            off = c.AdjustStock(sku, wh, -held.expired, "expiry", "past use-by", None, None, lot)
            self._later(self.ledger.now + timedelta(hours=9), off, WAREHOUSE)

    def _sell_fresh(self) -> None:
        sku, wh = self.rng.choice(self.fresh), self.rng.choice(self.warehouses)
        if self.ledger.stock(sku, wh).levels.available < 3:
            return
        order, rid = self._id("ORD"), self._id("RES")
        lines = (Line(sku, wh, self.rng.randint(1, 3)),)
        expires = self.ledger.now + timedelta(minutes=15)
        if not self._run(c.ReserveStock(rid, order, lines, expires), ORDERS):
            return
        self._run(c.ConfirmReservation(rid), ORDERS)
        when = self.ledger.now + timedelta(hours=self.rng.uniform(1, 4))
        self._at(when, lambda: self._ship_fresh(rid, order, sku, wh))

    def _ship_fresh(self, rid: str, order: str, sku: str, wh: str) -> None:
        held = self.ledger.stock(sku, wh).lots
        hold = held.hold(rid) if held else None
        if not self._run(c.ShipStock(self._id("SHP"), order, rid), ORDERS) or hold is None:
            return
        if self.rng.random() < 0.08:  # a customer brings one back
            lot = hold.lots[0].lot_id
            back = c.ReturnStock(
                self._id("RET"), order, sku, wh, 1, "customer_changed_mind", "dispose", lot
            )
            self._later(self.ledger.now + timedelta(days=1), back, WAREHOUSE)

    # -- serials -----------------------------------------------------------------------------

    def _devices(self, sku: str, wh: str) -> None:
        serials = [f"SN{sku[-1]}{wh[-1]}{n:05d}" for n in range(1, 13)]
        receipt = c.ReceiveStock(
            sku, wh, len(serials), self._id("PO"), Decimal("310.00"), "Acme Trading",
            self._id("RCT"), serials=tuple(serials),
        )  # fmt: skip
        if self._run(receipt, WAREHOUSE):
            self.in_stock[(sku, wh)] = serials

    def _sell_device(self) -> None:
        sku, wh = self.rng.choice(self.devices), self.rng.choice(self.warehouses)
        serials = self.in_stock.get((sku, wh), [])
        if len(serials) < 2:
            return
        serial = serials.pop(0)
        order = self._id("ORD")
        line = SerialLine(sku, wh, 1, (serial,))
        if not self._run(c.ShipStock(self._id("SHP"), order, None, (line,)), ORDERS):
            serials.insert(0, serial)
            return
        self.shipped.append((order, sku, wh, serial))
        if len(self.shipped) % 4 == 0:  # one in four comes back, resellable
            back = c.ReturnStock(
                self._id("RET"), order, sku, wh, 1, "defective", "resellable", None, (serial,)
            )
            if self._run(back, WAREHOUSE):
                serials.append(serial)
        elif len(self.shipped) % 5 == 0 and len(serials) > 3:  # rebalance one to the other depot
            other = self.warehouses[1 - self.warehouses.index(wh)]
            moved = serials.pop()
            tid = self._id("TRF")
            if self._run(c.DispatchTransfer(tid, sku, wh, other, 1, None, (moved,)), WAREHOUSE):
                self._run(c.ReceiveTransfer(tid), WAREHOUSE)
                self.in_stock.setdefault((sku, other), []).append(moved)
