"""Mei's shop: a deterministic simulation of a small retailer's stock work, as domain commands.

Orders reserve stock and are confirmed and shipped, released, or left to expire; purchase orders
restock what runs low; customers return goods; warehouses move stock between them, count it and
write off what broke. On the last day the purchasing desk leaves a few purchase orders open for
the tour: one due next week (one of its lines rescheduled), one late, one partly received, one
cancelled, and a receipt still waiting in quality control. Everything happens on a simulated
clock through `BulkLedger.execute`, so the events are exactly the ones the real write path would
append for these commands.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, get_args
from uuid import UUID

from ..domain import commands as c
from ..domain.catalog.events import ValuationMethod
from ..domain.kit.events import Component
from ..domain.purchase_order.events import NewDate, OrderedLine
from ..domain.stock.events import AdjustmentReason, Line, ReturnCondition, ReturnReason
from .tracked_shop import TrackedShop

if TYPE_CHECKING:
    from ..write.bulk import BulkLedger
    from .seed import SeedPlan

ORDERS, WAREHOUSE, EXPIRY = "seed:orders", "seed:warehouse", "seed:expiry"
SUPPLIERS = (
    "Acme Trading",
    "Blue Harbor Supply",
    "Kestrel Goods",
    "Northwind Wholesale",
    "Pacific Rim Imports",
    "Lotus Homeware",
    "Granite Tools Co",
    "Maple & Finch",
)
RETURN_REASONS: tuple[ReturnReason, ...] = get_args(ReturnReason)
# Returns take these in turn (reasons too): 60/20/20, and even a small seed shows every one.
CONDITIONS: tuple[ReturnCondition, ...] = ("resellable", "damaged", "resellable", "dispose",
    "resellable", "resellable", "damaged", "resellable", "dispose", "resellable")  # fmt: skip
SHORTFALL_EVERY = 8  # every 8th transfer arrives short (from the 2nd on)
WRITE_OFFS: tuple[AdjustmentReason, ...] = ("damage", "expiry", "theft", "system_correction")
ORDERS_PER_SKU_DAY = 0.235  # tuned so the default 15,000 SKUs x 90 days is ~2,000,000 events
UNITS_PER_ORDER = 2.6  # 1.45 lines of 1.8 units
KIT_ORDERS = 0.03  # the share of orders that also take a kit (a gift box, a starter set)
HOUR = 3600.0
DAY = 24 * HOUR


def _valuation(index: int) -> ValuationMethod:
    return "moving_average" if index % 7 == 3 else "fifo"


class MeisShop:
    def __init__(self, plan: SeedPlan, ledger: BulkLedger) -> None:
        self.plan, self.ledger = plan, ledger
        self.rng = random.Random(plan.random_seed)
        first = plan.end - timedelta(days=plan.days)
        self.start = first.replace(hour=0, minute=0, second=0, microsecond=0)  # days from midnight
        self.skus = [f"{plan.prefix}SKU-{i:05d}" for i in range(1, plan.skus + 1)]
        self.warehouses = [
            f"WH-{chr(65 + i)}" if i < 26 else f"WH-{i}" for i in range(plan.warehouses)
        ]
        ranks = self.rng.sample(range(1, plan.skus + 1), plan.skus)  # popularity, long tail
        self.cum_weights = list(itertools.accumulate(1 / r**0.9 for r in ranks))
        daily_units = self._orders_per_day() * UNITS_PER_ORDER
        self.demand = [
            daily_units * (1 / r**0.9) / self.cum_weights[-1] / plan.warehouses for r in ranks
        ]
        self.cost = [Decimal(self.rng.randint(150, 25_000)) / 100 for _ in ranks]
        self.on_order: set[tuple[int, int]] = set()
        self.ids = itertools.count(1)
        self.returns, self.transfers = itertools.count(), itertools.count()
        # Kits draw from a generator of their own, so the rest of the shop stays as it was.
        self.kit_rng = random.Random(plan.random_seed + 1)
        self.kits: list[str] = []
        self._queue: list[tuple[datetime, int, Callable[[], None]]] = []

    # -- the clock -------------------------------------------------------------------------

    def run(self) -> Iterator[int]:
        """Carry out every action in time order, from `start` up to the plan's `end`; yields the
        number of days already done after each one."""
        self._catalog(self.start)
        if self.plan.tracked and not self.plan.schema_v1:
            TrackedShop(self).start(self.start)
        for i in range(len(self.skus)):
            for w in range(len(self.warehouses)):
                self._reorder(i, w, self.start + timedelta(seconds=self.rng.uniform(0, 6 * HOUR)))
        self._at(self.plan.end - timedelta(hours=3), self._purchasing_desk)
        day = 0
        while (begin := self.start + timedelta(days=day)) < self.plan.end:
            self._plan_day(begin)
            day_end = min(begin + timedelta(days=1), self.plan.end)
            while self._queue and self._queue[0][0] < day_end:
                at, _, action = heapq.heappop(self._queue)
                self.ledger.now = at
                action()
                yield day
            day += 1

    def _catalog(self, at: datetime) -> None:
        """The catalog as the first day opens: every SKU defined (every 7th valued at moving
        average, the rest FIFO) and, in the unprefixed demo, every warehouse; a few items
        renamed; reorder rules on every 5th SKU (their alerts open at once, as nothing is in
        stock yet, and close as the first receipts arrive); one SKU out of the range and back;
        a depot that closes before trading begins. (Warehouse ids carry no prefix: prefixed
        seeds share WH-A ... and leave them alone.)"""
        self.ledger.now = at
        if not self.plan.prefix:
            for n, wh in enumerate(self.warehouses):
                address = f"{n + 1} Harbour Road"
                self.ledger.execute(c.DefineWarehouse(wh, f"Mei's {wh}", address), WAREHOUSE)
        for i, sku in enumerate(self.skus):
            name, method = f"Item {i + 1:05d}", _valuation(i)
            self.ledger.execute(c.DefineItem(sku, name, valuation_method=method), WAREHOUSE)
        for i, sku in enumerate(self.skus[:3]):
            name = f"Item {i + 1:05d} (new pack)"
            renamed = c.DefineItem(sku, name, "restyled", valuation_method=_valuation(i))
            self.ledger.execute(renamed, WAREHOUSE)
        self.ledger.execute(c.DeactivateItem(self.skus[0], "supplier recall"), WAREHOUSE)
        self.ledger.execute(c.ActivateItem(self.skus[0]), WAREHOUSE)
        for i, sku in enumerate(self.skus[::5]):  # reorder rules on every 5th SKU
            for wh in self.warehouses:
                rule = c.SetReorderRule(sku, wh, reorder_point=4 + i % 4, reorder_quantity=24)
                self.ledger.execute(rule, WAREHOUSE)
        self.ledger.execute(c.RemoveReorderRule(self.skus[0], self.warehouses[0]), WAREHOUSE)
        self._kits()
        closed = f"{self.plan.prefix}WH-OLD"
        self.ledger.execute(c.DefineWarehouse(closed, "Old depot", "Dock 9"), WAREHOUSE)
        self.ledger.execute(c.DefineWarehouse(closed, "Old depot", "Dock 9, rear"), WAREHOUSE)
        self.ledger.execute(c.DeactivateWarehouse(closed, "lease ended"), WAREHOUSE)

    def _kits(self) -> None:
        """Two kits sold beside their components: a gift box (two of one item, one of another)
        and a starter set sharing that other item, so the two compete for it. The starter set
        is first defined with two components and then given a third."""
        if len(self.skus) < 4:
            return
        a, b, d, e = self.skus[1], self.skus[2], self.skus[3], self.skus[0]
        gift, starter = f"{self.plan.prefix}KIT-GIFT", f"{self.plan.prefix}KIT-STARTER"
        for sku, name in ((gift, "Gift box"), (starter, "Starter set")):
            self.ledger.execute(c.DefineItem(sku, name), WAREHOUSE)
        definitions = (
            (gift, ((a, 2), (b, 1))),
            (starter, ((b, 1), (d, 1))),
            (starter, ((b, 1), (d, 1), (e, 1))),
        )
        for sku, parts in definitions:
            kit = c.DefineKit(sku, tuple(Component(s, q) for s, q in parts))
            self.ledger.execute(kit, WAREHOUSE)
        self.kits = [gift, starter]

    def _at(self, at: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (at, next(self.ids), action))

    def _later(self, low: float, high: float, action: Callable[[], None]) -> None:
        self._at(self.ledger.now + timedelta(seconds=self.rng.uniform(low, high)), action)

    def _orders_per_day(self) -> float:
        return max(20.0, len(self.skus) * ORDERS_PER_SKU_DAY)

    def _plan_day(self, begin: datetime) -> None:
        weekend = 1.25 if begin.weekday() >= 5 else 1.0
        rate, r = self._orders_per_day() * weekend, self.rng
        for count, hours, action in (
            (rate * r.uniform(0.85, 1.15), (7.0, 23.9), self._order),
            (max(3.0, len(self.skus) * 0.01), (8.0, 17.0), self._count),
            (max(2.0, len(self.skus) * 0.002), (8.0, 17.0), self._write_off),
            (max(1.0, len(self.skus) * 0.003), (8.0, 16.0), self._transfer),
        ):
            for _ in range(round(count)):
                self._at(begin + timedelta(seconds=r.uniform(*hours) * HOUR), action)

    # -- helpers ---------------------------------------------------------------------------

    def _sku(self) -> int:
        return self.rng.choices(range(len(self.skus)), cum_weights=self.cum_weights)[0]

    def _available(self, i: int, w: int) -> int:
        return self.ledger.stock(self.skus[i], self.warehouses[w]).levels.available

    def _id(self, kind: str) -> str:
        return f"{self.plan.prefix}{kind}-{next(self.ids):07d}"

    # -- purchasing ------------------------------------------------------------------------

    def _reorder(self, i: int, w: int, arrival: datetime) -> None:
        """A purchase order line: enough for three weeks of demand, in cases of six."""
        if (i, w) in self.on_order:
            return
        quantity = max(6, math.ceil(self.demand[i] * 21 - self._available(i, w)))
        quantity = -(-quantity // 6) * 6
        supplier = i % len(SUPPLIERS)
        po = f"{self.plan.prefix}PO-{arrival:%y%m%d}-{supplier}{self.warehouses[w][3:]}"
        cost = (self.cost[i] * Decimal(self.rng.uniform(0.95, 1.05))).quantize(Decimal("0.01"))
        command = c.ReceiveStock(
            self.skus[i],
            self.warehouses[w],
            quantity,
            po,
            cost,
            SUPPLIERS[supplier],
            self._id("RCT"),
        )
        self.on_order.add((i, w))
        self._at(arrival, lambda: self._received(command, i, w))

    def _purchasing_desk(self) -> None:
        """Purchase orders still open at the end, on the first SKUs in the first warehouse:
        due next week (a line moved later), late, partly received, cancelled; and a receipt
        under inspection (part accepted, part rejected, the rest still in quality control)."""
        if len(self.skus) < 6 or not self.plan.purchasing or self.plan.schema_v1:
            return
        today, wh, p = self.ledger.now.date(), self.warehouses[0], self.plan.prefix
        sku = self.skus[:6]

        def line(i: int, quantity: int, days: int) -> OrderedLine:
            return OrderedLine(sku[i], wh, quantity, self.cost[i], today + timedelta(days=days))

        orders = (
            (f"{p}PO-OPEN", (line(1, 24, 7), line(2, 12, 9))),
            (f"{p}PO-LATE", (line(3, 18, -3),)),
            (f"{p}PO-PARTIAL", (line(4, 30, -1),)),
            (f"{p}PO-CANCELLED", (line(2, 6, 20),)),
            (f"{p}PO-INSPECT", (line(5, 10, 0),)),
        )
        for po, lines in orders:
            self.ledger.execute(c.PlacePurchaseOrder(po, SUPPLIERS[1], lines), WAREHOUSE)
        moved = NewDate(sku[2], wh, today + timedelta(days=14))
        self.ledger.execute(c.ReschedulePurchaseOrder(f"{p}PO-OPEN", (moved,)), WAREHOUSE)
        self.ledger.execute(c.CancelPurchaseOrder(f"{p}PO-CANCELLED", "ordered twice"), WAREHOUSE)
        for i, po, quantity, inspect in ((4, "PARTIAL", 12, False), (5, "INSPECT", 10, True)):
            receipt = c.ReceiveStock(sku[i], wh, quantity, f"{p}PO-{po}", None, SUPPLIERS[1],
                                     self._id("RCT"), inspect)  # fmt: skip
            self.ledger.execute(receipt, WAREHOUSE)
        inspection = c.InspectStock(self._id("INS"), sku[5], wh, accepted=4, rejected=1)
        self.ledger.execute(inspection, WAREHOUSE)

    def _received(self, command: c.ReceiveStock, i: int, w: int) -> None:
        self.on_order.discard((i, w))
        self.ledger.execute(command, WAREHOUSE)

    def _check_low(self, i: int, w: int) -> None:
        if self._available(i, w) < self.demand[i] * 7 + 1:
            lead = timedelta(days=self.rng.randint(2, 5), hours=self.rng.uniform(6, 10))
            self._reorder(i, w, self.ledger.now.replace(hour=0, minute=0, second=0) + lead)

    # -- orders ----------------------------------------------------------------------------

    def _order(self) -> None:
        r, home = self.rng, self.rng.randrange(len(self.warehouses))
        lines: dict[int, tuple[int, int]] = {}
        for _ in range(1 + (r.random() < 0.35) + (r.random() < 0.1)):
            i, quantity = self._sku(), r.choice((1, 1, 1, 1, 1, 1, 2, 2, 3, 5))
            stocked = [w for w in range(len(self.warehouses)) if self._available(i, w) >= quantity]
            lines[i] = (home if home in stocked or not stocked else stocked[0], quantity)
        order = self._id("ORD")
        wanted = tuple(Line(self.skus[i], self.warehouses[w], q) for i, (w, q) in lines.items())
        if self.kits and self.kit_rng.random() < KIT_ORDERS:
            kit = Line(self.kit_rng.choice(self.kits), self.warehouses[home], 1)
            self._reserve(order, (*wanted, kit))
            return
        if r.random() < 0.02:  # a wholesale order shipped at once, without a reservation
            self.ledger.execute(c.ShipStock(self._id("SHP"), order, lines=wanted), ORDERS)
        else:
            self._reserve(order, wanted)
        for i, (w, _) in lines.items():
            self._check_low(i, w)

    def _reserve(self, order: str, lines: tuple[Line, ...]) -> None:
        ttl = self.plan.reservation_ttl_seconds
        rid = self.plan.prefix + str(UUID(int=self.rng.getrandbits(128), version=4))
        reserve = c.ReserveStock(rid, order, lines, self.ledger.now + timedelta(seconds=ttl))
        if self.ledger.execute(reserve, ORDERS) is None:
            return
        fate = self.rng.random()
        if fate < 0.82:  # paid: confirmed within the TTL, shipped hours later (a few cancel)
            self._later(0.02 * ttl, 0.6 * ttl, lambda: self._confirm(rid, order, fate < 0.03))
        elif fate < 0.91:  # abandoned cart: released before it would expire
            reason = self.rng.choice(("customer_cancelled", "payment_failed", "address_invalid"))
            self._later(0.05 * ttl, 0.9 * ttl, lambda: self._release(rid, reason))
        else:  # left alone: the expiry worker expires it within 5 s of expiresAt
            self._at(
                reserve.expires_at + timedelta(seconds=self.rng.uniform(0.2, 4.8)),
                lambda: self._run(c.ExpireReservation(rid), EXPIRY),
            )

    def _confirm(self, rid: str, order: str, cancel: bool) -> None:
        if self.ledger.execute(c.ConfirmReservation(rid), ORDERS) is None:
            return
        if cancel:
            self._later(HOUR, 20 * HOUR, lambda: self._release(rid, "order_cancelled"))
        else:
            self._later(HOUR, 40 * HOUR, lambda: self._ship(rid, order))

    def _release(self, rid: str, reason: str) -> None:
        self.ledger.execute(c.ReleaseReservation(rid, reason), ORDERS)

    def _run(self, command: c.Command, principal: str) -> None:
        self.ledger.execute(command, principal)

    def _ship(self, rid: str, order: str) -> None:
        held = self.ledger.reservation(rid).lines
        short = self.rng.random() < 0.03 and held[0].quantity > 1  # one unit could not be picked
        lines = (Line(held[0].sku, held[0].warehouse_id, held[0].quantity - 1),) if short else None
        decision = self.ledger.execute(c.ShipStock(self._id("SHP"), order, rid, lines), ORDERS)
        if decision is not None and self.rng.random() < 0.1:  # online shops see ~10% returned
            line = self.rng.choice(held)
            self._later(DAY, 14 * DAY, lambda: self._return(order, line))

    def _return(self, order: str, line: Line) -> None:
        n = next(self.returns)
        quantity = self.rng.randint(1, max(1, line.quantity - 1))
        command = c.ReturnStock(
            self._id("RET"),
            order,
            line.sku,
            line.warehouse_id,
            quantity,
            RETURN_REASONS[n % len(RETURN_REASONS)],
            CONDITIONS[n % len(CONDITIONS)],
        )
        self.ledger.execute(command, WAREHOUSE)

    # -- warehouse work --------------------------------------------------------------------

    def _transfer(self) -> None:
        i, where = self._sku(), range(len(self.warehouses))
        source = max(where, key=lambda w: self._available(i, w))
        target = min(where, key=lambda w: self._available(i, w))
        quantity = self._available(i, source) // 4
        if source == target or quantity < 1:
            return
        tid = self._id("TRF")
        command = c.DispatchTransfer(
            tid, self.skus[i], self.warehouses[source], self.warehouses[target], quantity
        )
        if self.ledger.execute(command, WAREHOUSE) is not None:
            short = next(self.transfers) % SHORTFALL_EVERY == 1
            lost = self.rng.randint(1, min(quantity, 3)) if short else 0
            received = c.ReceiveTransfer(tid, quantity - lost)
            self._later(18 * HOUR, 60 * HOUR, lambda: self._run(received, WAREHOUSE))

    def _count(self) -> None:
        i, w = self.rng.randrange(len(self.skus)), self.rng.randrange(len(self.warehouses))
        levels = self.ledger.stock(self.skus[i], self.warehouses[w]).levels
        off = self.rng.choice((-3, -2, -1, -1, 1, 2)) if self.rng.random() < 0.25 else 0
        counted = max(levels.reserved, levels.on_hand + off)
        notes = f"cycle count, aisle {self.rng.randint(1, 40)}"
        self.ledger.execute(
            c.CountStock(self.skus[i], self.warehouses[w], counted, notes), WAREHOUSE
        )

    def _write_off(self) -> None:
        i, w = self._sku(), self.rng.randrange(len(self.warehouses))
        reason = self.rng.choices(WRITE_OFFS, weights=(35, 20, 15, 30))[0]
        change = -min(self._available(i, w), self.rng.randint(1, 3))
        if change == 0 or (reason == "system_correction" and self.rng.random() < 0.5):
            reason, change = "system_correction", self.rng.randint(1, 2)
        notes = {
            "damage": "broken in handling",
            "expiry": "past best-before",
            "theft": "missing after audit",
            "system_correction": "mis-scan corrected",
        }[reason]
        command = c.AdjustStock(self.skus[i], self.warehouses[w], change, reason, notes)
        self.ledger.execute(command, WAREHOUSE)
        self._check_low(i, w)
