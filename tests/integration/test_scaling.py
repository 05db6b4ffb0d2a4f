"""Scaling against the moto server over HTTP: the aws.asg.* actions, the shipped runbooks and
rules in the real daemon, `fluxora-orch scale`, and the safety rules (bounds, cooldown, the DR
lock, the prod approval step), each decision read back from the store and the metrics.

Last, the whole loop with real servers: a queue-depth exporter -> the real Prometheus on the
shipped rules (the backlog alert) -> the real Alertmanager on the shipped routes -> the
orchestrator's /alertmanager -> the shipped scaling rules and runbooks -> the group's desired
capacity in moto, and back down step by step, outside the cooldown, once the backlog clears."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orchestrator.app.families import builtin_registry
from orchestrator.app.wiring import open_configured_store
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.journal import Completion, Journal, RunStatus
from orchestrator.core.results import Result
from orchestrator.families.aws.asg import Groups, GroupState
from orchestrator.families.aws.clients import AWS
from orchestrator.families.scaling.decide import Request
from orchestrator.families.scaling.history import Entry, History, ScalingResult
from orchestrator.families.scaling.service import SCALING, Call, Scaler
from orchestrator.store.base import Store
from tests.harness import scaling
from tests.harness.exporters import QueueDepthExporter
from tests.harness.fluxora import TOKEN, Daemon, cli, secret_env, start_daemon
from tests.harness.monitoring import MonitoringStack
from tests.harness.processes import ServerProcess, wait_until

pytestmark = pytest.mark.integration

STAGING = "fluxora-staging-worker"
PROD = "fluxora-prod-worker"


@pytest.fixture
def groups(aws_reset: None) -> dict[str, int]:
    """The staging and prod worker groups in moto, both at 2 of 1..6."""
    for name in (STAGING, PROD):
        scaling.create_group(name, min_size=1, max_size=6, desired=2)
    return dict.fromkeys((STAGING, PROD), 2)


@pytest.fixture
def daemon_with(tmp_path: Path, moto_server: ServerProcess) -> Iterator[Callable[..., Daemon]]:
    """Start a daemon (env staging) on the shipped scaling rules with the given policies."""
    started: list[Daemon] = []

    def start(policies: dict[str, dict[str, Any]], **config: Any) -> Daemon:
        workdir = tmp_path / f"orch-{len(started)}"
        workdir.mkdir()
        path = scaling.write_config(
            workdir / "config.yaml", env="staging", groups=policies, **config
        )
        started.append(start_daemon(workdir, config_path=path))
        return started[-1]

    yield start
    for daemon in started:
        daemon.stop()


def policies(**staging: Any) -> dict[str, dict[str, Any]]:
    return {
        STAGING: scaling.policy("staging", **staging),
        PROD: scaling.policy("prod", approval_step=1),
    }


@contextmanager
def daemon_store(daemon: Daemon) -> Iterator[Store]:
    """The daemon's store, opened beside it (as the CLI does)."""
    store = open_configured_store(scaling.load(daemon.config, daemon.data_dir))
    try:
        yield store
    finally:
        store.close()


def history(daemon: Daemon, group: str) -> list[Entry]:
    with daemon_store(daemon) as store:
        return History(store).entries(group)


def scale(daemon: Daemon, *args: str) -> Any:
    return cli("scale", *args, *daemon.settings(), env=secret_env())


def run_action(context: Any, name: str, params: dict[str, Any]) -> Result:
    action = builtin_registry().get(name)
    return action(context, action.parse(params))


# --- the actions, in-process ------------------------------------------------------------------


