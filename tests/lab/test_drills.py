"""staging's scheduled work, run through the daemon orch.deploy installed on its ops host.

Each schedule is fired by the operator's command on the ops host (`fluxora-orch schedules run
NAME`, the normal event path: signed event, rules, job); its job is then followed through the
daemon's HTTP API on the host's lab address, and its RTO/RPO read from the job's journal."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest

from tests.harness.lab import Lab
from tests.harness.moto import REGION
from tests.harness.processes import wait_until
from tests.lab.conftest import Deployed

# The first lab test carries the session lab's up and deploy (3-8 min on 2 busy cores).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

OPS = "stg-ops-1"
FLUXORA_ORCH = "/opt/fluxora/venv/bin/fluxora-orch"
CONFIG = "/etc/fluxora/orchestrator.yml"
API_PORT = 8470


def orch_cli(lab: Lab, *args: str) -> Any:
    """`fluxora-orch ARGS --json` on the ops host, as an operator runs it there."""
    result = lab.run(OPS, [FLUXORA_ORCH, *args, "--json", "--config", CONFIG], timeout=120)
    assert result.returncode == 0, f"fluxora-orch {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)


def api(lab: Lab, path: str) -> Any:
    """GET /api/PATH from the deployed daemon, at its host's lab address."""
    url = f"http://{lab.hosts[OPS].lab_address}:{API_PORT}/api/{path}"
    with urllib.request.urlopen(url, timeout=10) as response:  # nosec B310: http lab address
        return json.load(response)


FINISHED = {"completed", "failed", "aborted", "interrupted", "rejected"}


def run_schedule(lab: Lab, name: str, timeout: float) -> dict[str, Any]:
    """Fire schedule `name` now and wait for its job to end; the job with its journal."""
    job_id = orch_cli(lab, "schedules", "run", name)["job_id"]
    done: dict[str, Any] = {}

    def finished() -> bool:
        done.update(api(lab, f"jobs/{job_id}"))
        return done["status"] in FINISHED

    wait_until(finished, timeout, f"job {job_id} of schedule {name} to end")
    return done


def dr_report(job: dict[str, Any]) -> dict[str, Any]:
    return ((job.get("journal") or {}).get("extensions") or {}).get("dr") or {}


def assert_completed(job: dict[str, Any]) -> None:
    steps = [(s["name"], s["status"], s["error"]) for s in (job["journal"] or {})["steps"]]
    assert job["status"] == "completed", (job["status"], job["journal"].get("error"), steps)


def rto_rpo(name: str, job: dict[str, Any]) -> str:
    dr = dr_report(job)
    return (
        f"{name}: RTO {dr.get('rto_seconds')} s, RPO {dr.get('rpo_seconds')} s ({dr.get('policy')})"
    )


# Every schedule staging ships (defaults.sls, fleet.sls, staging.sls); each one's work runs below,
# but base-backup's: test_pitr_leader.py plans it through this daemon (a dry run) and takes the
# backup through the master; run by the daemon on the ops host it fails, naming the salt CLI it
# has no access to (docs/OPERATIONS.md, point-in-time recovery, "Not done yet").
SHIPPED = {
    "base-backup",
    "backup-fluxora-logical",
    "backup-fluxora-physical",
    "restore-verify-fluxora-logical",
    "drill-restore",
    "drill-failover",
    "drill-failback",
    "forecast-window-prescale",
    "forecast-window-scale-back",
    "forecast-scale-in-settle",
    "security-check",
}


def test_staging_schedules_are_the_shipped_ones(staging_deployed: Deployed) -> None:
    names = {row["name"] for row in orch_cli(staging_deployed.lab, "schedules", "list")}
    assert names == SHIPPED, names


# In this order (a restore-verify and the restore drill need a backup). A backup has an RPO
# target its run cannot measure ("unmeasured"); a restore must measure its targets and meet them.
@pytest.mark.parametrize(
    ("schedule", "policy"),
    [
        ("backup-fluxora-logical", "unmeasured"),
        ("backup-fluxora-physical", "unmeasured"),
        ("restore-verify-fluxora-logical", "met"),
        ("drill-restore", "met"),
    ],
)
def test_scheduled_work_meets_its_targets(
    staging_deployed: Deployed, schedule: str, policy: str
) -> None:
    job = run_schedule(staging_deployed.lab, schedule, timeout=600)
    print(f"\n{rto_rpo(schedule, job)}")
    assert_completed(job)
    assert dr_report(job).get("policy") == policy, dr_report(job)


# The Patroni members of staging's cluster (stg-dr-db-1 is a standalone server of its own).
MEMBERS = ("stg-db-1", "stg-db-2")
PATRONI_PORT = 8008


def patroni_cluster(lab: Lab) -> dict[str, dict[str, Any]]:
    """GET /cluster from the first member that answers: member name -> its entry."""
    errors = []
    for host in MEMBERS:
        url = f"http://{lab.hosts[host].lab_address}:{PATRONI_PORT}/cluster"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # nosec B310: lab address
                return {m["name"]: m for m in json.load(response)["members"]}
        except OSError as exc:
            errors.append(f"{host}: {exc}")
    raise AssertionError(f"no Patroni REST API answered: {errors}")


