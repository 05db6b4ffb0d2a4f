"""A real daemon SIGKILLed in the middle of a drill (fixture runbook `drill`, driven by files):
the next start resumes the run from its journal — rollbacks rendered from the recorded step
outputs, invariants checked again — and the drill metrics and alert say what happened."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.fluxora import Daemon, start_daemon
from tests.harness.processes import wait_until
from tests.harness.prometheus import binary
from tests.integration.test_dr_hooks import DRILL, holding, request

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus" / "rules"


def kill(daemon: Daemon) -> None:
    """SIGKILL the daemon; its job worker dies with it (PR_SET_PDEATHSIG)."""
    worker = daemon.job_worker_pid()
    daemon.server.popen.send_signal(signal.SIGKILL)
    daemon.server.popen.wait(10)
    wait_until(lambda: not Path(f"/proc/{worker}").exists(), 10, "the job worker gone")


def resumed_drill(tmp_path: Path, breaks_invariant: bool) -> tuple[dict[str, Any], float, float]:
    """A completed drill, then one killed in its hold step, then the daemon restarted: the
    killed job once resumed, and the drill status before the kill and after the resume."""
    daemon = start_daemon(tmp_path)
    try:
        daemon.client.finished_job(request(daemon, "drill", dir=str(tmp_path)))
        before = daemon.client.sample("fluxora_drill_last_status", **DRILL)
        job_id = request(daemon, "drill", dir=str(tmp_path), seconds=600)
        holding(daemon, job_id)
        if breaks_invariant:
            (tmp_path / "no-writer").touch()
    finally:
        kill(daemon)
    daemon = daemon.restart()
    try:
        wait_until(lambda: not daemon.client.job(job_id)["journal"]["rollbacks_pending"], 30,
                   "the interrupted job resumed")  # fmt: skip
        job = daemon.client.job(job_id)
        after = daemon.client.sample("fluxora_drill_last_status", **DRILL)
    finally:
        assert daemon.stop() == 0
    return job, before, after


def test_a_run_killed_mid_step_rolls_back_from_its_journal_and_rechecks_its_invariants(
    tmp_path: Path,
) -> None:
    job, before, after = resumed_drill(tmp_path, breaks_invariant=False)
    journal = job["journal"]
    assert job["status"] == "interrupted"
    assert journal["error"].startswith("the daemon stopped during step 'hold'")
    undo = {r["name"]: r for r in journal["rollbacks"]}
    assert [r["status"] for r in journal["rollbacks"]] == ["ok", "ok", "ok"]
    assert undo["undo-first"]["output"] == {"message": "undo first after drill started"}
    rechecks = journal["extensions"]["invariants"]
    assert [(c["name"], c["ok"]) for c in rechecks] == [("stop-file", True),
                                                         ("writer-present", True)]  # fmt: skip
    assert (before, after) == (1, 0)  # an interrupted drill did not complete


def test_a_broken_invariant_after_a_crash_fails_the_job_and_fires_the_drill_alert(
    tmp_path: Path,
) -> None:
    job, before, after = resumed_drill(tmp_path, breaks_invariant=True)
    assert job["status"] == "failed"
    assert "check 'writer-present' (check.file) failed" in job["journal"]["error"]
    assert [r["status"] for r in job["journal"]["rollbacks"]] == ["ok", "ok", "ok"]
    assert promtool_drill_alert(tmp_path, [before], fires=False) == ""
    assert promtool_drill_alert(tmp_path, [before, after], fires=True) == ""


def promtool_drill_alert(workdir: Path, statuses: list[float], fires: bool) -> str:
    """`promtool test rules`: the shipped rules on these scraped values of
    `fluxora_drill_last_status` (one a minute) fire FluxoraDrillFailed at the last one, or not.
    promtool's output when the expectation is wrong, else ''."""
    summary = "The last drill drill in dev did not complete with its RTO and RPO targets met"
    alert = {
        "exp_labels": {"severity": "critical", "component": "drills", **DRILL},
        "exp_annotations": {
            "summary": summary,
            "runbook_url": "dr_runbooks/docs/alerts/FluxoraDrillFailed.md",
        },
    }
    test = {
        "rule_files": [str(RULES / "drills.rules.yml")],
        "evaluation_interval": "1m",
        "group_eval_order": ["fluxora-drills-recording", "fluxora-drills"],
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": 'fluxora_drill_last_status{runbook="drill",env="dev"}',
                              "values": " ".join(f"{v:g}" for v in statuses)}],
            "alert_rule_test": [{"eval_time": f"{len(statuses) - 1}m",
                                 "alertname": "FluxoraDrillFailed",
                                 "exp_alerts": [alert] if fires else []}],
        }],
    }  # fmt: skip
    path = workdir / "drill-alert.test.yml"
    path.write_text(yaml.safe_dump(test))
    done = subprocess.run([binary("promtool"), "test", "rules", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    return "" if done.returncode == 0 else done.stdout + done.stderr