def test_requests_beyond_the_bounds_are_clamped_and_the_clamp_recorded(
    groups: dict[str, int], tmp_path: Path
) -> None:
    path = scaling.write_config(tmp_path / "config.yaml", env="staging", groups=policies())
    context = scaling.action_context(scaling.load(path, tmp_path / "data"), "staging", "job-1")

    high = run_action(context, "aws.asg.set_capacity", {"group": STAGING, "capacity": 50})
    assert high.ok, high
    assert high.changed
    assert high.data["clamp"] == "requested 50 clamped to max 6"
    assert scaling.desired(STAGING) == 6
    low = run_action(context, "aws.asg.scale_by", {"group": STAGING, "step": "in", "by": 10})
    assert (low.data["target"], low.data["clamp"]) == (1, "requested -4 clamped to min 1")
    assert scaling.desired(STAGING) == 1

    rows = History(context.resource(SCALING).store).entries(STAGING)
    assert [(r.direction, r.current, r.target, r.result) for r in rows] == [
        ("out", 2, 6, ScalingResult.APPLIED),
        ("in", 6, 1, ScalingResult.APPLIED),
    ]
    assert rows[0].reason == "scale out from 2 to 6 (requested 50 clamped to max 6)"
    assert rows[0].job_id == "job-1"
    assert scaling.desired(PROD) == 2


def test_new_instances_carry_the_groups_tags_and_hold_scale_in_during_warmup(
    groups: dict[str, int], tmp_path: Path
) -> None:
    changed = {STAGING: scaling.policy("staging", warmup_seconds=600)}
    path = scaling.write_config(tmp_path / "config.yaml", env="staging", groups=changed)
    context = scaling.action_context(scaling.load(path, tmp_path / "data"), "staging")
    assert run_action(context, "aws.asg.scale_by", {"group": STAGING, "step": "out"}).changed
    launched = scaling.instance_tags(STAGING)
    assert len(launched) == 4
    assert all(scaling.TAGS.items() <= tags.items() for tags in launched)

    held = run_action(context, "aws.asg.scale_by", {"group": STAGING, "step": "in"})
    assert held.ok
    assert (held.data["result"], held.data["suppressed"]) == ("suppressed", "warmup")
    assert held.data["reason"] == "4 instance(s) inside the 600s warmup"
    assert scaling.desired(STAGING) == 4
    out = run_action(context, "aws.asg.scale_by", {"group": STAGING, "step": "out", "by": 1})
    assert out.data["result"] == "applied"
    read = run_action(context, "aws.asg.describe", {"group": STAGING})
    assert (read.data["desired"], read.data["warming"]) == (5, 5)


def test_a_group_that_does_not_exist_in_aws_is_a_failed_result(
    aws_reset: None, tmp_path: Path
) -> None:
    path = scaling.write_config(tmp_path / "config.yaml", env="staging", groups=policies())
    context = scaling.action_context(scaling.load(path, tmp_path / "data"), "staging")
    result = run_action(context, "aws.asg.scale_by", {"group": STAGING, "step": "out"})
    assert not result.ok
    assert result.error == (
        f"scaling {STAGING} in staging failed: Auto Scaling group {STAGING!r} does not exist "
        "in eu-west-1"
    )


def test_two_daemons_deciding_on_the_same_history_act_once(
    groups: dict[str, int], tmp_path: Path
) -> None:
    """Daemon B scales the group after daemon A read the history but before A acts: A's claim
    of the group's next action fails, A looks again and finds B's action inside the cooldown."""
    changed = {STAGING: scaling.policy("staging", cooldown_seconds=600)}
    path = scaling.write_config(tmp_path / "config.yaml", env="staging", groups=changed)
    config = scaling.load(path, tmp_path / "data")
    daemon_a = scaling.action_context(config, "staging", "job-a")
    daemon_b = scaling.action_context(config, "staging", "job-b")  # its own Scaler and store

    class BIsFaster(Groups):
        raced = False

        def read(
            self, group: str, region: str | None, warmup_seconds: float, now: datetime
        ) -> GroupState:
            if not self.raced:
                self.raced = True
                assert run_action(daemon_b, "aws.asg.scale_by", {"group": group, "step": "out"})
            return super().read(group, region, warmup_seconds, now)

    scaler_a: Scaler = daemon_a.resource(SCALING)
    outcome = scaler_a.scale(
        Call(env="staging", job_id="job-a"), BIsFaster(daemon_a.resource(AWS)), STAGING,
        Request(by=2),
    )  # fmt: skip
    assert (outcome["result"], outcome["suppressed"]) == ("suppressed", "cooldown")
    assert scaling.desired(STAGING) == 4
    rows = History(scaler_a.store).entries(STAGING)
    assert [(r.job_id, r.result) for r in rows] == [
        ("job-b", ScalingResult.APPLIED),
        ("job-a", ScalingResult.SUPPRESSED),
    ]


