"""Drift (`stockledger verify`): every projection row against a fold of the event store, plus
the ledger's own laws.

Checks: each Postgres and Redis row equals the fold of its stream *at the row's version* (a row
behind the store is lagging, reported but not drift); each stored per-event delta equals the
domain's; 0 <= reserved <= onHand, inTransit >= 0, damaged >= 0 at every version; per SKU,
Σ(onHand + inTransit + damaged) equals receipts + returns to stock - shipments + adjustments -
transit losses; reserved equals the sum of active reservation lines; incoming equals the sum of
the open purchase order lines naming the stream; no stream is parked; the
append-only trigger is enabled and the application role cannot UPDATE or DELETE events.

`scan.py` makes the pass, `stock.py` folds and checks the stock streams (levels and value),
`read_models.py` the reservation, reorder and catalog views (and what purchase orders expect);
`report.py` holds what was found.
"""

from .report import DriftReport, Finding, Progress
from .scan import find_drift

__all__ = ["DriftReport", "Finding", "Progress", "find_drift"]
