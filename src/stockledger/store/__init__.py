"""Postgres event store (asyncpg): append with expected versions, reads, snapshots."""
