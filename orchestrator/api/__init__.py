"""Read-only JSON views of the store: served under /api/ and printed by the CLI."""
