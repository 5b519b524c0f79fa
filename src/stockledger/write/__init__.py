"""The write path: decide and record, the ledger that batches and appends, bulk loads, expiry."""
