"""The pure inventory domain: events, commands, per-stream state, decide and evolve."""
