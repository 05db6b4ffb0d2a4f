"""Each harness fixture starts a real server that does its job."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.harness.postgres import PgPair
from tests.harness.processes import ServerProcess, wait_until

pytestmark = pytest.mark.integration


def test_minions_answer_ping(salt_cli: Any, salt_minions: dict[str, Any]) -> None:
    result = salt_cli.run("test.ping", minion_tgt="*")
    assert result.returncode == 0, result
    assert result.data == dict.fromkeys(salt_minions, True)


def test_minion_applies_a_state_from_the_master(
    salt_cli: Any, salt_minion: Any, tmp_path: Path
) -> None:
    target = tmp_path / "smoke.txt"
    result = salt_cli.run(
        "state.apply", "harness.smoke", pillar={"smoke_path": str(target)}, minion_tgt="dev-1"
    )
    assert result.returncode == 0, result
    (state,) = result.data.values()
    assert state["result"] is True
    assert target.read_text() == "applied by dev-1\n"


def test_salt_daemons_see_the_moto_endpoint(
    salt_cli: Any, salt_minion: Any, moto_server: ServerProcess
) -> None:
    result = salt_cli.run("environ.get", "AWS_ENDPOINT_URL", minion_tgt="dev-1")
    assert result.data == moto_server.url


def test_systemd_service_is_disabled_on_minions(salt_cli: Any, salt_minion: Any) -> None:
    result = salt_cli.run("sys.list_modules", minion_tgt="dev-1")
    assert "service" in result.data
    provider = salt_cli.run("test.provider", "service", minion_tgt="dev-1")
    assert provider.data == "debian_service"


def test_s3_round_trip_through_moto(moto_server: ServerProcess, aws_reset: None) -> None:
    s3 = boto3.client("s3")
    assert s3.meta.endpoint_url == moto_server.url
    bucket = f"harness-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": os.environ["AWS_REGION"]}
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"payload")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"


def test_row_written_on_primary_is_read_on_replica(pg_pair: PgPair) -> None:
    assert pg_pair.replica.psql("SELECT pg_is_in_recovery()") == "t"
    marker = uuid.uuid4().hex
    pg_pair.primary.psql(
        f"CREATE TABLE IF NOT EXISTS harness(v text); INSERT INTO harness VALUES ('{marker}')"
    )

    def replicated() -> bool:
        try:
            found = pg_pair.replica.psql(f"SELECT count(*) FROM harness WHERE v = '{marker}'")
        except Exception:
            return False  # the table itself may not have replayed yet
        return found == "1"

    wait_until(replicated, 10, "the row to reach the replica")
    status = pg_pair.primary.psql("SELECT state FROM pg_stat_replication")
    assert status == "streaming"


def test_prometheus_scrapes_and_answers_queries(
    monitoring_servers: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: self\n"
        "    static_configs: [{targets: ['PLACEHOLDER']}]\n"
    )
    server = monitoring_servers["prometheus"](config)
    # Point the scrape at the server itself now that its port is known, then reload.
    config.write_text(config.read_text().replace("PLACEHOLDER", server.url.split("//")[1]))
    urllib.request.urlopen(urllib.request.Request(f"{server.url}/-/reload", method="POST"))

    def self_scraped() -> bool:
        query = f"{server.url}/api/v1/query?query=up%7Bjob%3D%22self%22%7D"
        with urllib.request.urlopen(query) as response:
            result = json.load(response)["data"]["result"]
        return bool(result) and result[0]["value"][1] == "1"

    wait_until(self_scraped, 20, "Prometheus to scrape itself")


def test_alertmanager_starts_with_a_config(
    monitoring_servers: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text("route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n")
    server = monitoring_servers["alertmanager"](config)
    with urllib.request.urlopen(f"{server.url}/api/v2/status") as response:
        status = json.load(response)
    assert 'receiver: "null"' in status["config"]["original"]


def test_promtool_is_installed() -> None:
    result = subprocess.run(["promtool", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "promtool" in result.stdout + result.stderr


def test_a_lab_hosts_init_reaps_orphans_and_passes_on_the_exit_status() -> None:
    """The first process of a lab host reaps what a daemon double-forks (Patroni's postmaster):
    a real init does; without it a stopped postmaster stayed a zombie and Patroni waited for it
    forever (a switchover's demote never ended)."""
    from tests.harness.lab import LAB_INIT

    script = "(sleep 0.2 &); sleep 2; ps -eo stat=,comm= | grep -c '^Z' || true; exit 7"
    argv = ["unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/python3", str(LAB_INIT)]
    result = subprocess.run(
        [*argv, "sh", "-c", script], capture_output=True, text=True, check=False, timeout=60
    )

    assert result.returncode == 7, result.stderr
    assert result.stdout.strip() == "0", "a zombie was left unreaped"
