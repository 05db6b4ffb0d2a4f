"""DR hooks on the runner with test actions: steady state, stop conditions, RTO/RPO against
targets, drill metrics, and drill intervals from schedules and rules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry
from orchestrator.core.jobs import Job
from orchestrator.core.journal import Journal, Phase, RunStatus, StepRecord, StepStatus
from orchestrator.core.results import Result
from orchestrator.core.runbooks import RunbookSpec, TargetsSpec
from orchestrator.engine.definitions import Definitions, scheduled_runs
from orchestrator.engine.executor.targets import assess, measure
from orchestrator.engine.rules.engine import compile_rules
from orchestrator.engine.runbooks.catalog import RunbookCatalog, parse_raw
from orchestrator.engine.sources.schedules import parse_schedules
from orchestrator.families.drills.records import DrillMetrics, DrillRun, succeeded
from orchestrator.families.drills.schedules import drill_intervals
from tests.unit.test_executor import execute, registry, step

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Flag(ActionParams):
    name: str


def flag_registry(calls: list[str], flags: dict[str, threading.Event]) -> ActionRegistry:
    """`test.flag`: ok until the named flag is set."""
    reg = registry(calls)

    def check(ctx: ActionContext, params: Flag) -> Result:
        if flags[params.name].is_set():
            return Result.failure(f"{params.name} is raised")
        return Result.success()

    reg.register("test.flag", Flag, "Fails once the flag is set.")(check)
    return reg


def spec(reg: ActionRegistry, **extra: Any) -> RunbookSpec:
    raw = {"name": "t", "description": "test", "owner": "me", "environments": ["dev"],
           "steps": [step("a"), step("b")], "rollback": [step("undo")], **extra}  # fmt: skip
    return parse_raw(raw, "t.yaml", reg)


def check(name: str, flag: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "action": "test.flag", "params": {"name": flag}, **extra}


def hooks() -> list[Any]:
    """None of a family's: the runner runs every runbook's checks itself."""
    return []


def test_a_failing_before_check_stops_the_run_before_it_acts() -> None:
    calls: list[str] = []
    flags = {"up": threading.Event()}
    flags["up"].set()
    reg = flag_registry(calls, flags)
    runbook = spec(reg, steady_state={"before": [check("primary-up", "up")]})
    journal, _ = execute(runbook, reg, hooks=hooks())
    assert journal.status is RunStatus.ABORTED
    assert calls == []  # no step, no rollback
    assert journal.error is not None
    assert "steady state before: check 'primary-up' (test.flag) failed" in journal.error
    assert [(s.name, s.phase, s.status) for s in journal.steps] == [
        ("primary-up", Phase.CHECK, StepStatus.FAILED)
    ]
    assert not journal.deviated


def test_a_failing_after_check_marks_the_run_deviated() -> None:
    calls: list[str] = []
    flags = {"ok": threading.Event(), "bad": threading.Event()}
    flags["bad"].set()
    reg = flag_registry(calls, flags)
    runbook = spec(
        reg,
        steady_state={"before": [check("pre", "ok")], "after": [check("post", "bad")]},
    )
    journal, _ = execute(runbook, reg, hooks=hooks())
    assert journal.status is RunStatus.COMPLETED
    assert journal.deviated
    assert [s.name for s in journal.steps] == ["pre", "a", "b", "post"]
    assert journal.extensions["steady_state"]["after"][0]["ok"] is False


def test_a_stop_condition_that_fails_aborts_the_run_and_rolls_back() -> None:
    calls: list[str] = []
    flags = {"stop": threading.Event()}
    reg = flag_registry(calls, flags)

    def raise_flag(ctx: ActionContext, params: Flag) -> Result:
        flags["stop"].set()
        return Result.success()

    reg.register("test.raise", Flag, "Sets a flag.")(raise_flag)
    steps = [
        {"name": "trip", "action": "test.raise", "params": {"name": "stop"}},
        {"name": "hold", "action": "wait", "params": {"seconds": 600}},
        step("never"),
    ]
    raw = {"name": "t", "description": "test", "owner": "me", "environments": ["dev"],
           "steps": steps, "rollback": [step("undo1"), step("undo2")],
           "stop_conditions": [check("guard", "stop", interval="0.05s")]}  # fmt: skip
    journal, _ = execute(parse_raw(raw, "t.yaml", reg), reg, hooks=hooks())
    assert journal.status is RunStatus.ABORTED
    assert calls == ["undo1", "undo2"]
    assert journal.error is not None
    assert journal.error.startswith("aborted: stop condition: check 'guard'")
    guard = [s for s in journal.steps if s.name == "guard"]
    assert [(s.phase, s.status) for s in guard] == [(Phase.CHECK, StepStatus.FAILED)]
    assert journal.extensions["stop_conditions"]["guard"]["evaluations"] >= 1


def test_a_failing_rollback_after_an_abort_fails_the_run() -> None:
    calls: list[str] = []
    flags = {"stop": threading.Event()}
    flags["stop"].set()
    reg = flag_registry(calls, flags)
    steps = [step("a"), {"name": "hold", "action": "wait", "params": {"seconds": 600}}]
    raw = {"name": "t", "description": "test", "owner": "me", "environments": ["dev"],
           "steps": steps, "rollback": [step("undo", ok=False), step("undo2")],
           "stop_conditions": [check("guard", "stop", interval="0.05s")]}  # fmt: skip
    journal, _ = execute(parse_raw(raw, "t.yaml", reg), reg, hooks=hooks())
    assert journal.status is RunStatus.FAILED
    assert calls[-2:] == ["undo", "undo2"]


def record(name: str, start: float, end: float, **output: Any) -> StepRecord:
    return StepRecord(
        name=name,
        action="x",
        phase=Phase.STEP,
        status=StepStatus.OK,
        started_at=T0 + timedelta(seconds=start),
        ended_at=T0 + timedelta(seconds=end),
        output=output,
    )


def journal_of(*steps: StepRecord, status: RunStatus = RunStatus.COMPLETED) -> Journal:
    job = Job(runbook="t", env="dev")
    return Journal(job_id=job.id, runbook="t", env="dev", started_at=T0, steps=steps, status=status)


def test_an_action_measurement_wins_over_wall_time() -> None:
    journal = journal_of(
        record("a", 0, 10),
        record(
            "promote", 10, 30, measurement={"rto_seconds": 1.5, "rpo_seconds": 0, "rpo_bytes": 9}
        ),
        record("c", 30, 40),
    )
    found = measure(journal)
    assert (found.rto_seconds, found.rpo_seconds, found.rpo_bytes) == (1.5, 0.0, 9)
    assert found.source == "step 'promote'"


def test_without_a_measurement_rto_is_the_steps_wall_time_and_rpo_the_backup_age() -> None:
    journal = journal_of(record("restore", 2, 12, rpo_seconds=3600.0), record("verify", 12, 20))
    found = measure(journal)
    assert (found.rto_seconds, found.rpo_seconds, found.source) == (18.0, 3600.0, "wall time")


def test_targets_are_met_or_breached_each_and_overall() -> None:
    journal = journal_of(record("restore", 0, 100, rpo_seconds=10.0))
    met = assess(measure(journal), TargetsSpec(rto=300, rpo=60))
    assert met["verdicts"] == {"rto": "met", "rpo": "met"}
    assert met["policy"] == "met"
    assert succeeded(journal, met)
    breached = assess(measure(journal), TargetsSpec(rto=30, rpo=60))
    assert breached["verdicts"] == {"rto": "breached", "rpo": "met"}
    assert breached["policy"] == "breached"
    assert not succeeded(journal, breached)
    unmeasured = assess(measure(journal_of(record("a", 0, 1))), TargetsSpec(rpo=60))
    assert unmeasured["verdicts"] == {"rpo": "unmeasured"}
    assert unmeasured["policy"] == "unmeasured"  # a backup's run cannot breach its RPO target
    partly = assess(measure(journal_of(record("a", 0, 1))), TargetsSpec(rto=300, rpo=60))
    assert partly["verdicts"] == {"rto": "met", "rpo": "unmeasured"}
    assert partly["policy"] == "met"
    assert not succeeded(journal_of(record("a", 0, 1)), partly)  # a drill measures every target
    failed = journal_of(record("restore", 0, 1, rpo_seconds=1.0), status=RunStatus.FAILED)
    assert not succeeded(failed, assess(measure(failed), TargetsSpec(rto=300)))


def test_drill_metrics_keep_the_last_success_when_a_run_fails() -> None:
    reg = CollectorRegistry()
    metrics = DrillMetrics(reg)
    labels = {"runbook": "restore-drill", "env": "dev"}
    ok = DrillRun(job_id="1", runbook="restore-drill", env="dev", finished_at=T0,
                  succeeded=True, rto_seconds=12.0, rpo_seconds=60.0)  # fmt: skip
    metrics.observe(ok)
    failed = DrillRun(job_id="2", runbook="restore-drill", env="dev",
                      finished_at=T0 + timedelta(days=1), succeeded=False,
                      rto_seconds=None, rpo_seconds=None)  # fmt: skip
    metrics.observe(failed)
    sample = reg.get_sample_value
    assert sample("fluxora_drill_last_status", labels) == 0
    assert sample("fluxora_drill_last_success_timestamp_seconds", labels) == T0.timestamp()
    assert sample("fluxora_drill_rto_seconds", labels) == 12.0


def test_drill_intervals_follow_the_schedules_through_the_rules() -> None:
    reg = registry([])
    drill = parse_raw({"name": "restore-drill", "description": "d", "owner": "o",
                       "environments": ["dev", "staging"], "targets": {"rto": "15m"},
                       "steps": [step("a")]}, "r.yaml", reg)  # fmt: skip
    catalog = RunbookCatalog([drill])
    rules = compile_rules(
        [{"name": "drills", "match": "fluxora/schedule/restore-drill-*", "run": "restore-drill",
          "env": "{{ event.data.env }}"}], "c.yaml", catalog)  # fmt: skip
    schedules = parse_schedules(
        [{"name": "restore-drill-dev", "cron": "0 3 * * *", "data": {"env": "dev"}},
         {"name": "restore-drill-staging", "interval": "12h", "data": {"env": "staging"}},
         {"name": "unrelated", "interval": "1h"}], "c.yaml")  # fmt: skip
    loaded = Definitions(runbooks=catalog, rules=rules, schedules=schedules)
    assert drill_intervals(scheduled_runs(loaded, "dev", T0)) == {
        ("restore-drill", "dev"): 86400.0,
        ("restore-drill", "staging"): 43200.0,
    }
