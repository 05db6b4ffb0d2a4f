"""staging's scheduled work, run through the daemon orch.deploy installed on its ops host.

Each schedule is fired by the operator's command on the ops host (`fluxora-orch schedules run
NAME`, the normal event path: signed event, rules, job); its job is then followed through the
daemon's HTTP API on the host's lab address, and its RTO/RPO read from the job's journal."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.harness.lab import Lab
from tests.harness.processes import wait_until
from tests.lab.conftest import Deployed

pytestmark = pytest.mark.integration

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


def test_staging_schedules_are_the_shipped_ones(staging_deployed: Deployed) -> None:
    names = {row["name"] for row in orch_cli(staging_deployed.lab, "schedules", "list")}
    assert {"backup-fluxora-logical", "restore-verify-fluxora-logical"} <= names, names
    assert {"drill-failover", "drill-failback"} <= names, names


# In this order (a restore-verify needs a backup). A backup has an RPO target its run cannot
# measure ("unmeasured"); restore-verify must measure its targets and meet them.
# drill-failover and drill-failback are not here yet: in the lab the planned switchover's old
# leader stays in Patroni's "demote in progress" after its postmaster stopped (minutes).
@pytest.mark.parametrize(
    ("schedule", "policy"),
    [
        ("backup-fluxora-logical", "unmeasured"),
        ("restore-verify-fluxora-logical", "met"),
    ],
)
def test_scheduled_work_meets_its_targets(
    staging_deployed: Deployed, schedule: str, policy: str
) -> None:
    job = run_schedule(staging_deployed.lab, schedule, timeout=600)
    print(f"\n{rto_rpo(schedule, job)}")
    assert_completed(job)
    assert dr_report(job).get("policy") == policy, dr_report(job)
