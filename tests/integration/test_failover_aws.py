"""The Route53 failover record on the moto server, and region evacuation: the newest backup
restored from its DR-region copy into the DR region's server, the DR region's pilot-light Auto
Scaling groups scaled up, Route53 pointed there; a failure scales them back to 0."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from orchestrator.app.config import Config, load_config
from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.journal import RunStatus
from orchestrator.core.results import Result
from orchestrator.families.scaling.history import History, Outcome
from tests.harness import scaling
from tests.harness.backup import scratch_database
from tests.harness.failover import config_for, node_entry, resources, run_runbook, step_output
from tests.harness.moto import DR_REGION
from tests.harness.postgres import SOCKET_DIR, PgPair
from tests.harness.processes import ServerProcess
from tests.harness.s3 import create_bucket, create_dr_bucket

RECORD = "db.fluxora.internal."
# The DR region's pilot-light groups (as the Salt AWS states make them: at 0, min 0) and their
# evacuation capacity (`desired` in their policy). Long cooldowns and warmups: an evacuation's
# rollback undoes its own scale-up at once anyway.
DR_GROUPS = {"fluxora-staging-api-dr": 2, "fluxora-staging-worker-dr": 3}
DR_POLICIES = {
    name: scaling.policy("staging", min=0, max=4, desired=capacity, region=DR_REGION,
                         cooldown_seconds=600, warmup_seconds=600)
    for name, capacity in DR_GROUPS.items()
}  # fmt: skip


def hosted_zone() -> str:
    route53 = boto3.client("route53")
    zone = route53.create_hosted_zone(Name="fluxora.internal", CallerReference=uuid.uuid4().hex)
    return str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def failover_records(zone_id: str) -> dict[str, str]:
    page = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone_id)
    return {
        r["Failover"]: r["ResourceRecords"][0]["Value"]
        for r in page["ResourceRecordSets"]
        if r["Name"] == RECORD and "Failover" in r
    }


def node(pair_member: Any, dns_name: str) -> dict[str, Any]:
    return {**node_entry(pair_member), "dns_name": dns_name}


def staging_config(tmp_path: Path, pair: PgPair, zone_id: str, **extra: Any) -> Config:
    nodes = {"a": node(pair.primary, "db-a.fluxora.internal"),
             "b": node(pair.replica, "db-b.fluxora.internal")}  # fmt: skip
    nodes.update(extra.pop("nodes", {}))
    cluster = {"home": "a", "nodes": nodes,
               "endpoint": {"kind": "route53", "zone_id": zone_id, "record": RECORD},
               **extra.pop("cluster", {})}  # fmt: skip
    document = {"env": "staging", "data_dir": str(tmp_path / "data"), "rules": [],
                "aws": {"dr_region": DR_REGION},
                "postgres_clusters": {"staging": {"main": cluster}}, **extra}  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_config(config_file=path, environ={})


def run(ctx: ActionContext, name: str, **params: Any) -> Result:
    action = builtin_registry().get(name)
    return action(ctx, action.parse(params))


def test_route53_failover_upserts_the_pair_and_dry_run_changes_nothing(
    tmp_path: Path, pg_pair: PgPair, moto_server: ServerProcess, aws_reset: None
) -> None:
    zone_id = hosted_zone()
    config = staging_config(tmp_path, pg_pair, zone_id)
    ctx = ActionContext(env="staging", resources=resources(config, "staging"))
    first = run(ctx, "aws.route53.failover", cluster="main", node="a")
    assert first.ok, first.error
    assert failover_records(zone_id) == {"PRIMARY": "db-a.fluxora.internal"}
    assert run(ctx, "postgres.roles", cluster="main").data["primary"] == "a"

    planned = run(ActionContext(env="staging", dry_run=True, resources=ctx.resources),
                  "aws.route53.failover", cluster="main", node="b")  # fmt: skip
    changes = planned.data["plan"]["change_batch"]["Changes"]
    assert [(c["Action"], c["ResourceRecordSet"]["Failover"]) for c in changes] == [
        ("UPSERT", "PRIMARY"), ("UPSERT", "SECONDARY")]  # fmt: skip
    assert failover_records(zone_id) == {"PRIMARY": "db-a.fluxora.internal"}

    moved = run(ctx, "endpoint.repoint", cluster="main", node="b")
    assert moved.ok, moved.error
    assert moved.data["before"] == "a"
    assert failover_records(zone_id) == {
        "PRIMARY": "db-b.fluxora.internal", "SECONDARY": "db-a.fluxora.internal"}  # fmt: skip
    assert run(ctx, "postgres.roles", cluster="main").data["primary"] == "b"


def test_route53_failover_refuses_a_service_file_endpoint(tmp_path: Path, pg_pair: PgPair) -> None:
    config = config_for(pg_pair, tmp_path)
    ctx = ActionContext(env="dev", resources=resources(config))
    refused = run(ctx, "aws.route53.failover", cluster="main", node="b")
    assert refused.error == (
        "cluster 'main' in dev has a service_file endpoint, not a Route53 record; "
        "use endpoint.repoint"
    )
    unknown = run(ctx, "endpoint.repoint", cluster="main", node="zz")
    assert unknown.error == "repoint main to zz: no node 'zz' in the cluster (nodes: a, b)"


@pytest.fixture
def dr_server(pg_pair_factory: Callable[[], PgPair]) -> PgPair:
    """The DR region's database server (its primary), separate from the source pair."""
    return pg_pair_factory()


