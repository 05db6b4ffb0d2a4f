"""The Route53 failover record on the moto server (region evacuation, which points it at the DR
node, is in test_region_evacuation.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from orchestrator.app.config import Config, load_config
from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext
from orchestrator.core.results import Result
from tests.harness.failover import config_for, node_entry, resources
from tests.harness.moto import DR_REGION
from tests.harness.postgres import PgPair
from tests.harness.processes import ServerProcess

pytestmark = pytest.mark.integration

RECORD = "db.fluxora.internal."


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


def test_route53_endpoint_named_by_its_zone_name_as_the_states_render_it(
    tmp_path: Path, pg_pair: PgPair, moto_server: ServerProcess, aws_reset: None
) -> None:
    zone_id = hosted_zone()
    by_name = {"kind": "route53", "zone": "fluxora.internal.", "record": RECORD}
    config = staging_config(tmp_path, pg_pair, zone_id, cluster={"endpoint": by_name})
    ctx = ActionContext(env="staging", resources=resources(config, "staging"))
    moved = run(ctx, "endpoint.repoint", cluster="main", node="a")
    assert moved.ok, moved.error
    assert moved.data["zone_id"] == zone_id
    assert failover_records(zone_id) == {"PRIMARY": "db-a.fluxora.internal"}

    unknown = {**by_name, "zone": "nowhere.internal."}
    config = staging_config(tmp_path, pg_pair, zone_id, cluster={"endpoint": unknown})
    ctx = ActionContext(env="staging", resources=resources(config, "staging"))
    refused = run(ctx, "endpoint.repoint", cluster="main", node="b")
    assert not refused.ok
    assert "no Route53 hosted zone named nowhere.internal." in (refused.error or "")


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
