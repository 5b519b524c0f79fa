"""stockledger: an event-sourced inventory ledger."""

__version__ = "0.1.0"