def psql(lab: Lab, host: str, query: str) -> str:
    """`query` on `host`'s PostgreSQL over its socket, as postgres; '' when it is down."""
    argv = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", "postgres", "-c", query]
    result = lab.run(host, argv, timeout=30)
    return result.stdout.strip() if result.returncode == 0 else ""


def one_writer_one_streaming_replica(lab: Lab) -> tuple[str, str]:
    """(writer, replica): Patroni names one leader and the other member a replica on its
    timeline, exactly one server accepts writes, and the replica's WAL receiver streams from
    the writer. Polled: after its job the old leader may still be catching up."""
    seen: dict[str, Any] = {}

    def settled() -> bool:
        try:
            members = patroni_cluster(lab)
        except AssertionError as exc:
            seen.update(members=str(exc))
            return False
        writable = [h for h in MEMBERS if psql(lab, h, "SELECT NOT pg_is_in_recovery()") == "t"]
        seen.update(members=members, writable=writable)
        leaders = [m for m in members.values() if m["role"] == "leader"]
        if len(leaders) != 1 or writable != [leaders[0]["name"]]:
            return False
        (replica,) = set(MEMBERS) - {leaders[0]["name"]}
        entry = members.get(replica, {})
        receiver = psql(lab, replica, "SELECT status FROM pg_stat_wal_receiver")
        seen.update(receiver=receiver)
        return (
            entry.get("role") in ("replica", "sync_standby")
            and entry.get("state") in ("running", "streaming")
            and entry.get("timeline") == leaders[0].get("timeline")
            and receiver == "streaming"
        )

    try:
        wait_until(settled, 120, "one writer and a streaming replica")
    except Exception as exc:
        raise AssertionError(f"{exc}: {seen}") from None
    writer = seen["writable"][0]
    (replica,) = set(MEMBERS) - {writer}
    return writer, replica


def test_planned_failover_then_failback(staging_deployed: Deployed) -> None:
    """drill-failover (planned: a Patroni switchover) hands the lead to the replica, and
    drill-failback hands it back; after each, one writer and the other node streaming from
    it, and both runs measure RTO and RPO within the runbooks' targets."""
    lab = staging_deployed.lab
    before, _ = one_writer_one_streaming_replica(lab)
    for schedule in ("drill-failover", "drill-failback"):
        job = run_schedule(lab, schedule, timeout=600)
        print(f"\n{rto_rpo(schedule, job)}")
        assert_completed(job)
        dr = dr_report(job)
        assert dr.get("policy") == "met", dr
        targets = dr["targets"]
        for measured in ("rto_seconds", "rpo_seconds"):
            assert dr[measured] is not None, dr
            assert dr[measured] <= targets[measured], dr
        writer, _ = one_writer_one_streaming_replica(lab)
        expected = before if schedule == "drill-failback" else ({*MEMBERS} - {before}).pop()
        assert writer == expected, (schedule, writer, expected)


WORKER = "fluxora-staging-worker"
BASELINE = 2  # fluxora:scaling:groups:worker:desired in staging.sls
PRESCALE = 4  # forecast-window-prescale's capacity in staging.sls


def worker_desired(lab: Lab) -> int:
    """The worker group's desired capacity, as AWS (the lab's moto server) has it."""
    client = boto3.client(
        "autoscaling",
        endpoint_url=lab.aws_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",  # moto's documented dummy keys
        aws_secret_access_key="testing",  # nosec B106: not a secret
    )
    (group,) = client.describe_auto_scaling_groups(AutoScalingGroupNames=[WORKER])[
        "AutoScalingGroups"
    ]
    return int(group["DesiredCapacity"])


def scaling_decision(job: dict[str, Any]) -> dict[str, Any]:
    """The output of the job's one scaling step: the decision and its result."""
    (step,) = job["journal"]["steps"]
    return dict(step["output"] or {})


def test_forecast_window_prescale_then_scale_back(staging_deployed: Deployed) -> None:
    """forecast-window-prescale sets the workers to the window's capacity, and
    forecast-window-scale-back to their baseline; the settle step after it has nothing left
    to do. The lab's pillar cuts the workers' cooldown and warmup to 1 s and drops their
    protection window (conftest's LAB_OVERRIDES): the three hours between the two schedules are
    not waited for."""
    lab = staging_deployed.lab
    assert worker_desired(lab) == BASELINE
    for schedule, capacity in (
        ("forecast-window-prescale", PRESCALE),
        ("forecast-window-scale-back", BASELINE),
    ):
        job = run_schedule(lab, schedule, timeout=300)
        print(f"\n{rto_rpo(schedule, job)}")
        assert_completed(job)
        decision = scaling_decision(job)
        assert decision.get("result") == "applied", decision
        assert worker_desired(lab) == capacity, (schedule, decision)
    job = run_schedule(lab, "forecast-scale-in-settle", timeout=300)
    assert_completed(job)
    assert scaling_decision(job).get("result") == "unchanged", scaling_decision(job)
    assert worker_desired(lab) == BASELINE


def test_security_check_finds_nothing_after_the_deploy(staging_deployed: Deployed) -> None:
    job = run_schedule(staging_deployed.lab, "security-check", timeout=300)
    assert_completed(job)
    (step,) = job["journal"]["steps"]
    assert step["output"].get("findings") == [], step["output"]