def test_a_failed_aws_call_is_recorded_and_starts_no_cooldown(
    groups: dict[str, int], tmp_path: Path
) -> None:
    changed = {STAGING: scaling.policy("staging", cooldown_seconds=600)}
    path = scaling.write_config(tmp_path / "config.yaml", env="staging", groups=changed)
    context = scaling.action_context(scaling.load(path, tmp_path / "data"), "staging")

    class Throttled(Groups):
        def set_desired(self, group: str, region: str | None, capacity: int) -> None:
            error = {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}
            raise ClientError(error, "SetDesiredCapacity")

    scaler: Scaler = context.resource(SCALING)
    call = Call(env="staging", job_id=None)
    failed = scaler.scale(call, Throttled(context.resource(AWS)), STAGING, Request(by=1))
    assert failed["result"] == "failed"
    assert "Rate exceeded" in failed["reason"]
    applied = scaler.scale(call, Groups(context.resource(AWS)), STAGING, Request(by=1))
    assert applied["result"] == "applied"
    assert scaling.desired(STAGING) == 3
    rows = History(scaler.store).entries(STAGING)
    assert [r.result for r in rows] == [ScalingResult.FAILED, ScalingResult.APPLIED]


# --- rules, runbooks and schedules in the daemon ------------------------------------------------


def _schedule_fire(daemon: Daemon, name: str) -> str:
    """Emit what the schedule `name` emits (its tag and data from pillar) and return the job."""
    spec = scaling.shipped_schedule(name)
    answer = daemon.client.post_event(f"fluxora/schedule/{name}", spec["data"])
    assert answer.status == 202, answer
    job_id = daemon.client.fired_job(answer.body["id"], name)
    assert daemon.client.finished_job(job_id)["status"] == "completed"
    return job_id


def test_forecast_window_schedules_pre_scale_and_scale_back(
    groups: dict[str, int], daemon_with: Callable[..., Daemon]
) -> None:
    daemon = daemon_with(policies())
    _schedule_fire(daemon, "forecast-window-prescale")
    assert (
        scaling.desired(STAGING)
        == scaling.shipped_schedule("forecast-window-prescale")["data"]["capacity"]
    )
    _schedule_fire(daemon, "forecast-window-scale-back")
    assert scaling.desired(STAGING) == 2  # the policy's baseline
    rows = history(daemon, STAGING)
    assert [(r.direction, r.current, r.target, r.result) for r in rows] == [
        ("out", 2, 4, ScalingResult.APPLIED),
        ("in", 4, 2, ScalingResult.APPLIED),
    ]
    client = daemon.client
    assert client.sample("fluxora_asg_desired_capacity", group=STAGING) == 2
    assert (
        client.sample(
            "fluxora_scaling_actions_total", group=STAGING, direction="in", result="applied"
        )
        == 1
    )


def test_a_burst_of_backlog_alerts_inside_the_cooldown_scales_once(
    groups: dict[str, int], daemon_with: Callable[..., Daemon]
) -> None:
    daemon = daemon_with(policies(cooldown_seconds=600))
    assert "fluxora_asg_desired_capacity{" not in daemon.client.metrics_text()
    events = [
        daemon.client.post_alerts(backlog_alert("firing", f"{n:016x}")).body["ids"][0]
        for n in range(5)
    ]
    jobs = [daemon.client.fired_job(event_id, "forecast-backlog-scale-out") for event_id in events]
    for job_id in jobs:
        assert daemon.client.finished_job(job_id)["status"] == "completed"

    assert scaling.desired(STAGING) == 4  # one step of 2, not five
    rows = history(daemon, STAGING)
    assert [r.result for r in rows].count(ScalingResult.APPLIED) == 1
    suppressed = [r for r in rows if r.result is ScalingResult.SUPPRESSED]
    assert len(suppressed) == 4
    assert all(r.suppressed == "cooldown" and "600s cooldown" in r.reason for r in suppressed)
    client = daemon.client
    assert client.sample("fluxora_scaling_suppressed_total", group=STAGING, reason="cooldown") == 4
    assert (
        client.sample(
            "fluxora_scaling_actions_total", group=STAGING, direction="out", result="applied"
        )
        == 1
    )
    assert client.sample("fluxora_asg_desired_capacity", group=STAGING) == 4


