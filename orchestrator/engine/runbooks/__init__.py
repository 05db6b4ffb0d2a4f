"""Runbooks: loading and checking them (`catalog`; the format is `orchestrator.core.runbooks`)
and the pages generated from them (`docs`)."""
