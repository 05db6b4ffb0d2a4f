"""The shipped monitoring against live targets: a real Prometheus scrapes a running fluxora-orch
(backing up, restore-verifying and restore-drilling a real database on a schedule, and scaling an
Auto Scaling group in moto), Debian's exporters on the harness's primary/replica pair, and the
forecast workers' stand-in, with the shipped scrape config. The node exporter reads the WAL
archiver's textfile, written by the shipped `fluxora-wal-archive` (those metrics come from the DB
hosts, not from the daemon). Every metric name a rule or dashboard panel selects must be in that
scrape, and every rule and panel query must evaluate without error on the live data."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.engine.sources.signing import signed_headers
from orchestrator.families.releases import history
from tests.harness import monitoring_inventory as inventory
from tests.harness import pitr, scaling
from tests.harness.backup import database_entry, scheduled_backups, scratch_database
from tests.harness.fluxora import Daemon, start_daemon
from tests.harness.forecast import ForecastWorkers, forecast_workers
from tests.harness.monitoring import MonitoringStack, PrometheusAPI, wait_for_scrape
from tests.harness.moto import REGION
from tests.harness.postgres import PgPair
from tests.harness.processes import HarnessError, ServerProcess, wait_until

pytestmark = pytest.mark.integration

RESTORE_DRILL = {
    "name": "drill-restore-app",
    "interval": "5s",
    "data": {"runbook": "restore-drill", "params": {"database": "app"}},
}

# A gated rule over the shipped backup runbook: one job awaits approval, so the approval gauge
# has a series (it has one per env with such jobs). A physical backup: a job awaiting approval
# holds the runbook's lock (backup-app-physical), which the scheduled logical ones do not take.
GATED_RULE = {
    "name": "gated-backup",
    "match": "fluxora/test/gated",
    "run": "backup",
    "with": {"database": "app", "kind": "physical"},
    "approval": {"dev": True},
}

# The dev worker group in moto, with a test policy; the shipped scaling rules ask for scaling.
GROUP = "fluxora-dev-worker"


def used_names() -> set[str]:
    """Metric names selected by any rule or panel query, minus the recording rules' outputs."""
    expressions = inventory.rule_expressions() + inventory.dashboard_expressions()
    names = {name for e in expressions for name in inventory.selected_metric_names(e.promql)}
    return names - inventory.recording_rule_names()


@pytest.fixture
def daemon(tmp_path: Path, pg_pair: PgPair, aws_reset: None) -> Iterator[Daemon]:
    """fluxora-orch backing up and restore-verifying a real database every 2 s, running the
    shipped restore drill on it every 5 s (through the shipped drill-on-schedule rule), with the
    shipped scaling rules and a policy for the dev worker group in moto."""
    scaling.create_group(GROUP, min_size=1, max_size=6, desired=2)
    with scratch_database(pg_pair.primary) as dbname:
        config = scheduled_backups({"app": database_entry(pg_pair.primary, dbname)}, every="2s")
        # The embedded dev rules (from pillar) may already hold the shipped scaling rules.
        have = {rule["name"] for rule in config["rules"]}
        scaling_rules = [r for r in scaling.shipped_rules() if r["name"] not in have]
        config["rules"] = [*config["rules"], *scaling_rules, GATED_RULE]
        config["schedules"] = [*config["schedules"], RESTORE_DRILL]
        config["scaling"] = {"groups": {GROUP: scaling.policy("dev")}}
        config["aws"] = {"region": REGION}
        config["releases"] = {"root": str(deployed_before(tmp_path / "releases"))}
        started = start_daemon(tmp_path, shutdown_grace_seconds=5, **config)
        try:
            yield started
        finally:
            started.stop()


def deployed_before(root: Path) -> Path:
    """A releases root whose history has dev on release 1.0.0: the restarted daemon recalls
    which release runs and when it was deployed (the release metrics' series)."""
    root.mkdir()
    record = history.Record(
        env="dev", release="1.0.0", digest="0" * 64, outcome=history.Outcome.VERIFIED, at=1.0
    )
    history.append(root, record)
    return root


@dataclass
class Exporters:
    postgres: list[ServerProcess]
    node: ServerProcess
    wal_archive: pitr.ArchiveLab  # whose textfile the node exporter reads


@pytest.fixture
def exporters(
    pg_pair: PgPair,
    exporter_servers: dict[str, Callable[..., ServerProcess]],
    moto_server: ServerProcess,
    tmp_path: Path,
) -> Exporters:
    """PostgreSQL exporters on the primary and the replica; a node exporter reading the textfile
    the shipped `fluxora-wal-archive` writes (as on the DB hosts)."""
    wal_archive = pitr.write_textfile(tmp_path / "wal-archive", moto_server.url)
    return Exporters(
        postgres=[
            exporter_servers["postgres"](pg_pair.primary),
            exporter_servers["postgres"](pg_pair.replica),
        ],
        node=exporter_servers["node"](textfile_dir=wal_archive.root),
        wal_archive=wal_archive,
    )


