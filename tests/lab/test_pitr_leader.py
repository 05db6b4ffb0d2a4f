"""Base backups on staging's database hosts through the master (`salt MINION
fluxora.base_backup`), as postgres.base_backup dispatches them: on the Patroni leader's host
the module backs up the local server with the host's own WAL archive config into the bucket;
on the replica's host it refuses."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml

from tests.harness.lab import Lab
from tests.lab.conftest import Deployed
from tests.lab.test_drills import (
    CONFIG,
    OPS,
    one_writer_one_streaming_replica,
    orch_cli,
    patroni_cluster,
)

# The first lab test carries the session lab's up and deploy (3-8 min on 2 busy cores).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

DB_HOSTS = ("stg-db-1", "stg-db-2")


def base_backup(lab: Lab, minion: str, name: str) -> Any:
    return lab.salt_cli().run(
        "fluxora.base_backup", f"name={name}", minion_tgt=minion, _timeout=900
    )


def completed_backups(lab: Lab, bucket: str, prefix: str) -> dict[str, str]:
    """backup id -> backup.info text, for every base backup stored under `prefix`."""
    client = boto3.client("s3", region_name="eu-west-1", endpoint_url=lab.aws_endpoint)
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        obj["Key"].rsplit("/", 2)[-2]: client.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
        .read()
        .decode()
        for obj in listed
        if obj["Key"].endswith("/backup.info")
    }


def test_the_leaders_host_takes_the_base_backup_and_the_replicas_refuses(
    staging_deployed: Deployed,
) -> None:
    lab = staging_deployed.lab
    assert staging_deployed.first.returncode == 0, "orch.deploy failed: see test_deploy"
    answers = {minion: base_backup(lab, minion, f"lab-base-{minion}") for minion in DB_HOSTS}

    taken = {m: r.data for m, r in answers.items() if r.returncode == 0}
    refused = {m: r.stdout + r.stderr for m, r in answers.items() if r.returncode != 0}
    assert len(taken) == 1, answers  # one leader
    assert len(refused) == 1, answers
    ((leader, answer),) = taken.items()
    ((replica, reason),) = refused.items()
    assert answer["minion"] == leader
    assert "is a replica (in recovery)" in reason, reason

    server = answer["server_name"]
    assert answer["archive"] == "s3://fluxora-staging-backups/wal"
    # The daemon's backup.pitr (rendered from the same pillar) finds it where the minion put it.
    settings = daemon_pitr(lab)
    assert (settings["archive"]["url"], settings["server_name"]) == (answer["archive"], server)
    stored = completed_backups(lab, "fluxora-staging-backups", f"wal/{server}/base/")
    assert answer["backup_id"] in stored, sorted(stored)
    info = stored[answer["backup_id"]]
    assert "status=DONE" in info
    assert f"backup_name=lab-base-{leader}" in info
    assert not any(f"backup_name=lab-base-{replica}" in text for text in stored.values())


def daemon_pitr(lab: Lab) -> dict[str, Any]:
    """backup.pitr.staging of the daemon's config as orch.deploy wrote it on the ops host."""
    result = lab.run(OPS, ["cat", CONFIG], timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout)["backup"]["pitr"]["staging"])


def test_the_deployed_daemon_plans_the_scheduled_base_backup_on_the_leaders_minion(
    staging_deployed: Deployed,
) -> None:
    """The base-backup runbook the `base-backup` schedule starts, as a dry run through the
    daemon on the ops host: it asks Patroni for the leader and would dispatch to its minion,
    into the archive fluxora.walarchive configured on the database hosts."""
    lab = staging_deployed.lab
    assert "base-backup" in {row["name"] for row in orch_cli(lab, "schedules", "list")}
    leader, _ = one_writer_one_streaming_replica(lab)
    timeline = patroni_cluster(lab)[leader]["timeline"]
    job = orch_cli(lab, "runbook", "run", "base-backup", "--dry-run", "--timeout", "100")
    assert job["status"] == "completed", job
    (step,) = job["journal"]["steps"]
    plan = step["output"]["plan"]
    assert plan["on"] == f"{leader} of cluster main (timeline {timeline}, on minion {leader})"
    assert plan["barman-cloud-backup"] == "s3://fluxora-staging-backups/wal"
    settings = daemon_pitr(lab)
    assert (settings["archive"]["url"], settings["server_name"]) == (
        "s3://fluxora-staging-backups/wal", "fluxora-staging",
    )  # fmt: skip