def backlog_alert(status: str, fingerprint: str, env: str = "staging") -> dict[str, Any]:
    labels = {"alertname": "FluxoraForecastQueueBacklog", "env": env, "queue": "day-ahead"}
    return {
        "version": "4",
        "status": status,
        "receiver": "fluxora-orchestrator",
        "groupKey": '{}:{alertname="FluxoraForecastQueueBacklog"}',
        "alerts": [
            {
                "status": status,
                "labels": {**labels, "severity": "warning"},
                "annotations": {},
                "startsAt": "2026-11-26T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": fingerprint,
            }
        ],
    }


# --- the DR lock, approval and the CLI ------------------------------------------------------------


def test_no_scale_in_while_a_drill_holds_the_dr_lock(
    groups: dict[str, int], daemon_with: Callable[..., Daemon]
) -> None:
    daemon = daemon_with(policies())
    drill = Job(
        runbook="restore-drill",
        env="staging",
        lock_key="dr/staging",
        status=JobStatus.RUNNING,
    )
    with daemon_store(daemon) as store:
        store.add_job(drill)
    blocked = scale(daemon, STAGING, "--by", "-1", "--env", "staging")
    assert blocked.returncode == 1, blocked
    assert "fluxora-orch: not scaled (dr-lock)" in blocked.stderr
    assert f"no scale-in while job {drill.id} (restore-drill, running)" in blocked.stdout
    assert scaling.desired(STAGING) == 2
    out = scale(daemon, STAGING, "--by", "+1", "--env", "staging")
    assert out.returncode == 0, out
    assert "scaled out 2 -> 3" in out.stdout

    with daemon_store(daemon) as store:
        done = Journal.start(drill).finish(RunStatus.COMPLETED)
        store.finish_jobs([Completion(job_id=drill.id, status=JobStatus.COMPLETED, journal=done)])
    after = scale(daemon, STAGING, "--by", "-1", "--env", "staging")
    assert after.returncode == 0, after
    assert scaling.desired(STAGING) == 2
    assert [r.suppressed for r in history(daemon, STAGING)] == ["dr-lock", None, None]


def test_prod_scale_in_beyond_the_approval_step_waits_for_approval(
    groups: dict[str, int], daemon_with: Callable[..., Daemon]
) -> None:
    daemon = daemon_with(policies())
    asked = scale(daemon, PROD, "--to", "1", "--env", "prod", "--json")
    # prod's approval step is 1 in this test: a scale-in by 1 needs no approval
    assert asked.returncode == 0, asked
    assert scaling.desired(PROD) == 1
    scaling_out = scale(daemon, PROD, "--to", "4", "--env", "prod")
    assert scaling_out.returncode == 0, scaling_out
    gated = scale(daemon, PROD, "--by", "-3", "--env", "prod", "--json")
    assert gated.returncode == 0, gated
    outcome = json.loads(gated.stdout)
    assert outcome["suppressed"] == "approval-required"
    job_id = outcome["approval_job"]
    assert outcome["reason"] == (
        f"scale-in by 3 exceeds the approval step 1; job {job_id} awaits approval"
    )
    assert scaling.desired(PROD) == 4
    approved = cli("approve", job_id, "--by", "alice", *daemon.settings())
    assert approved.returncode == 0, approved
    assert daemon.client.finished_job(job_id)["status"] == "completed"
    assert scaling.desired(PROD) == 1
    results = [(r.result, r.suppressed, r.target) for r in history(daemon, PROD)]
    assert results == [
        (ScalingResult.APPLIED, None, 1),
        (ScalingResult.APPLIED, None, 4),
        (ScalingResult.SUPPRESSED, "approval-required", 1),
        (ScalingResult.APPLIED, None, 1),
    ]