@pytest.fixture
def workers() -> Iterator[ForecastWorkers]:
    with forecast_workers() as stand_in:
        yield stand_in


def _address(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def _exercise(daemon: Daemon) -> None:
    """What the schedules alone do not make: a job awaiting approval, a refused event, a scaling
    action (the group's desired capacity is read from AWS only by one)."""
    client = daemon.client
    assert client.post_event("fluxora/test/gated").status == 202
    scale_to = {"env": "dev", "group": GROUP, "capacity": 3}
    assert client.post_event("fluxora/request/scale/to", scale_to).status == 202
    body = b'{"tag": "fluxora/test/forged", "data": {}}'
    assert client.post("/events", body, signed_headers("not-the-secret", body)).status == 401
    labels = {"env": "dev", "database": "app", "kind": "logical"}
    applied_out = {"group": GROUP, "direction": "out", "result": "applied"}

    def ready() -> bool:
        return (
            client.sample("fluxora_jobs_awaiting_approval", env="dev") == 1
            and client.sample("fluxora_restore_verify_last_status", **labels) == 1
            and client.sample("fluxora_drill_last_status", runbook="restore-drill", env="dev") == 1
            and client.sample("fluxora_asg_desired_capacity", group=GROUP) == 3
            and client.sample("fluxora_scaling_actions_total", **applied_out) == 1
        )

    wait_until(ready, 120, "a gated job, a passed restore-verify and drill, a scaling action")


def _textfile_names(lab: pitr.ArchiveLab) -> set[str]:
    return {key.split("{", 1)[0] for key in lab.metrics()}


def _jobs_exposing(api: PrometheusAPI, names: set[str]) -> set[tuple[str, str]]:
    """(metric name, scrape job) of every series of `names` in Prometheus."""
    selector = "|".join(sorted(names))
    series = api.query(f'group by (__name__, job) ({{__name__=~"{selector}"}})')
    return {(s["metric"]["__name__"], s["metric"]["job"]) for s in series}


def _absent(api: PrometheusAPI, wanted: set[str]) -> set[str]:
    return wanted - api.metric_names()


def _timestamp(rfc3339: str) -> float:
    """Prometheus's RFC 3339 times carry nanoseconds; Python reads up to microseconds."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", rfc3339)).timestamp()


def _evaluated_since(api: PrometheusAPI, moment: float) -> bool:
    return all(_timestamp(rule["lastEvaluation"]) > moment for rule in api.rules())


def test_every_used_metric_is_in_the_live_scrape_and_every_query_evaluates(
    daemon: Daemon,
    workers: ForecastWorkers,
    exporters: Exporters,
    monitoring_stack: Callable[..., MonitoringStack],
) -> None:
    _exercise(daemon)
    workers.queue_depth.labels("default").set(1000)  # a backlog: an alert pending, so ALERTS
    node = exporters.node
    stack = monitoring_stack(
        targets={
            "fluxora-orchestrator": [_address(daemon.server.url)],
            "fluxora-forecast": [workers.address],
            "postgres": [_address(server.url) for server in exporters.postgres],
            "node": [_address(node.url)],
        },
        labels={"env": "dev"},
    )
    api = stack.prometheus_api
    for url in [f"{daemon.server.url}/metrics", *(s.url for s in exporters.postgres), node.url]:
        wait_for_scrape(api, url)

    wanted = used_names()
    with contextlib.suppress(HarnessError):  # the assertion below names what is missing
        wait_until(lambda: not _absent(api, wanted), 120, "every used metric")
    missing = _absent(api, wanted)
    assert not missing, f"used by rules or panels, not in the live scrape: {sorted(missing)}"
    # The WAL archive's metrics come from the node exporter's textfile, never from the daemon.
    textfile = _textfile_names(exporters.wal_archive)
    assert textfile & wanted, "the rules use the WAL archiver's metrics"
    assert _jobs_exposing(api, textfile) == {(name, "node") for name in textfile}

    # On live data, every rule evaluates cleanly (no many-to-many match, no type error) ...
    complete = time.time()
    wait_until(lambda: _evaluated_since(api, complete), 30, "every rule to evaluate again")
    errors = {r["name"]: r["lastError"] for r in api.rules() if r["health"] != "ok"}
    assert not errors
    # ... and so does every panel and variable query, for all environments.
    for expression in inventory.dashboard_expressions():
        api.query(inventory.as_promql(expression.promql, {"env": ".*"}))
    backups = api.query("env_database_kind:fluxora_backup_staleness:ratio")
    assert [b["metric"]["database"] for b in backups] == ["app"]

    # The orchestrator's own exposition passes promtool's lint with every family populated.
    check = subprocess.run(
        ["promtool", "check", "metrics"],
        input=daemon.client.metrics_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
