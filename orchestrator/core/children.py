"""Child processes of a step (pg_dump, pg_restore, tar, pg_ctlcluster, ...): each runs in a
process group of its own, is stopped with its whole group when the step is cancelled (abort,
timeout, shutdown) and is on record as a leftover until it is reaped.

Stopping a group: SIGINT first (pg_dump and pg_restore then cancel their server-side query,
so a backend blocked on a lock goes too), SIGKILL to whatever is left after `grace` seconds
or once the child has exited (members it left behind, e.g. a background job, which ignores
SIGINT). A daemon the child starts must leave the group itself (pg_ctl does: setsid).
A watcher thread per child notices the cancellation within `POLL_SECONDS`, so a child is gone
within POLL_SECONDS + grace of the abort. A job worker that dies leaves the groups running:
the next one kills them (`sweep_process`) before it takes work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.core.leftovers import Leftover, LeftoverLedger

PROCESS = "process"  # the leftover kind of a child's process group
PATH = "path"  # the leftover kind of a scratch file or directory
POLL_SECONDS = 0.1
GRACE_SECONDS = 1.0


class ChildStartError(FluxoraError, OSError):
    def __init__(self, program: str, exc: OSError) -> None:
        super().__init__(f"cannot run {program}: {exc.strerror or exc}")


@dataclass(frozen=True, kw_only=True)
class Children:
    """How one action attempt starts child processes (`ActionContext.children()`)."""

    cancelled: threading.Event
    ledger: LeftoverLedger
    job_id: str | None
    grace: float = GRACE_SECONDS

    @classmethod
    def standalone(cls) -> Children:
        """For a caller with no action context: own groups and the group killed on a timeout,
        but nothing cancels them and nothing sweeps them."""
        return cls(cancelled=threading.Event(), ledger=LeftoverLedger(), job_id=None)

    @contextlib.contextmanager
    def started(self, argv: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
        """`subprocess.Popen(argv, **popen)` in a new session; its group is killed if the
        block raises or the attempt is cancelled, and the child is reaped when the block ends.
        ChildStartError when it cannot be started."""
        try:
            proc = subprocess.Popen(list(argv), start_new_session=True, **popen)
        except OSError as exc:
            raise ChildStartError(argv[0], exc) from exc
        done = threading.Event()
        program = Path(argv[0]).name
        entry = self.ledger.record(
            PROCESS, self.job_id, pgid=proc.pid, started=start_time(proc.pid), program=program
        )
        watcher = threading.Thread(
            target=self._watch, args=(proc, done), daemon=True, name=f"child-{proc.pid}"
        )
        watcher.start()
        try:
            yield proc
        except BaseException:
            kill_group(proc, signal.SIGKILL)
            raise
        finally:
            done.set()
            proc.wait()
            # What the child left in its group (a background job ignores SIGINT): while a
            # member lives, the group id cannot be reused, so this reaches only ours.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self.ledger.release(entry)

    def run(
        self, argv: Sequence[str], *, timeout: float | None = None, **popen: Any
    ) -> subprocess.CompletedProcess[str]:
        """`subprocess.run(argv, capture_output=True, text=True)` with the group handling;
        subprocess.TimeoutExpired after `timeout` (the group killed)."""
        with self.started(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **popen) as proc:  # fmt: skip
            stdout, stderr = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)

    def _watch(self, proc: subprocess.Popen[Any], done: threading.Event) -> None:
        while not done.is_set():
            if self.cancelled.wait(POLL_SECONDS):
                stop_group(proc, self.grace, done)
                return


def stop_group(proc: subprocess.Popen[Any], grace: float, done: threading.Event) -> None:
    """SIGINT to the group, SIGKILL after `grace` unless the child's block ended."""
    kill_group(proc, signal.SIGINT)
    if not done.wait(grace):
        kill_group(proc, signal.SIGKILL)


def kill_group(proc: subprocess.Popen[Any], signum: int) -> None:
    """Signal the child's group while the child is not reaped (its pid cannot be reused)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the
    pid, it names one process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def group_members(pgid: int, started: int | None) -> list[int]:
    """Live (not zombie) processes of group `pgid` started no earlier than its leader
    (`started`)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        group, begun = int(fields[2]), int(fields[19])
        if fields[0] != "Z" and group == pgid and (started is None or begun >= started):
            members.append(int(entry.name))
    return members


def sweep_process(leftover: Leftover) -> str:
    """Kill what is left of a dead worker's child group."""
    pgid, started = int(leftover.data["pgid"]), leftover.data.get("started")
    members = group_members(pgid, started)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    program = leftover.data.get("program", "?")
    return f"killed {len(members)} process(es) of {program} group {pgid}"


def sweep_path(leftover: Leftover) -> str:
    path = Path(leftover.data["path"])
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return f"removed {path}"
