"""What a stock stream's units cost, exactly: FIFO cost layers or a moving average, pure.

Money is Decimal, never float. Unit costs have at most 6 decimal places (the API's Money), so
FIFO values (unit cost x units) are exact. A movement out of a stream takes cost out and says
how much (the figure its event will record): FIFO from the oldest layers first; moving average
at the average, rounded half-even to 6 places, except that the units that empty the stream take
exactly the value left. So what went in always equals what went out plus what is on hand, to
the last digit, and an empty stream is worth nothing. `text` writes money with at least 4
places, as the API writes money ("12.3400").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import ClassVar, Literal

from pydantic import ConfigDict

from .codec import WIRE

Method = Literal["fifo", "moving_average"]
QUANTUM = Decimal("0.000001")  # a unit cost's last place: what an average is rounded to
ZERO = Decimal("0")


def rounded(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def text(value: Decimal) -> str:
    """Money as the API writes it: at least 4 decimal places, more when it has them."""
    exponent = value.normalize().as_tuple().exponent
    places = max(4, -exponent if isinstance(exponent, int) else 4)
    return f"{value:.{places}f}"


@dataclass(frozen=True, slots=True)
class Layer:
    """Units received together at one unit cost (FIFO keeps them apart, oldest first).
    `total`: the exact value of units that left a moving average (their unit cost rounded).
    On the wire (a transfer's `layers`): quantity, unitCost, receivedAt, total."""

    __pydantic_config__: ClassVar[ConfigDict] = WIRE
    quantity: int
    unit_cost: Decimal
    received_at: datetime | None = None
    total: Decimal | None = None

    @property
    def value(self) -> Decimal:
        return self.unit_cost * self.quantity if self.total is None else self.total


@dataclass(frozen=True, slots=True)
class Valuation:
    """The units a stream values and what they are worth. FIFO: `layers`, oldest first; moving
    average: `quantity` and `value` (unit cost = value / quantity)."""

    method: Method = "fifo"
    layers: tuple[Layer, ...] = ()
    average_quantity: int = 0
    average_value: Decimal = ZERO

    @property
    def quantity(self) -> int:
        if self.method == "fifo":
            return sum(x.quantity for x in self.layers)
        return self.average_quantity

    @property
    def value(self) -> Decimal:
        if self.method == "fifo":
            return sum((x.value for x in self.layers), ZERO)
        return self.average_value

    @property
    def unit_cost(self) -> Decimal:
        """The average cost of a unit on hand (zero when there is none)."""
        return rounded(self.value / self.quantity) if self.quantity else ZERO


def receive(valuation: Valuation, quantity: int, unit_cost: Decimal, at: datetime) -> Valuation:
    """Units come in at `unit_cost`: a new layer (FIFO), or into the average."""
    if quantity <= 0:
        raise ValueError(f"a receipt values a positive quantity, not {quantity}")
    if valuation.method == "fifo":
        return replace(valuation, layers=(*valuation.layers, Layer(quantity, unit_cost, at)))
    value = valuation.average_value + unit_cost * quantity
    return replace(
        valuation, average_quantity=valuation.average_quantity + quantity, average_value=value
    )


def take(valuation: Valuation, quantity: int) -> tuple[Valuation, Decimal, tuple[Layer, ...]]:
    """`quantity` units go out: the valuation left, the cost they took, and (FIFO) the layers
    they came from, oldest first (what a transfer carries to its destination)."""
    if not 0 < quantity <= valuation.quantity:
        raise ValueError(f"cannot take {quantity} of {valuation.quantity} valued units")
    if valuation.method == "moving_average":
        if quantity == valuation.average_quantity:
            cost = valuation.average_value  # the last units take exactly what is left
        else:
            cost = rounded(valuation.average_value * quantity / valuation.average_quantity)
        left = replace(
            valuation,
            average_quantity=valuation.average_quantity - quantity,
            average_value=valuation.average_value - cost,
        )
        return left, cost, (Layer(quantity, rounded(cost / quantity), None, cost),)
    taken: list[Layer] = []
    layers = list(valuation.layers)
    wanted = quantity
    while wanted:
        oldest = layers[0]
        moved = min(wanted, oldest.quantity)
        wanted -= moved
        if moved == oldest.quantity:
            taken.append(layers.pop(0))
        else:
            part, rest = _split(oldest, moved)
            taken.append(part)
            layers[0] = rest
    cost = sum((x.value for x in taken), ZERO)
    return replace(valuation, layers=tuple(layers)), cost, tuple(taken)


def _split(layer: Layer, quantity: int) -> tuple[Layer, Layer]:
    """The first `quantity` units of a layer and the rest, their values adding up exactly."""
    if layer.total is None:
        return replace(layer, quantity=quantity), replace(layer, quantity=layer.quantity - quantity)
    part = rounded(layer.total * quantity / layer.quantity)
    return (
        replace(layer, quantity=quantity, total=part),
        replace(layer, quantity=layer.quantity - quantity, total=layer.total - part),
    )


def put_back(valuation: Valuation, layers: tuple[Layer, ...]) -> Valuation:
    """Units that come in with the cost they left with (a transfer's layers, a return at the
    cost its order's units left): FIFO keeps their layers in receipt order; the average takes
    their value."""
    for layer in layers:
        if valuation.method == "fifo":
            merged = sorted(
                (*valuation.layers, layer),
                key=lambda x: (x.received_at is None, x.received_at or datetime.min),
            )
            valuation = replace(valuation, layers=tuple(merged))
        else:
            valuation = replace(
                valuation,
                average_quantity=valuation.average_quantity + layer.quantity,
                average_value=valuation.average_value + layer.value,
            )
    return valuation
