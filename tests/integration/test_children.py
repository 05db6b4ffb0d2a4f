"""Child processes of a step (`orchestrator.core.children`): own process group, stopped with
the whole group when the step is cancelled, swept from the ledger after a worker died."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path

import pytest

from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry
from orchestrator.core.children import (
    GRACE_SECONDS,
    PATH,
    POLL_SECONDS,
    PROCESS,
    Children,
    ChildStartError,
    group_members,
    start_time,
    sweep_path,
    sweep_process,
)
from orchestrator.core.hooks import Run
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal
from orchestrator.core.leftovers import LeftoverLedger, sweep
from orchestrator.core.results import Result
from orchestrator.engine.executor.runner import RunbookRunner, RunnerDeps
from orchestrator.engine.executor.steps import ActionThreads
from orchestrator.engine.runbooks.catalog import parse_raw
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration

# A parent that starts a grandchild in its group, then waits (and, with `trap`, ignores SIGINT).
FAMILY = "sleep 600 & wait"
STUBBORN = "trap '' INT; sleep 600 & wait; wait"


def run_until_cancelled(script: str, ledger: LeftoverLedger) -> tuple[list[int], float]:
    """Run `script`, cancel once its grandchild runs; the group's members before the
    cancel and the seconds from cancel to the end of the child's block."""
    cancelled = threading.Event()
    children = Children(cancelled=cancelled, ledger=ledger, job_id="job-1")
    with children.started(["sh", "-c", script]) as proc:
        deadline = time.monotonic() + 10
        while len(group_members(proc.pid, None)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        members = group_members(proc.pid, None)
        cancelled.set()
        began = time.monotonic()
        proc.wait()
    return members, time.monotonic() - began


def test_a_cancelled_step_takes_its_child_and_grandchild_along(tmp_path: Path) -> None:
    ledger = LeftoverLedger(tmp_path / "ledger")
    members, seconds = run_until_cancelled(FAMILY, ledger)
    assert len(members) == 2  # sh and its sleep, one group
    assert seconds < POLL_SECONDS + GRACE_SECONDS  # SIGINT is enough for sh
    # ... but not for its background job (it ignores SIGINT): killed when sh was reaped
    wait_until(lambda: group_members(members[0], None) == [], 2, "the group gone")
    assert ledger.held() == []  # off the record once reaped


def test_a_child_that_ignores_sigint_is_killed_after_the_grace(tmp_path: Path) -> None:
    members, seconds = run_until_cancelled(STUBBORN, LeftoverLedger(tmp_path / "ledger"))
    assert GRACE_SECONDS <= seconds < POLL_SECONDS + GRACE_SECONDS + 0.5
    wait_until(lambda: group_members(members[0], None) == [], 2, "the group gone")


def test_a_group_a_dead_worker_left_is_swept_and_a_reused_pid_is_not(tmp_path: Path) -> None:
    ledger = LeftoverLedger(tmp_path / "ledger")
    orphan = subprocess.Popen(["sh", "-c", FAMILY], start_new_session=True)
    bystander = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        wait_until(lambda: len(group_members(orphan.pid, None)) == 2, 10, "sh and its sleep")
        ledger.record(PROCESS, "job-1", pgid=orphan.pid, started=start_time(orphan.pid),
                      program="sh")  # fmt: skip
        later = (start_time(bystander.pid) or 0) + 10_000  # as if the pid were reused since
        ledger.record(PROCESS, "job-2", pgid=bystander.pid, started=later, program="sleep")
        scratch = tmp_path / "scratch" / "b1.dump"
        scratch.parent.mkdir()
        scratch.write_bytes(b"x")
        ledger.record(PATH, "job-1", path=str(scratch))
        done = sweep(ledger, {PROCESS: sweep_process, PATH: sweep_path}, first=PROCESS)
        assert orphan.wait(5) == -9
        assert bystander.poll() is None  # its start time says it is another process
    finally:
        for proc in (bystander, orphan):
            proc.kill()
            proc.wait()
    assert f"process: killed 2 process(es) of sh group {orphan.pid}" in done
    assert f"process: killed 0 process(es) of sleep group {bystander.pid}" in done
    assert not scratch.exists()
    assert ledger.held() == []


def test_a_program_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    children = Children.standalone()
    with pytest.raises(ChildStartError, match="cannot run /no/such/tool: No such file"):
        children.run(["/no/such/tool"])


def test_a_timeout_kills_the_group(tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        Children.standalone().run(["sh", "-c", FAMILY], timeout=0.3)
    assert time.monotonic() - began < 2


class Sleeper(ActionParams):
    pidfile: str


def sleeper_registry() -> ActionRegistry:
    """`test.sleep`: a child that writes its pid and sleeps, started as an action should."""
    registry = builtin_registry()

    def sleep(ctx: ActionContext, params: Sleeper) -> Result:
        done = ctx.children().run(["sh", "-c", f"echo $$ > {params.pidfile}; exec sleep 600"])
        return Result.failure(f"sleep ended: {done.returncode}")

    registry.register("test.sleep", Sleeper, "A child that sleeps.")(sleep)
    return registry


def test_a_step_timeout_stops_its_child_within_the_bound(tmp_path: Path) -> None:
    registry = sleeper_registry()
    pidfile = tmp_path / "pid"
    step = {"name": "s", "action": "test.sleep", "timeout": "1s",
            "params": {"pidfile": str(pidfile)}}  # fmt: skip
    spec = parse_raw({"name": "t", "description": "d", "owner": "o", "environments": ["dev"],
                      "steps": [step]}, "t.yaml", registry)  # fmt: skip
    job = Job(runbook="t", env="dev")
    run = Run(job=job, runbook=spec, journal=Journal.start(job),
              context=ActionContext(env="dev", job_id=job.id))  # fmt: skip

    async def save(journal: Journal) -> None:
        return None

    deps = RunnerDeps(registry=registry, threads=ActionThreads(), save=save,
                      stopping=lambda: False)  # fmt: skip
    journal = asyncio.run(RunbookRunner(run, deps).execute())
    timed_out = time.monotonic()
    assert journal.steps[0].error == "timed out after 1s"
    pid = int(pidfile.read_text())
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 2, "the child gone")
    assert time.monotonic() - timed_out < POLL_SECONDS + GRACE_SECONDS


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
