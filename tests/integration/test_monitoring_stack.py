"""The shipped monitoring stack, run for real: exporter -> Prometheus -> Alertmanager -> receiver.

A stand-in exporter (prometheus_client in a thread) plays the orchestrator with a few catalogue
metrics; a small HTTP receiver plays the orchestrator's /alertmanager endpoint.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Gauge

from tests.harness import monitoring_inventory as inventory
from tests.harness.exporters import ClientExporter
from tests.harness.monitoring import (
    AlertmanagerAPI,
    MonitoringStack,
    now_rfc3339,
    wait_for_scrape,
    write_alertmanager_config,
)
from tests.harness.processes import HarnessError, wait_until
from tests.harness.webhook import Delivery, WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.integration

BACKUP = {"env": "dev", "database": "fluxora", "kind": "logical"}


class StandInExporter(ClientExporter):
    """Backup freshness gauges as the orchestrator exports them, served over HTTP on loopback."""

    def __init__(self) -> None:
        super().__init__()
        labels = list(BACKUP)
        self.last_success = Gauge(
            "fluxora_backup_last_success_timestamp_seconds",
            "Last successful backup.",
            labels,
            registry=self.registry,
        )
        self.interval = Gauge(
            "fluxora_backup_interval_seconds", "Backup schedule.", labels, registry=self.registry
        )
        self.inbox = Gauge("fluxora_inbox_depth", "Inbox depth.", registry=self.registry)
        self.serve()


@pytest.fixture
def exporter() -> Iterator[StandInExporter]:
    stand_in = StandInExporter()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as server:
        yield server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "orchestrator-token"
    path.write_text(secrets.token_urlsafe(24) + "\n")
    path.chmod(0o600)
    return path


def _alerts(delivery: Delivery, status: str) -> list[dict[str, Any]]:
    body = delivery.body if isinstance(delivery.body, dict) else {}
    return [alert for alert in body.get("alerts", []) if alert["status"] == status]


def _names(delivery: Delivery, status: str) -> list[str]:
    return [alert["labels"]["alertname"] for alert in _alerts(delivery, status)]


def test_backup_stale_alert_reaches_the_orchestrator_endpoint_with_its_token(
    monitoring_stack: Callable[..., MonitoringStack],
    exporter: StandInExporter,
    receiver: WebhookReceiver,
    token_file: Path,
) -> None:
    # Hourly backups, the last one four hours ago: stale at both severities.
    exporter.interval.labels(**BACKUP).set(3600)
    exporter.last_success.labels(**BACKUP).set(time.time() - 4 * 3600)
    stack = monitoring_stack(
        targets={"fluxora-orchestrator": [exporter.address]},
        labels={"env": "dev"},
        orchestrator_url=receiver.url,
        token_file=token_file,
        alert_for={"FluxoraBackupStale": "0s"},
    )
    prometheus = stack.prometheus_api
    wait_for_scrape(prometheus, f"http://{exporter.address}/metrics")

    def firing_severities() -> set[str]:
        return {alert["labels"]["severity"] for alert in prometheus.firing("FluxoraBackupStale")}

    wait_until(lambda: firing_severities() == {"warning", "critical"}, 60, "both severities")

    delivery = receiver.wait_for(
        lambda d: "FluxoraBackupStale" in _names(d, "firing"), 60, "the alert at the receiver"
    )
    token = token_file.read_text().strip()
    assert delivery.path == "/alertmanager"
    assert delivery.headers["Authorization"] == f"Bearer {token}"
    assert delivery.body["version"] == "4"
    (alert,) = _alerts(delivery, "firing")  # the warning is inhibited by the critical
    assert alert["labels"] == {
        "alertname": "FluxoraBackupStale",
        "severity": "critical",
        "component": "backups",
        **BACKUP,
    }
    assert alert["annotations"]["runbook_url"] == "dr_runbooks/docs/alerts/FluxoraBackupStale.md"
    assert "is 4.0 schedule intervals old" in alert["annotations"]["summary"]
    assert not [d for d in receiver.deliveries if "warning" in str(d.body)]
    held = {a["labels"]["severity"]: a["status"] for a in stack.alertmanager_api.alerts()}
    assert held["warning"]["state"] == "suppressed"
    assert held["warning"]["inhibitedBy"], "the critical inhibits the warning"

    # A fresh backup resolves it, and the orchestrator is told (send_resolved).
    exporter.last_success.labels(**BACKUP).set(time.time())
    resolved = receiver.wait_for(
        lambda d: "FluxoraBackupStale" in _names(d, "resolved"), 60, "the resolved notification"
    )
    assert resolved.headers["Authorization"] == f"Bearer {token}"


def test_backup_metric_absent_fires_when_a_scraped_orchestrator_reports_no_backup(
    monitoring_stack: Callable[..., MonitoringStack], exporter: StandInExporter
) -> None:
    exporter.inbox.set(0)  # an orchestrator answering scrapes, with no backup series at all
    stack = monitoring_stack(
        targets={}, labels={"env": "staging"}, alert_for={"FluxoraBackupMetricAbsent": "0s"}
    )
    stack.retarget("fluxora-orchestrator", [exporter.address])  # file SD picks it up live
    (alert,) = stack.prometheus_api.wait_for_firing("FluxoraBackupMetricAbsent")
    assert alert["labels"]["env"] == "staging"
    assert alert["annotations"]["summary"] == (
        "No successful backup is reported for any database in staging"
    )


def test_orchestrator_down_fires_for_an_unreachable_target(
    monitoring_stack: Callable[..., MonitoringStack], exporter: StandInExporter
) -> None:
    stack = monitoring_stack(
        targets={"fluxora-orchestrator": [exporter.address]},
        labels={"env": "dev"},
        alert_for={"FluxoraOrchestratorDown": "0s"},
    )
    wait_for_scrape(stack.prometheus_api, f"http://{exporter.address}/metrics")
    assert not stack.prometheus_api.firing("FluxoraOrchestratorDown")
    exporter.stop()
    (alert,) = stack.prometheus_api.wait_for_firing("FluxoraOrchestratorDown")
    assert alert["labels"]["instance"] == exporter.address


def _alert(name: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} (test)"},
        "startsAt": now_rfc3339(-60),
        "endsAt": now_rfc3339(3600),
    }


def _key(labels: dict[str, str]) -> tuple[str, str, str, str]:
    """(alertname, env, severity, the backup's database or the drill's runbook)."""
    thing = labels.get("database") or labels.get("runbook") or ""
    return (labels["alertname"], labels["env"], labels.get("severity", ""), thing)


def _keys(alerts: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {_key(alert["labels"]) for alert in alerts}


SOURCES = [
    _alert("FluxoraOrchestratorDown", env="dev", severity="critical", component="orchestrator"),
    _alert("FluxoraBackupStale", env="staging", severity="critical", component="backups",
           database="meters", kind="logical"),
    _alert("FluxoraDrillFailed", env="staging", severity="critical", component="drills",
           runbook="restore-drill"),
]  # fmt: skip
INHIBITED = [
    # the orchestrator is down in dev: its backup and inbox alerts are not paged separately
    _alert("FluxoraBackupStale", env="dev", severity="warning", component="backups",
           database="fluxora", kind="logical"),
    _alert("FluxoraInboxBacklogGrowing", env="dev", severity="warning", component="orchestrator"),
    # the critical hides the warning of the same alert on the same database
    _alert("FluxoraBackupStale", env="staging", severity="warning", component="backups",
           database="meters", kind="logical"),
    # a failed drill hides its own overdue alert
    _alert("FluxoraDrillOverdue", env="staging", severity="warning", component="drills",
           runbook="restore-drill"),
]  # fmt: skip
NOT_INHIBITED = [
    # another database, another runbook, and PostgreSQL (which does not need the orchestrator)
    _alert("FluxoraBackupStale", env="staging", severity="warning", component="backups",
           database="fluxora", kind="logical"),
    _alert("FluxoraDrillOverdue", env="staging", severity="warning", component="drills",
           runbook="postgres-failover"),
    _alert("FluxoraPostgresReplicationLagHigh", env="dev", severity="warning",
           component="postgres", instance="db-1:9187", replica="15/replica"),
]  # fmt: skip


@pytest.fixture
def alertmanager(
    monitoring_servers: dict[str, Any], receiver: WebhookReceiver, token_file: Path, tmp_path: Path
) -> AlertmanagerAPI:
    """The shipped Alertmanager config alone, delivering to the test's receiver."""
    config = write_alertmanager_config(tmp_path / "alertmanager", receiver.url, token_file)
    return AlertmanagerAPI(monitoring_servers["alertmanager"](config).url)


