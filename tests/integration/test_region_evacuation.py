"""Region evacuation on real parts: a PostgreSQL home node archiving its WAL through
fluxora-wal-archive to two buckets of the moto server (the DR copy in the DR region), segments
closed every 5 s by `fluxora-wal-archive --switch` as shipped, a barman-cloud base backup; the
shipped runbook crashes the home node (a drill), restores the DR node from the DR copy up to
the newest archived WAL, scales the DR groups and points Route53 at the DR node. Its write
probe measures the recovery point: the target is 15 s.

The runbook stopped after any step (a failing step inserted there: its rollbacks are what an
interrupted run's resume runs) leaves exactly one writer, the home node, and no DR node."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from orchestrator.app.config import Config, load_config
from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.journal import Journal, RunStatus
from orchestrator.core.runbooks import RunbookSpec
from orchestrator.engine.runbooks.catalog import default_runbooks_dir, load_catalog
from orchestrator.families.backup import pitr as barman_pitr
from orchestrator.families.postgres import ha
from orchestrator.families.scaling.service import SCALING
from tests.harness import fluxora, pitr, postgres, scaling
from tests.harness.failover import resources, run_runbook, step_output
from tests.harness.moto import DR_REGION, REGION
from tests.harness.processes import ServerProcess, free_port, wait_until
from tests.integration.test_failover_crash import fire_and_kill, runbooks_with_pause, wait_resumed
from tests.integration.test_pitr import pitr_config

pytestmark = pytest.mark.integration

RECORD = "db.fluxora.internal."
HOME, DR = "a", "dr"
DR_GROUPS = {"fluxora-staging-api-dr": 2, "fluxora-staging-worker-dr": 3}
RPO_TARGET_SECONDS = 15.0
ROLLBACKS = ["stop_probe", "point_dns_home", "scale_dr_groups_to_zero", "remove_dr_node",
             "start_home"]  # fmt: skip


@dataclass
class Region:
    lab: pitr.ArchiveLab
    home: postgres.PgCluster
    dr_dir: Path
    dr_port: int
    zone_id: str
    moto_url: str

    def cluster(self) -> dict[str, Any]:
        ctl = ["pg_ctlcluster", "--skip-systemctl-redirect"]
        home = {
            "host": postgres.SOCKET_DIR, "port": self.home.port, "connect_timeout_seconds": 2,
            "dns_name": "db-a.fluxora.internal",
            "fault_command": [*ctl, "--mode=immediate", self.home.version, self.home.name, "stop"],
            "start_command": [*ctl, self.home.version, self.home.name, "start"],
        }  # fmt: skip
        dr = {"host": str(self.dr_dir), "port": self.dr_port, "connect_timeout_seconds": 2,
              "dns_name": "db.eu-central-1.fluxora.internal"}  # fmt: skip
        return {
            "home": HOME, "nodes": {HOME: home, DR: dr}, "dr_node": DR,
            "endpoint": {"kind": "route53", "zone_id": self.zone_id, "record": RECORD},
        }  # fmt: skip

    def config(self, tmp_path: Path) -> Config:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(self.document(tmp_path)), encoding="utf-8")
        return load_config(config_file=path, environ={})

    def document(self, tmp_path: Path) -> dict[str, Any]:
        groups = {
            name: scaling.policy(
                "staging",
                min=0,
                max=4,
                desired=capacity,
                region=DR_REGION,
                cooldown_seconds=600,
                warmup_seconds=600,
            )
            for name, capacity in DR_GROUPS.items()
        }
        return {
            "env": "staging", "data_dir": str(tmp_path / "data"), "rules": [],
            "aws": {"region": REGION, "dr_region": DR_REGION},
            "postgres_clusters": {"staging": {"main": self.cluster()}},
            "databases": {"staging": {"app": {"host": postgres.SOCKET_DIR, "port": self.home.port,
                                              "dbname": "postgres"}}},
            "backup": {"pitr": {"staging": pitr_config(self.lab, self.moto_url,
                                                       restore_dir=str(self.dr_dir.parent))}},
            "scaling": {"groups": groups},
        }  # fmt: skip

    def heal(self, config: Config) -> None:
        """The home node the only writer and named by the record; no DR node; DR groups at 0."""
        barman_pitr.remove_node(barman_pitr.Node(DR, self.dr_dir, self.dr_port), "postgres", None)
        if not self.home.is_ready():
            self.home.ctl("start")
            wait_until(self.home.is_ready, 30, "the home node back")
        pointed = run(context(config), "aws.route53.failover", cluster="main", node=HOME)
        assert pointed.ok, pointed.error
        for name in DR_GROUPS:
            boto3.client("autoscaling", region_name=DR_REGION).set_desired_capacity(
                AutoScalingGroupName=name, DesiredCapacity=0
            )


@pytest.fixture(scope="module")
def region(
    run_id: str, moto_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Region]:
    lab, home = pitr.archiving_source(run_id, moto_server.url, "evac")
    lab.options.update(pg_host=postgres.SOCKET_DIR, pg_port=home.port)  # switch every 5 s
    lab.write()
    switcher = pitr.start_switcher(lab)
    zone = boto3.client("route53").create_hosted_zone(
        Name="fluxora.internal", CallerReference=uuid.uuid4().hex
    )
    for group in DR_GROUPS:
        scaling.create_group(group, min_size=0, max_size=4, desired=0, region=DR_REGION)
    made = Region(
        lab, home, lab.root / "restores" / DR, free_port(),
        str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1], moto_server.url,
    )  # fmt: skip
    try:
        config = made.config(tmp_path_factory.mktemp("evac-backup"))
        backed_up = run(context(config), "postgres.base_backup")
        assert backed_up.ok, backed_up.error
        yield made
    finally:
        switcher.terminate()
        switcher.wait(10)
        barman_pitr.remove_node(barman_pitr.Node(DR, made.dr_dir, 0), "postgres", None)
        home.drop()
        shutil.rmtree(lab.root, ignore_errors=True)


def context(config: Config) -> ActionContext:
    return ActionContext(env="staging", resources=resources(config, "staging"))


def run(ctx: ActionContext, name: str, **params: Any) -> Any:
    action = builtin_registry().get(name)
    return action(ctx, action.parse(params))


def writers(config: Config) -> list[str]:
    return ha.writers(config.postgres_clusters["staging"]["main"])


def record_target() -> str:
    zone_ids = [z["Id"] for z in boto3.client("route53").list_hosted_zones()["HostedZones"]]
    for zone_id in zone_ids:
        page = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone_id)
        for record in page["ResourceRecordSets"]:
            if record["Name"] == RECORD and record.get("Failover") == "PRIMARY":
                return str(record["ResourceRecords"][0]["Value"])
    return ""


def dr_capacities() -> dict[str, int]:
    return {name: scaling.desired(name, DR_REGION) for name in DR_GROUPS}


def evacuate(config: Config, spec: RunbookSpec | None = None, probe_seconds: float = 20) -> Journal:
    """The drill as a job that holds the DR lock, as the runbook-request rule runs it."""
    given = resources(config, "staging")
    params = {"inject_fault": True, "probe_seconds": probe_seconds}
    store = context(config).resource(SCALING).store
    job = store.add_job(Job(runbook="region-evacuation", env="staging", params=params,
                            status=JobStatus.RUNNING, lock_key="dr/staging"))  # fmt: skip
    return run_runbook("region-evacuation", "staging", params, given, spec=spec, job=job)


def test_a_drill_restores_the_newest_archived_wal_into_the_dr_node_within_the_rpo_target(
    region: Region, tmp_path: Path
) -> None:
    config = region.config(tmp_path)
    region.heal(config)

    journal = evacuate(config)

    assert journal.status is RunStatus.COMPLETED, journal.error
    restored = step_output(journal, "restore")
    assert (restored["node"], restored["from_dr"], restored["port"]) == (DR, True, region.dr_port)
    measured = step_output(journal, "measure")["probe"]
    print(f"region evacuation drill: {measured}")  # the numbers for docs/BENCHMARKS.md
    assert measured["acknowledged"] > 200  # 20 s at home, one row every 50 ms
    assert len(measured["missing"]) < measured["acknowledged"]  # some were archived
    assert measured["rpo_seconds"] <= RPO_TARGET_SECONDS, measured
    assert measured["servers"]  # rows acknowledged at home and then on the DR node
    assert writers(config) == [DR]
    assert record_target() == "db.eu-central-1.fluxora.internal"
    assert dr_capacities() == DR_GROUPS
    assert step_output(journal, "verify_writes")["node"] == DR


def test_an_evacuation_is_refused_while_a_home_node_takes_writes(
    region: Region, tmp_path: Path
) -> None:
    config = region.config(tmp_path)
    region.heal(config)

    journal = run_runbook(
        "region-evacuation", "staging", {"inject_fault": False}, resources(config, "staging")
    )

    assert journal.status is RunStatus.FAILED
    assert f"home node(s) {HOME} still accept writes" in (journal.error or "")
    assert [r.name for r in journal.rollbacks] == ROLLBACKS
    assert writers(config) == [HOME]
    assert not region.dr_dir.exists()
    assert record_target() == "db-a.fluxora.internal"


def spec_failing_after(step: str, directory: Path) -> RunbookSpec:
    """The shipped runbook with a step that fails inserted after `step`."""
    raw = yaml.safe_load((default_runbooks_dir() / "region-evacuation.yaml").read_text())
    index = [s["name"] for s in raw["steps"]].index(step) + 1
    stop = {"name": "stopped-here", "action": "check.file",
            "params": {"path": "/nonexistent/fluxora", "exists": True}}  # fmt: skip
    raw["steps"].insert(index, stop)
    directory.mkdir()
    (directory / "region-evacuation.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_catalog(directory, builtin_registry()).get("region-evacuation")


STEPS = [s["name"] for s in yaml.safe_load(
    (default_runbooks_dir() / "region-evacuation.yaml").read_text())["steps"]][:-1]  # fmt: skip


@pytest.mark.parametrize("after", STEPS)
def test_a_drill_stopped_after_any_step_leaves_the_home_node_the_one_writer(
    region: Region, tmp_path: Path, after: str
) -> None:
    config = region.config(tmp_path)
    region.heal(config)

    journal = evacuate(config, spec_failing_after(after, tmp_path / "runbooks"), probe_seconds=1)

    assert journal.status is RunStatus.FAILED
    assert (journal.error or "").startswith("step 'stopped-here'"), journal.error
    assert [r.error for r in journal.rollbacks if r.error] == []
    assert writers(config) == [HOME]
    assert not region.dr_dir.exists()
    assert record_target() == "db-a.fluxora.internal"
    assert dr_capacities() == dict.fromkeys(DR_GROUPS, 0)
    if STEPS.index(after) >= STEPS.index("scale_dr_groups"):
        # The run undid its own scale-up inside the cooldown while holding the DR lock; any
        # other job is still held to the cooldown.
        other = ActionContext(
            env="staging", job_id="another-job", resources=context(config).resources
        )
        again = run(other, "aws.asg.set_dr_capacity")
        assert "inside its 600s cooldown" in (again.error or ""), again
    assert subprocess.run(["pg_isready", "-q", "-h", postgres.SOCKET_DIR, "-p",
                           str(region.home.port)], check=False).returncode == 0  # fmt: skip


# --- the daemon killed (SIGKILL) after each step ------------------------------------------------

RULES = [{"name": "evacuate", "match": "fluxora/test/evacuate", "run": "region-evacuation",
          "with": {"inject_fault": True, "probe_seconds": 1}}]  # fmt: skip


@pytest.mark.parametrize("after", STEPS)
def test_the_daemon_killed_after_any_step_resumes_to_the_home_node_the_one_writer(
    region: Region, tmp_path: Path, after: str
) -> None:
    """`fluxora-orch run` runs the drill with a long wait after `after` and is killed with
    SIGKILL in it; the restarted daemon runs the interrupted job's rollbacks."""
    config = region.config(tmp_path)
    region.heal(config)
    document = region.document(tmp_path)
    document.pop("data_dir")
    document["rules"] = RULES
    runbooks = runbooks_with_pause(tmp_path / "runbooks", "region-evacuation", after)
    daemon = fluxora.start_daemon(
        tmp_path, shutdown_grace_seconds=1, runbooks_dir=str(runbooks), **document
    )
    job_id, stored, restarted = fire_and_kill(daemon, "evacuate", {})
    try:
        wait_resumed(restarted, job_id)
        job = restarted.client.job(job_id)
    finally:
        assert restarted.stop() == 0
    journal = job["journal"]
    assert [s["name"] for s in stored["steps"] if s["phase"] == "step"][-1] == after
    assert job["status"] == "interrupted", journal["error"]
    assert [r["name"] for r in journal["rollbacks"]] == ROLLBACKS
    assert [r["error"] for r in journal["rollbacks"] if r["status"] != "ok"] == []
    assert all(check["ok"] for check in journal["extensions"]["invariants"])
    assert writers(config) == [HOME]
    assert not region.dr_dir.exists()
    assert record_target() == "db-a.fluxora.internal"
    assert dr_capacities() == dict.fromkeys(DR_GROUPS, 0)
