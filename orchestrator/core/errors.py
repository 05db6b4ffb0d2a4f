"""The one exception root of the orchestrator; each error names what it is about."""

from __future__ import annotations


class FluxoraError(Exception):
    """Root of every error the orchestrator raises on purpose."""


class ConfigError(FluxoraError, ValueError):
    """A configuration source holds a value that cannot be used."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}")
