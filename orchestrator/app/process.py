"""Settings for a long-running process of the daemon (the intake and its job worker)."""

from __future__ import annotations

import contextlib
import gc
import resource

from orchestrator.core.logs import get_logger

log = get_logger(__name__)


def freeze_startup_objects() -> None:
    """Move every object alive after start-up (modules, Salt's and SQLAlchemy's machinery,
    the loaded definitions: ~200,000 of them) out of the collector's reach. A full collection
    otherwise walks them all, pausing the process for 110-160 ms at a time; measured as the
    tail of event -> decision latency (docs/BENCHMARKS.md). Call once, when started."""
    gc.collect()
    gc.freeze()


# Descriptors the process needs besides client connections: the store, the job worker's
# socket, the listening socket, Salt's bus, log files, S3 connections.
RESERVED_HANDLES = 256


def file_handle_budget(max_connections: int) -> int:
    """Raise the soft file-handle limit to the hard one and return how many connections fit
    under it (`max_connections`, or fewer with a warning): past the limit, accept() fails in
    a loop and valid requests time out, so the connection cap must bite first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    fits = max(1, soft - RESERVED_HANDLES)
    if max_connections > fits:
        log.warning(
            "http.max_connections lowered to fit the file-handle limit",
            configured=max_connections,
            limit=soft,
            max_connections=fits,
        )
        return fits
    return max_connections