def test_shipped_inhibitions_hold_back_the_redundant_alerts(
    alertmanager: AlertmanagerAPI, receiver: WebhookReceiver
) -> None:
    alertmanager.post(SOURCES)
    wait_until(lambda: len(alertmanager.alerts()) == len(SOURCES), 10, "the sources to be held")
    alertmanager.post(INHIBITED)
    alertmanager.post(NOT_INHIBITED)

    expected = {
        **dict.fromkeys(_keys(INHIBITED), "suppressed"),
        **dict.fromkeys(_keys(SOURCES + NOT_INHIBITED), "active"),
    }

    def states() -> dict[tuple[str, str, str, str], str]:
        return {_key(a["labels"]): a["status"]["state"] for a in alertmanager.alerts()}

    wait_until(lambda: states() == expected, 20, f"Alertmanager to hold {expected}")

    def delivered() -> set[tuple[str, str, str, str]]:
        return {key for d in receiver.deliveries for key in _keys(_alerts(d, "firing"))}

    wanted = _keys(SOURCES + NOT_INHIBITED)
    wait_until(lambda: delivered() >= wanted, 30, "every uninhibited alert to be delivered")
    assert delivered() == wanted, "an inhibited alert was delivered"


def test_drill_alerts_of_one_environment_page_once(
    alertmanager: AlertmanagerAPI, receiver: WebhookReceiver
) -> None:
    drill_alerts = [
        _alert("FluxoraDrillFailed", env="staging", severity="critical", component="drills",
               runbook="postgres-failover"),
        _alert("FluxoraDrillRTOOverTarget", env="staging", severity="warning",
               component="drills", runbook="postgres-failover"),
        _alert("FluxoraDrillFailed", env="staging", severity="critical", component="drills",
               runbook="restore-drill"),
        _alert("FluxoraDrillFailed", env="prod", severity="critical", component="drills",
               runbook="restore-drill"),
    ]  # fmt: skip
    alertmanager.post(drill_alerts)
    wait_until(lambda: len(receiver.deliveries) >= 2, 30, "the drill notifications")
    pages = {d.body["groupLabels"]["env"]: _keys(_alerts(d, "firing")) for d in receiver.deliveries}
    assert len(receiver.deliveries) == 2, "one notification per environment"
    assert pages == {"staging": _keys(drill_alerts[:3]), "prod": _keys(drill_alerts[3:])}


