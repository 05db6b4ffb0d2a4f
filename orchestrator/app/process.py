"""Settings for a long-running process of the daemon (the intake and its job worker)."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move every object alive after start-up (modules, Salt's and SQLAlchemy's machinery,
    the loaded definitions: ~200,000 of them) out of the collector's reach. A full collection
    otherwise walks them all, pausing the process for 110-160 ms at a time; measured as the
    tail of event -> decision latency (docs/BENCHMARKS.md). Call once, when started."""
    gc.collect()
    gc.freeze()
