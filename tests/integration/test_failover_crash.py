"""SIGKILL the daemon after each step of failover and of failback in turn (a real
`fluxora-orch run`, a real Patroni cluster, a client writing through the service endpoint
every 50 ms). After the restart resumes the run, exactly one node accepts writes,
every write the client saw acknowledged is on it, and the journal and the drill metrics say
what happened.

"After step N" is exact: the shipped runbook is run with one `wait` step inserted after step
N, and the daemon is killed while that step is in progress (nothing after N has acted)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from orchestrator.engine.runbooks.catalog import default_runbooks_dir
from orchestrator.families.postgres import endpoint
from orchestrator.families.postgres.probe import WriteProbe, present_rows
from orchestrator.families.postgres.topology import ClusterConfig
from tests.harness import fluxora
from tests.harness.failover import CLUSTER, service_probe
from tests.harness.patroni import PatroniCluster, cluster_entry
from tests.harness.processes import wait_until
from tests.integration.test_failover_daemon import RULES, run_job

pytestmark = pytest.mark.integration

PAUSE = "paused-for-the-kill"


def step_names(runbook: str) -> list[str]:
    raw = yaml.safe_load((default_runbooks_dir() / f"{runbook}.yaml").read_text())
    return [step["name"] for step in raw["steps"]]


# After the last step the run is over: nothing to interrupt. Failover as a planned switchover
# and as the drill that crashes the primary (from the step that crashes it); failback is planned.
_FAILOVER_STEPS = step_names("postgres-failover")[:-1]
CASES = [
    *[("postgres-failover", s, "planned") for s in _FAILOVER_STEPS],
    *[("postgres-failover", s, "unplanned")
      for s in _FAILOVER_STEPS[_FAILOVER_STEPS.index("handover"):]],
    *[("postgres-failback", s, "planned") for s in step_names("postgres-failback")[:-1]],
]  # fmt: skip


def runbooks_with_pause(directory: Path, runbook: str, after: str) -> Path:
    """The shipped runbooks, `runbook` with a long wait step inserted after step `after`."""
    directory.mkdir()
    for source in default_runbooks_dir().glob("*.yaml"):
        raw = yaml.safe_load(source.read_text())
        if raw["name"] == runbook:
            index = [s["name"] for s in raw["steps"]].index(after) + 1
            pause = {"name": PAUSE, "action": "wait", "params": {"seconds": 600}, "timeout": "20m"}
            raw["steps"].insert(index, pause)
        (directory / source.name).write_text(yaml.safe_dump(raw, sort_keys=False))
    return directory


@dataclass(frozen=True)
class Lab:
    cluster: PatroniCluster
    service_file: Path

    def topology(self) -> dict[str, Any]:
        return {"dev": {CLUSTER: cluster_entry(self.cluster, self.service_file)}}

    @property
    def home(self) -> str:
        return str(self.topology()["dev"][CLUSTER]["home"])

    def writers(self) -> list[str]:
        return self.cluster.writers()

    def ready(self) -> str:
        """One leader, every other node its sync standby (whatever the last case left; a node
        a drill crashed is started again), the multi-host section written: the leader."""
        writer = self.cluster.heal()
        cluster = ClusterConfig.model_validate(self.topology()["dev"][CLUSTER])
        endpoint.follow(cluster, writer, None)
        return writer


@pytest.fixture(scope="module")
def lab(patroni_cluster: PatroniCluster, tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """The session's Patroni cluster for every case: each starts from one leader and its
    sync standby."""
    made = Lab(patroni_cluster, tmp_path_factory.mktemp("crash-lab") / "pg_service.conf")
    made.ready()
    return made


def kill_when_paused(daemon: fluxora.Daemon, job_id: str) -> dict[str, Any]:
    """SIGKILL the daemon (its job worker dies with it) while the pause step runs; the
    journal as it was stored then."""

    def paused() -> bool:
        journal = daemon.client.job(job_id)["journal"]
        return bool(journal and (journal.get("current") or {}).get("name") == PAUSE)

    wait_until(paused, 180, f"job {job_id} in its pause step")
    stored = daemon.client.job(job_id)["journal"]
    worker = daemon.job_worker_pid()
    daemon.server.popen.send_signal(signal.SIGKILL)
    daemon.server.popen.wait(10)
    wait_until(lambda: not Path(f"/proc/{worker}").exists(), 10, "the job worker gone")
    return dict(stored)


def fire_and_kill(
    daemon: fluxora.Daemon, rule: str, data: dict[str, Any]
) -> tuple[str, dict[str, Any], fluxora.Daemon]:
    """Fire `fluxora/test/<rule>`, SIGKILL the daemon in the job's pause step, start it again:
    the job id, its journal as stored at the kill, the restarted daemon."""
    posted = daemon.client.post_event(f"fluxora/test/{rule}", data)
    job_id = daemon.client.fired_job(posted.body["id"], rule)
    stored = kill_when_paused(daemon, job_id)
    return job_id, stored, daemon.restart()


def wait_resumed(daemon: fluxora.Daemon, job_id: str) -> None:
    wait_until(lambda: not daemon.client.job(job_id)["journal"]["rollbacks_pending"],
               180, "the interrupted job resumed")  # fmt: skip


def acknowledged_rows_missing(probe: WriteProbe, lab: Lab, writer: str) -> set[int]:
    with psycopg.connect(lab.cluster.nodes[writer].dsn(), autocommit=True) as conn:
        present = present_rows(conn, probe.probe_id)
    return {w.seq for w in probe.writes() if w.ok} - present


def interrupt(tmp_path: Path, lab: Lab, case: tuple[str, str, str]) -> dict[str, Any]:
    """Run the case's runbook (failback after a planned failover, when home is the writer;
    failover in its mode, `unplanned` crashing the leader's node), kill the daemon after the case's
    step, restart it; the resumed job with the journal stored at the kill and the drill
    status after the restart, checked with the client's probe running throughout."""
    runbook, after, mode = case
    writer = lab.ready()
    daemon = fluxora.start_daemon(
        tmp_path, rules=RULES, postgres_clusters=lab.topology(), shutdown_grace_seconds=1,
        runbooks_dir=str(runbooks_with_pause(tmp_path / "runbooks", runbook, after)),
    )  # fmt: skip
    probe = service_probe(f"crash-{runbook}-{after}-{mode}").start()
    try:
        assert probe.wait_for_writes(5, 30)
        if runbook == "postgres-failback" and writer == lab.home:
            failover = run_job(daemon, "failover", {"mode": "planned", "inject_fault": False})
            assert failover["status"] == "completed", failover["journal"]["error"]
        rule = "failover" if runbook == "postgres-failover" else "failback"
        data = {"mode": mode, "inject_fault": mode == "unplanned"} if rule == "failover" else {}
        job_id, stored, restarted = fire_and_kill(daemon, rule, data)
        try:
            wait_resumed(restarted, job_id)
            job = restarted.client.job(job_id)
            status = restarted.client.sample("fluxora_drill_last_status", runbook=runbook,
                                             env="dev")  # fmt: skip
            assert probe.wait_for_writes(sum(w.ok for w in probe.writes()) + 5, 30)
        finally:
            assert restarted.stop() == 0
    finally:
        probe.stop()
    found = lab.writers()
    assert len(found) == 1, f"writers after the resumed run: {found}"
    missing = acknowledged_rows_missing(probe, lab, found[0])
    return {"job": job, "stored": stored, "drill_status": status, "missing": missing}


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_sigkill_after_a_step_leaves_one_writer_and_every_acknowledged_row(
    tmp_path: Path, lab: Lab, case: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGSERVICEFILE", str(lab.service_file))  # the client's endpoint
    after = case[1]
    outcome = interrupt(tmp_path, lab, case)
    job, journal = outcome["job"], outcome["job"]["journal"]
    assert outcome["missing"] == set()
    done = [s["name"] for s in outcome["stored"]["steps"] if s["phase"] == "step"]
    assert done[-1] == after  # every step up to `after` on record before the kill
    assert job["status"] == "interrupted", journal["error"]
    assert journal["error"].startswith(f"the daemon stopped during step '{PAUSE}'")
    assert journal["rollbacks"]
    assert [r["error"] for r in journal["rollbacks"] if r["status"] != "ok"] == []
    assert all(check["ok"] for check in journal["extensions"]["invariants"])
    assert outcome["drill_status"] == 0
