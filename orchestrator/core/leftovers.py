"""What a step leaves behind if its process dies mid-way (child processes, scratch databases,
scratch files), on record while it exists so that the next job worker can sweep it.

An action puts a thing on record *before* it creates it (`LeftoverLedger.holding`) and takes
it off once it is gone; a worker that is SIGKILLed (or dies with its daemon) leaves the entries
behind. A replacement worker reads them before it takes any work and hands each to the sweeper
of its kind (`Sweepers`): a family that creates a kind of thing sweeps it. Entries are one small
JSON file each, written atomically, so a crash mid-write loses nothing already recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class Leftover:
    kind: str
    """Which sweeper removes it: `process`, `path`, `postgres-database`, ..."""
    job_id: str | None
    data: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


Sweeper = Callable[[Leftover], str]
"""Removes one leftover (idempotent: it may be gone already); returns what it did."""


class LeftoverLedger:
    """Leftovers on record: files under `directory`, or in memory when it is None (a CLI run
    in this process, tests: nobody sweeps after a process that is not a job worker)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._memory: dict[str, Leftover] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def record(self, kind: str, job_id: str | None, **data: Any) -> Leftover:
        leftover = Leftover(kind=kind, job_id=job_id, data=data)
        if self._directory is None:
            self._memory[leftover.id] = leftover
            return leftover
        body = {"kind": kind, "job_id": job_id, "data": data}
        path = self._path(leftover.id)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(body), encoding="utf-8")
        os.replace(partial, path)
        return leftover

    def release(self, leftover: Leftover) -> None:
        self._memory.pop(leftover.id, None)
        if self._directory is not None:
            self._path(leftover.id).unlink(missing_ok=True)

    @contextlib.contextmanager
    def holding(self, kind: str, job_id: str | None, **data: Any) -> Iterator[Leftover]:
        """On record for the block: released when it ends, however it ends (the block removes
        the thing itself; only a dead process leaves the entry)."""
        leftover = self.record(kind, job_id, **data)
        try:
            yield leftover
        finally:
            self.release(leftover)

    def held(self) -> list[Leftover]:
        if self._directory is None:
            return list(self._memory.values())
        found = []
        for path in sorted(self._directory.glob("*.json")):
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("unreadable leftover entry; removed", path=str(path), error=str(exc))
                path.unlink(missing_ok=True)
                continue
            found.append(
                Leftover(kind=body["kind"], job_id=body["job_id"], data=body["data"], id=path.stem)
            )
        return found

    def _path(self, leftover_id: str) -> Path:
        assert self._directory is not None
        return self._directory / f"{leftover_id}.json"


def sweep(ledger: LeftoverLedger, sweepers: Mapping[str, Sweeper], first: str) -> list[str]:
    """Every leftover on record to its kind's sweeper (kind `first` before the others: the
    processes, which may hold the rest open); each swept one is released, one that fails stays
    for the next start. What was done, one line each."""
    done = []
    held = sorted(ledger.held(), key=lambda leftover: leftover.kind != first)
    for leftover in held:
        sweeper = sweepers.get(leftover.kind)
        if sweeper is None:
            log.error("no sweeper for a leftover; kept", kind=leftover.kind, id=leftover.id)
            continue
        try:
            outcome = sweeper(leftover)
        except Exception as exc:
            log.exception("sweeping a leftover failed; kept for the next start",
                          kind=leftover.kind, job_id=leftover.job_id)  # fmt: skip
            done.append(f"{leftover.kind}: not swept: {exc}")
            continue
        log.warning("swept what a dead job worker left", kind=leftover.kind,
                    job_id=leftover.job_id, outcome=outcome)  # fmt: skip
        done.append(f"{leftover.kind}: {outcome}")
        ledger.release(leftover)
    return done
