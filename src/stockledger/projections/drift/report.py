"""What `stockledger verify` found: every finding (drift or a broken law) and the counts of
what it compared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    subject: str
    detail: str


@dataclass
class DriftReport:
    """What `find_drift` folded and compared, and every finding (drift or a broken law)."""

    events: int = 0
    streams: int = 0
    compared: Counter[str] = field(default_factory=Counter)
    lagging: Counter[str] = field(default_factory=Counter)
    missing: Counter[str] = field(default_factory=Counter)  # streams with no row (yet)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No drift: every row that exists equals the store (missing rows are not drift)."""
        return not self.findings

    @property
    def complete(self) -> bool:
        """Every stock stream of the store has a row in every projection."""
        return not +self.missing

    def add(self, check: str, subject: str, detail: str) -> None:
        self.findings.append(Finding(check, subject, detail))