def test_scale_cli_sets_steps_and_plans(
    groups: dict[str, int], daemon_with: Callable[..., Daemon]
) -> None:
    daemon = daemon_with(policies())
    plan = scale(daemon, STAGING, "--to", "5", "--env", "staging", "--dry-run")
    assert plan.returncode == 0, plan
    assert plan.stdout.startswith(f"{STAGING} (staging): would scale out 2 -> 5")
    assert scaling.desired(STAGING) == 2
    assert history(daemon, STAGING) == []

    clamped = scale(daemon, STAGING, "--to", "50", "--env", "staging", "--json")
    assert clamped.returncode == 0, clamped
    assert '"clamp": "requested 50 clamped to max 6"' in clamped.stdout
    assert scaling.desired(STAGING) == 6
    unchanged = scale(daemon, STAGING, "--by", "+2", "--env", "staging")
    assert unchanged.returncode == 0, unchanged
    assert "desired capacity is already 6" in unchanged.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["fluxora-staging-api", "--to", "3"],
            1,
            "unknown group 'fluxora-staging-api' in env "
            "'staging' (groups of staging: fluxora-staging-worker)",
        ),
        (
            [PROD, "--to", "3"],
            1,
            "group 'fluxora-prod-worker' belongs to env 'prod', not 'staging'",
        ),
        ([STAGING, "--to", "-1"], 1, "--to: capacity must be 0 or more, got -1"),
        ([STAGING, "--to", "three"], 2, "argument --to: invalid int value: 'three'"),
        ([STAGING, "--by", "1.5"], 2, "argument --by: invalid int value: '1.5'"),
        ([STAGING, "--by", "0"], 1, "--by: must not be 0"),
        ([STAGING], 2, "one of the arguments --to --by is required"),
    ],
)
def test_bad_scale_requests_change_nothing(
    groups: dict[str, int],
    daemon_with: Callable[..., Daemon],
    args: list[str],
    code: int,
    message: str,
) -> None:
    daemon = daemon_with(policies())
    before = {name: scaling.describe(name) for name in groups}
    result = scale(daemon, *args, "--env", "staging")
    assert result.returncode == code, result
    assert message in result.stderr
    assert {name: scaling.describe(name) for name in groups} == before
    assert daemon.client.get("/api/events") == []


# --- the whole loop -------------------------------------------------------------------------------

ALERT = "FluxoraForecastQueueBacklog"
COOLDOWN = 4.0


@pytest.fixture
def exporter() -> Iterator[QueueDepthExporter]:
    served = QueueDepthExporter(env="staging", queue="day-ahead")
    yield served
    served.stop()


def _stack(
    start: Callable[..., MonitoringStack], exporter: QueueDepthExporter, daemon: Daemon, tmp: Path
) -> MonitoringStack:
    token_file = tmp / "orchestrator-token"
    token_file.write_text(TOKEN + "\n")
    return start(
        targets={"fluxora-forecast": [exporter.address]},
        labels={"env": "staging"},
        orchestrator_url=daemon.server.url,
        token_file=token_file,
        alert_for={ALERT: "0s"},
    )


def _alert_events(daemon: Daemon, status: str) -> list[dict[str, Any]]:
    tag = f"fluxora/alert/{ALERT}/{status}"
    return list(daemon.client.get(f"/api/events?tag={tag}"))