@pytest.fixture
def source_db(pg_pair: PgPair) -> Iterator[str]:
    with scratch_database(pg_pair.primary) as name:
        yield name


@pytest.fixture
def evacuation(
    tmp_path: Path, pg_pair: PgPair, dr_server: PgPair, source_db: str, aws_reset: None
) -> Config:
    """Staging with the source pair at home, the DR region's server as node `dr`, backups in
    S3 with a DR-region copy, and restores going to the DR server."""
    pair, dr, dbname = pg_pair, dr_server, source_db
    zone_id = hosted_zone()
    for name in DR_GROUPS:
        scaling.create_group(name, min_size=0, max_size=4, desired=0, region=DR_REGION)
    return staging_config(
        tmp_path, pair, zone_id,
        nodes={"dr": node(dr.primary, "db.eu-central-1.fluxora.internal")},
        cluster={"dr_node": "dr"},
        databases={"staging": {"fluxora": {"host": SOCKET_DIR, "port": pair.primary.port,
                                           "dbname": dbname}}},
        objectstore={"kind": "s3", "bucket": create_bucket(), "region": "eu-west-1",
                     "dr": {"bucket": create_dr_bucket(), "region": DR_REGION}},
        backup={"restore_targets": {"staging": {"host": SOCKET_DIR, "port": dr.primary.port}}},
        scaling={"groups": DR_POLICIES},
    )  # fmt: skip


def dr_capacities() -> dict[str, int]:
    return {name: scaling.desired(name, DR_REGION) for name in DR_GROUPS}


def test_region_evacuation_restores_and_scales_up_in_the_dr_region_then_points_route53_there(
    evacuation: Config, pg_pair: PgPair, dr_server: PgPair, source_db: str
) -> None:
    config = evacuation
    given = resources(config, "staging")
    ctx = ActionContext(env="staging", resources=given)
    assert run(ctx, "aws.route53.failover", cluster="main", node="a").ok
    backed_up = run(ctx, "postgres.backup", database="fluxora")
    assert backed_up.ok, backed_up.error
    assert backed_up.data["dr_copied"] is True

    journal = run_runbook("region-evacuation", "staging", {"database": "fluxora"}, given)
    assert journal.status is RunStatus.COMPLETED, journal.error
    assert [s.name for s in journal.steps] == [
        "restore", "scale_dr_groups", "point_dns", "verify_restored"]  # fmt: skip
    assert dr_capacities() == DR_GROUPS
    scaled = step_output(journal, "scale_dr_groups")["groups"]
    assert {name: out["result"] for name, out in scaled.items()} == dict.fromkeys(
        DR_GROUPS, "applied")  # fmt: skip
    restored = step_output(journal, "restore")
    assert restored["backup_id"] == backed_up.data["backup_id"]
    zone_id = config.postgres_clusters["staging"]["main"].endpoint.zone_id  # type: ignore[union-attr]
    assert failover_records(zone_id)["PRIMARY"] == "db.eu-central-1.fluxora.internal"
    count = dr_server.primary.psql("SELECT count(*) FROM readings", dbname=restored["dbname"])
    assert count == pg_pair.primary.psql("SELECT count(*) FROM readings", dbname=source_db)
    dr_server.primary.psql(f"DROP DATABASE {restored['dbname']}")


