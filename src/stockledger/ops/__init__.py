"""Operator tooling: local services, the dev stack, the seed and demo shop, long-running jobs."""