def test_helper_refuses_what_the_shipped_config_does_not_have(
    monitoring_stack: Callable[..., MonitoringStack],
) -> None:
    with pytest.raises(HarnessError, match="no scrape job"):
        monitoring_stack(targets={"orchestrator": ["127.0.0.1:1"]}, labels={"env": "dev"})
    with pytest.raises(HarnessError, match="FluxoraNoSuchAlert"):
        monitoring_stack(targets={}, labels={"env": "dev"}, alert_for={"FluxoraNoSuchAlert": "0s"})
    with pytest.raises(HarnessError, match="env"):
        monitoring_stack(targets={}, labels={})


def test_every_rule_and_panel_query_evaluates_in_prometheus(
    monitoring_stack: Callable[..., MonitoringStack],
) -> None:
    # No targets: this proves Prometheus 2.42 accepts and evaluates each expression (functions,
    # matching, durations), not that data exists; the live-scrape test adds the data.
    stack = monitoring_stack(targets={}, labels={"env": "dev"})
    prometheus = stack.prometheus_api
    loaded = {rule["name"] for rule in prometheus.rules()}
    assert loaded == {r.get("alert") or r["record"] for _, r in inventory.rules()}

    def evaluated() -> bool:
        return all(rule["health"] != "unknown" for rule in prometheus.rules())

    wait_until(evaluated, 30, "every rule to be evaluated once")
    errors = {r["name"]: r["lastError"] for r in prometheus.rules() if r["health"] != "ok"}
    assert not errors
    for expression in inventory.rule_expressions() + inventory.dashboard_expressions():
        promql = inventory.as_promql(expression.promql, {"env": ".*"})
        prometheus.query(promql)  # raises with Prometheus's error message