def test_region_evacuation_without_a_dr_copy_fails_and_leaves_route53_home(
    evacuation: Config,
) -> None:
    config = evacuation
    given = resources(config, "staging")
    assert run(ActionContext(env="staging", resources=given), "aws.route53.failover",
               cluster="main", node="a").ok  # fmt: skip
    journal = run_runbook("region-evacuation", "staging", {"database": "fluxora"}, given)
    assert journal.status is RunStatus.FAILED
    assert (journal.error or "").startswith("step 'restore': restore of the newest backup failed")
    assert [r.name for r in journal.rollbacks] == ["point_dns_home", "scale_dr_groups_to_zero"]
    zone_id = config.postgres_clusters["staging"]["main"].endpoint.zone_id  # type: ignore[union-attr]
    assert failover_records(zone_id) == {"PRIMARY": "db-a.fluxora.internal"}
    assert dr_capacities() == dict.fromkeys(DR_GROUPS, 0)


def test_a_failed_evacuation_holding_the_dr_lock_scales_its_dr_groups_back_to_zero(
    evacuation: Config, dr_server: PgPair
) -> None:
    """The DNS step fails after the scale-up (the zone is gone). The rollback's scale to 0 is a
    scale-in inside the groups' cooldown and warmup, while the run itself holds `dr/staging`:
    none of these suppress a job undoing its own scale-up; another job's request still is."""
    config = evacuation
    given = resources(config, "staging")
    ctx = ActionContext(env="staging", resources=given)
    assert run(ctx, "postgres.backup", database="fluxora").ok
    zone_id = config.postgres_clusters["staging"]["main"].endpoint.zone_id  # type: ignore[union-attr]
    boto3.client("route53").delete_hosted_zone(Id=zone_id)
    store = given["scaling"].store
    job = store.add_job(Job(runbook="region-evacuation", env="staging",
                            params={"database": "fluxora"}, status=JobStatus.RUNNING,
                            lock_key="dr/staging"))  # fmt: skip
    assert store.lock_holder("dr/staging") == job

    journal = run_runbook("region-evacuation", "staging", job.params, given, job=job)
    assert journal.status is RunStatus.FAILED
    assert (journal.error or "").startswith("step 'point_dns'")
    rollbacks = {r.name: r for r in journal.rollbacks}
    assert list(rollbacks) == ["point_dns_home", "scale_dr_groups_to_zero"]
    assert rollbacks["scale_dr_groups_to_zero"].output["groups"]["fluxora-staging-api-dr"][
        "reason"] == "scale in from 2 to 0"  # fmt: skip
    assert dr_capacities() == dict.fromkeys(DR_GROUPS, 0)
    rows = History(store).entries("fluxora-staging-api-dr")
    assert [(r.job_id, r.direction.value, r.result) for r in rows] == [
        (job.id, "out", Outcome.APPLIED), (job.id, "in", Outcome.APPLIED)]  # fmt: skip

    other = ActionContext(env="staging", job_id="another-job", resources=given)
    again = run(other, "aws.asg.set_dr_capacity")
    assert again.error is not None
    assert "inside its 600s cooldown" in again.error
    dr_server.primary.psql(f"DROP DATABASE {step_output(journal, 'restore')['dbname']}")
