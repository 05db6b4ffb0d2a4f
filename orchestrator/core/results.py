"""What an action returns: a Result per host, aggregated Nornir-style for fan-out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Result:
    """Outcome of one action on one target. Expected failures are Results, not exceptions."""

    ok: bool
    changed: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    host: str | None = None

    @classmethod
    def success(cls, *, changed: bool = False, host: str | None = None, **data: Any) -> Result:
        return cls(ok=True, changed=changed, data=data, host=host)

    @classmethod
    def failure(
        cls, error: str, *, changed: bool = False, host: str | None = None, **data: Any
    ) -> Result:
        return cls(ok=False, changed=changed, data=data, error=error, host=host)


@dataclass(frozen=True)
class MultiResult:
    """Per-host results of a fan-out; it failed if any host failed."""

    results: Mapping[str, Result]

    @property
    def failed_hosts(self) -> dict[str, Result]:
        return {host: result for host, result in self.results.items() if not result.ok}

    @property
    def ok(self) -> bool:
        return not self.failed_hosts

    def summary(self) -> Result:
        """One Result for the whole fan-out, per-host data kept under `hosts`."""
        hosts = {
            host: {"ok": r.ok, "changed": r.changed, "data": dict(r.data), "error": r.error}
            for host, r in sorted(self.results.items())
        }
        changed = any(r.changed for r in self.results.values())
        if self.ok:
            return Result.success(changed=changed, hosts=hosts)
        failed = ", ".join(sorted(self.failed_hosts))
        return Result.failure(f"failed on {failed}", changed=changed, hosts=hosts)
