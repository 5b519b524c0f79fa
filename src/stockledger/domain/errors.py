"""Typed domain errors carrying the data a client needs; mapped to problem+json in one place."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every business-rule refusal."""


@dataclass(frozen=True, slots=True)
class ShortLine:
    sku: str
    warehouse_id: str
    requested: int
    available: int


class InsufficientStock(DomainError):
    def __init__(self, lines: list[ShortLine], detail: str | None = None) -> None:
        self.lines = lines
        self.detail = detail or "Not enough available stock for: " + ", ".join(
            f"{x.sku}@{x.warehouse_id} (requested {x.requested}, available {x.available})"
            for x in lines
        )
        super().__init__(self.detail)


class ReservationNotActive(DomainError):
    def __init__(self, reservation_id: str, status: str, action: str) -> None:
        self.reservation_id = reservation_id
        self.status = status
        self.detail = f"Reservation {reservation_id} is {status}; cannot {action} it"
        super().__init__(self.detail)


class NotFound(DomainError):
    def __init__(self, what: str) -> None:
        self.detail = f"{what} not found"
        super().__init__(self.detail)


class InvalidCommand(DomainError):
    """A command that contradicts itself, whatever the ledger holds (maps to 422)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class LedgerConflict(DomainError):
    """A well-formed command that what the ledger holds refuses: a bucket over capacity,
    shipping what a reservation does not hold or for another order, receiving more than was
    dispatched (maps to 409, as insufficient stock does)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class VersionMismatch(DomainError):
    """The client's If-Match version is not the stream's version (maps to 412)."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        self.detail = f"Stream {stream_id} is at version {actual}, If-Match expected {expected}"
        super().__init__(self.detail)


class ConflictingDuplicate(DomainError):
    """An id that was already used for a different request (maps to 409)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)