def test_backlog_scales_the_workers_out_and_back_in_step_by_step(
    groups: dict[str, int],
    daemon_with: Callable[..., Daemon],
    monitoring_stack: Callable[..., MonitoringStack],
    exporter: QueueDepthExporter,
    tmp_path: Path,
) -> None:
    # The settle schedule runs every second here instead of every ten minutes.
    settle = scaling.shipped_schedule("forecast-scale-in-settle", interval="1s")
    daemon = daemon_with(policies(cooldown_seconds=COOLDOWN, warmup_seconds=2), schedules=[settle])
    stack = _stack(monitoring_stack, exporter, daemon, tmp_path)

    exporter.depth.set(800)
    stack.prometheus_api.wait_for_firing(ALERT, timeout=90)
    wait_until(lambda: scaling.desired(STAGING) == 4, 90, "the scale-out to 4")
    exporter.depth.set(0)
    wait_until(lambda: bool(_alert_events(daemon, "resolved")), 90, "the resolved notification")
    wait_until(lambda: scaling.desired(STAGING) == 2, 90, "the scale-in back to the baseline")
    wait_until(
        lambda: history(daemon, STAGING)[-1].result is ScalingResult.UNCHANGED,
        30,
        "a settle step at the baseline",
    )

    rows = history(daemon, STAGING)
    applied = [r for r in rows if r.result is ScalingResult.APPLIED]
    assert [(r.direction, r.current, r.target) for r in applied] == [
        ("out", 2, 4),
        ("in", 4, 3),
        ("in", 3, 2),
    ]
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(applied)]
    assert all(gap >= COOLDOWN for gap in gaps), gaps
    assert scaling.desired(STAGING) == 2
    # While the alert fired, the settle steps did not scale in (no intent, or the cooldown or
    # warmup after the scale-out); the first step in came after the resolved notification.
    before_resolve = [r for r in rows if r.at < applied[1].at and r.direction == "in"]
    assert {r.suppressed for r in before_resolve} <= {"no-scale-in-intent", "cooldown", "warmup"}
    (resolved,) = _alert_events(daemon, "resolved")
    assert applied[1].at >= datetime.fromisoformat(resolved["received_at"])
    (firing,) = _alert_events(daemon, "firing")
    fired = {d["rule"]: d for d in daemon.client.explain(firing["id"])["decisions"]}
    assert fired["forecast-backlog-scale-out"]["decision"] == "fired"
    decided = {d["rule"]: d for d in daemon.client.explain(resolved["id"])["decisions"]}
    assert decided["forecast-backlog-scale-in"]["decision"] == "fired"
    assert daemon.client.sample("fluxora_asg_desired_capacity", group=STAGING) == 2


@pytest.mark.parametrize(
    ("tag", "data", "error"),
    [
        ("to", {"capacity": -3}, "params.capacity: Input should be greater than or equal to 0"),
    ],
)
def test_a_bad_request_sent_past_the_cli_fails_its_job_and_changes_nothing(
    groups: dict[str, int],
    daemon_with: Callable[..., Daemon],
    tag: str,
    data: dict[str, Any],
    error: str,
) -> None:
    daemon = daemon_with(policies())
    request = {"group": STAGING, "env": "staging", **data}
    answer = daemon.client.post_event(f"fluxora/request/scale/{tag}", request)
    job_id = daemon.client.fired_job(answer.body["id"], f"scale-request-{tag}")
    job = daemon.client.finished_job(job_id)
    assert job["status"] == "aborted"
    assert error in job["journal"]["error"]
    assert scaling.desired(STAGING) == 2
    assert daemon.client.get("/healthz") == {"status": "ok"}  # the daemon keeps running


def test_a_mistyped_request_is_refused_before_any_job_naming_the_parameter(
    groups: dict[str, int], daemon_with: Callable[..., Daemon]
) -> None:
    daemon = daemon_with(policies())
    request = {"group": STAGING, "env": "staging", "by": "many"}
    answer = daemon.client.post_event("fluxora/request/scale/out", request)
    decisions = daemon.client.decided(answer.body["id"])["decisions"]
    (decision,) = [d for d in decisions if d["rule"] == "scale-request-out"]
    assert (decision["decision"], decision["job_id"]) == ("rejected", None)
    assert decision["reason"] == (
        "runbook 'scale-out': parameter 'by': must be an integer, got str 'many'"
    )
    assert scaling.desired(STAGING) == 2


def test_a_request_for_an_unknown_group_is_refused_before_any_job(
    groups: dict[str, int], daemon_with: Callable[..., Daemon]
) -> None:
    daemon = daemon_with(policies())
    request = {"group": "fluxora-staging-nope", "env": "staging", "by": 1}
    answer = daemon.client.post_event("fluxora/request/scale/in", request)
    decisions = daemon.client.decided(answer.body["id"])["decisions"]
    (decision,) = [d for d in decisions if d["rule"] == "scale-request-in"]
    assert (decision["decision"], decision["job_id"]) == ("rejected", None)
    assert decision["reason"].startswith(
        "runbook 'scale-in': parameter 'group': 'fluxora-staging-nope' is not one of the "
        "configured scaling_groups (configured: "
    )
    assert scaling.desired(STAGING) == 2
