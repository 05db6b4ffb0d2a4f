"""A write probe: one row every `interval` seconds through the service endpoint, each attempt
recorded with its time and outcome, and the RTO/RPO they imply.

RTO is the time from the first failed write to the first successful write after it (on the
new primary: the old one is fenced and can accept none). RPO is what the new primary lacks of
what the probe was told was committed: the acknowledged rows missing there, and the time
between the last acknowledged row it kept and the last one it lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import get_logger

log = get_logger(__name__)

Conn = psycopg.Connection[tuple[object, ...]]
PROBE_TABLE = "fluxora_dr_probe"
# The table's name is quoted as an identifier (psycopg.sql), never pasted into the text.
_TABLE = sql.Identifier(PROBE_TABLE)
_CREATE = sql.SQL(
    "CREATE TABLE IF NOT EXISTS {} (probe_id text NOT NULL, seq bigint NOT NULL, "
    "written_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (probe_id, seq))"
).format(_TABLE)
_INSERT = sql.SQL(
    "INSERT INTO {} (probe_id, seq) VALUES (%s, %s) "
    "RETURNING coalesce(host(inet_server_addr()), 'local') || ':' || current_setting('port')"
).format(_TABLE)
_PRESENT = sql.SQL("SELECT seq FROM {} WHERE probe_id = %s").format(_TABLE)


@dataclass(frozen=True)
class ProbeWrite:
    seq: int
    started: float  # wall-clock seconds
    ended: float
    ok: bool
    server: str | None = None  # host:port that committed it
    error: str | None = None


class WriteProbe:
    """Writes `probe_id`'s rows on a thread until stopped (or `max_seconds` pass)."""

    def __init__(
        self,
        probe_id: str,
        connect: Callable[[], Conn],
        *,
        interval: float = 0.05,
        max_seconds: float = 3600.0,
    ) -> None:
        self.probe_id = probe_id
        self._connect = connect
        self._interval = interval
        self._max_seconds = max_seconds
        self._writes: list[ProbeWrite] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: Conn | None = None
        self._thread = threading.Thread(target=self._loop, name=f"probe-{probe_id}", daemon=True)

    def start(self) -> WriteProbe:
        self._thread.start()
        return self

    def stop(self) -> list[ProbeWrite]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.writes()

    def writes(self) -> list[ProbeWrite]:
        with self._lock:
            return list(self._writes)

    def wait_for_writes(self, count: int, timeout: float, *, succeeded: bool = True) -> bool:
        """True once `count` writes succeeded (or, with `succeeded=False`, were attempted)."""
        deadline = time.monotonic() + timeout
        while sum(w.ok or not succeeded for w in self.writes()) < count:
            if time.monotonic() > deadline or self._stop.is_set():
                return False
            time.sleep(self._interval)
        return True

    def _loop(self) -> None:
        began = time.monotonic()
        seq = 0
        while not self._stop.is_set() and time.monotonic() - began < self._max_seconds:
            seq += 1
            write = self._write(seq)
            with self._lock:
                self._writes.append(write)
            next_at = began + seq * self._interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        self._close()

    def _write(self, seq: int) -> ProbeWrite:
        started = time.time()
        try:
            if self._conn is None:
                self._conn = self._connect()
                self._conn.execute(_CREATE)
            row = self._conn.execute(_INSERT, [self.probe_id, seq]).fetchone()
        except Exception as exc:  # any failure to commit is a failed write
            self._close()
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return ProbeWrite(seq, started, time.time(), False, error=error)
        return ProbeWrite(seq, started, time.time(), True, server=str(row[0]) if row else None)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # the server is gone; nothing to close cleanly
                log.debug("probe connection close failed", probe_id=self.probe_id)
            self._conn = None


def present_rows(conn: Conn, probe_id: str) -> set[int]:
    rows = conn.execute(_PRESENT, [probe_id]).fetchall()
    return {int(str(row[0])) for row in rows}


@dataclass(frozen=True)
class Measurement:
    rto_seconds: float
    rpo_seconds: float
    rpo_bytes: int
    attempts: int
    acknowledged: int
    failed: int
    missing: list[int]
    first_failure_at: float | None
    resumed_at: float | None
    servers: list[str]

    def as_data(self) -> dict[str, Any]:
        return asdict(self)

    def measurement(self) -> dict[str, Any]:
        """The contract the DR engine's RTO/RPO hook reads."""
        return {
            "rto_seconds": self.rto_seconds,
            "rpo_seconds": self.rpo_seconds,
            "rpo_bytes": self.rpo_bytes,
        }


class NotResumedError(FluxoraError, ValueError):
    pass


def measure(writes: Iterable[ProbeWrite], present: set[int], lost_wal_bytes: int) -> Measurement:
    """RTO/RPO from a probe's writes and the rows the new primary holds."""
    ordered = sorted(writes, key=lambda w: w.seq)
    first_failure = next((w for w in ordered if not w.ok), None)
    resumed = None
    if first_failure is not None:
        resumed = next((w for w in ordered if w.ok and w.seq > first_failure.seq), None)
        if resumed is None:
            raise NotResumedError(
                f"no write succeeded after the first failure (seq {first_failure.seq})"
            )
    acknowledged = [w for w in ordered if w.ok]
    missing = [w for w in acknowledged if w.seq not in present]
    return Measurement(
        rto_seconds=resumed.ended - first_failure.started if resumed and first_failure else 0.0,
        rpo_seconds=_rpo_seconds(acknowledged, missing),
        rpo_bytes=lost_wal_bytes,
        attempts=len(ordered),
        acknowledged=len(acknowledged),
        failed=len(ordered) - len(acknowledged),
        missing=[w.seq for w in missing],
        first_failure_at=first_failure.started if first_failure else None,
        resumed_at=resumed.ended if resumed else None,
        servers=sorted({w.server for w in acknowledged if w.server}),
    )


def _rpo_seconds(acknowledged: list[ProbeWrite], missing: list[ProbeWrite]) -> float:
    """From the last acknowledged row kept before the first loss to the last row lost."""
    if not missing:
        return 0.0
    first_lost = missing[0]
    kept = [w for w in acknowledged if w.seq < first_lost.seq and w not in missing]
    since = kept[-1].ended if kept else first_lost.started
    return max(w.ended for w in missing) - since
