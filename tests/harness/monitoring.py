"""The shipped monitoring stack (`monitoring/`) on loopback: real Prometheus and Alertmanager.

Prometheus runs the shipped `prometheus.yml` and rule files with its file_sd target files pointing
at the host:port lists a test gives; Alertmanager runs the shipped `alertmanager.yml` pointed at a
given orchestrator URL and token file. Only what a test cannot wait for is changed, and each change
is explicit: scrape/evaluation intervals and Alertmanager's grouping timers shrink to seconds
(`Timing`), and a test may shorten the `for` of named alerts (`alert_for`). Expressions, labels,
annotations, routes, inhibitions and receivers are the shipped ones.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness.processes import HarnessError, ServerProcess, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
MONITORING_DIR = REPO_ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING_DIR / "prometheus" / "prometheus.yml"
RULES_DIR = MONITORING_DIR / "prometheus" / "rules"
ALERTMANAGER_CONFIG = MONITORING_DIR / "alertmanager" / "alertmanager.yml"

Starter = Callable[[Path], ServerProcess]


@dataclass(frozen=True)
class Timing:
    """Timings a test can wait for (the shipped ones are 15 s to hours)."""

    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    group_wait: str = "1s"
    group_interval: str = "2s"
    repeat_interval: str = "1h"


# --- configuration ---------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _file_sd_name(sd_configs: list[dict[str, Any]]) -> str:
    (sd,) = sd_configs
    (path,) = sd["files"]
    return str(path)


def scrape_target_files() -> dict[str, str]:
    """Scrape job name -> its file_sd target file, relative to the config's directory."""
    config = _load_yaml(PROMETHEUS_CONFIG)
    return {
        job["job_name"]: _file_sd_name(job["file_sd_configs"]) for job in config["scrape_configs"]
    }


def alertmanager_target_file() -> str:
    config = _load_yaml(PROMETHEUS_CONFIG)
    (alertmanager,) = config["alerting"]["alertmanagers"]
    return _file_sd_name(alertmanager["file_sd_configs"])


def _target_groups(targets: Sequence[str], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"targets": list(targets), "labels": dict(labels)}] if targets else []


def write_target_file(config_dir: Path, relative: str, groups: list[dict[str, Any]]) -> None:
    """Write a file_sd file atomically: Prometheus watches the directory and must never see half."""
    path = config_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(groups), encoding="utf-8")
    partial.replace(path)


def _with_alert_for(rules_doc: dict[str, Any], alert_for: Mapping[str, str]) -> set[str]:
    """Set `for` on the named alerts in one rule file; return the names found."""
    found: set[str] = set()
    for group in rules_doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in alert_for:
                rule["for"] = alert_for[rule["alert"]]
                found.add(rule["alert"])
    return found


def copy_rules(dest: Path, alert_for: Mapping[str, str]) -> None:
    """Copy the shipped rule files to `dest`, shortening `for` of the alerts named in alert_for."""
    dest.mkdir(parents=True, exist_ok=True)
    found: set[str] = set()
    for path in sorted(RULES_DIR.glob("*.rules.yml")):
        doc = _load_yaml(path)
        found |= _with_alert_for(doc, alert_for)
        (dest / path.name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    unknown = sorted(set(alert_for) - found)
    if unknown:
        raise HarnessError(f"alert_for names alerts the shipped rules do not define: {unknown}")


def write_prometheus_config(
    config_dir: Path,
    targets: Mapping[str, Sequence[str]],
    *,
    labels: Mapping[str, str],
    alertmanagers: Sequence[str] = (),
    alert_for: Mapping[str, str] | None = None,
    timing: Timing = Timing(),
) -> Path:
    """The shipped prometheus.yml and rules in `config_dir`, with file_sd files for `targets`.

    `targets` maps a shipped scrape job name to host:port strings; every target gets `labels`
    (at least `env`, as the fluxora.monitoring state writes them). Jobs not given get an empty
    target file, as on a host where that role is absent.
    """
    files = scrape_target_files()
    unknown = sorted(set(targets) - set(files))
    if unknown:
        raise HarnessError(f"no scrape job {unknown} in {PROMETHEUS_CONFIG}; jobs: {sorted(files)}")
    if "env" not in labels:
        raise HarnessError("target labels need an `env`: every alert and dashboard is per env")
    for job, relative in files.items():
        write_target_file(config_dir, relative, _target_groups(targets.get(job, ()), labels))
    write_target_file(config_dir, alertmanager_target_file(), _target_groups(alertmanagers, {}))
    copy_rules(config_dir / "rules", alert_for or {})
    config = _load_yaml(PROMETHEUS_CONFIG)
    config["global"]["scrape_interval"] = timing.scrape_interval
    config["global"]["evaluation_interval"] = timing.evaluation_interval
    path = config_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    return [route, *(child for sub in route.get("routes", []) for child in _routes(sub))]


def _with_timing(route: dict[str, Any], timing: Timing) -> None:
    for node in _routes(route):
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in node:
                node[key] = getattr(timing, key)


def _pointed_at(webhook: dict[str, Any], orchestrator_url: str, token_file: Path) -> None:
    shipped = urllib.parse.urlsplit(webhook["url"])
    base = urllib.parse.urlsplit(orchestrator_url)
    webhook["url"] = urllib.parse.urlunsplit(base._replace(path=shipped.path))
    webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)


def write_alertmanager_config(
    config_dir: Path, orchestrator_url: str, token_file: Path, *, timing: Timing = Timing()
) -> Path:
    """The shipped alertmanager.yml with its webhook at `orchestrator_url` (same path) and token."""
    config = _load_yaml(ALERTMANAGER_CONFIG)
    _with_timing(config["route"], timing)
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            _pointed_at(webhook, orchestrator_url, token_file)
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# --- HTTP APIs -------------------------------------------------------------------------------


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _post_json(url: str, body: Any) -> None:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


@dataclass(frozen=True)
class PrometheusAPI:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; a query error raises with Prometheus's message."""
        answer = _get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        if answer.get("status") != "success":
            raise HarnessError(f"query {expr!r} failed: {answer}")
        return list(answer["data"]["result"])

    def metric_names(self) -> set[str]:
        """Every metric name Prometheus holds series for (scraped or written by its rules)."""
        return set(_get_json(f"{self.url}/api/v1/label/__name__/values")["data"])

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (alerting and recording) with its health and last error."""
        groups = _get_json(f"{self.url}/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) with labels, annotations and state."""
        return list(_get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"])

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        return [
            alert
            for alert in self.alerts()
            if alert["labels"]["alertname"] == alertname and alert["state"] == "firing"
        ]

    def wait_for_firing(self, alertname: str, timeout: float = 60) -> list[dict[str, Any]]:
        wait_until(lambda: bool(self.firing(alertname)), timeout, f"{alertname} to fire")
        return self.firing(alertname)

    def targets_up(self) -> dict[str, bool]:
        """Scrape URL -> whether its last scrape succeeded."""
        active = _get_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"]
        return {target["scrapeUrl"]: target["health"] == "up" for target in active}


@dataclass(frozen=True)
class AlertmanagerAPI:
    url: str

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds, with `status.state` and `status.inhibitedBy`."""
        return list(_get_json(f"{self.url}/api/v2/alerts"))

    def post(self, alerts: list[dict[str, Any]]) -> None:
        """Send alerts the way Prometheus does (labels, annotations, startsAt)."""
        _post_json(f"{self.url}/api/v2/alerts", alerts)


# --- the stack -------------------------------------------------------------------------------


@dataclass
class MonitoringStack:
    """A started Prometheus (and Alertmanager, when an orchestrator URL was given)."""

    config_dir: Path
    prometheus: ServerProcess
    alertmanager: ServerProcess | None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def prometheus_api(self) -> PrometheusAPI:
        return PrometheusAPI(self.prometheus.url)

    @property
    def alertmanager_api(self) -> AlertmanagerAPI:
        if self.alertmanager is None:
            raise HarnessError("this stack was started without an Alertmanager")
        return AlertmanagerAPI(self.alertmanager.url)

    def retarget(self, job: str, targets: Sequence[str]) -> None:
        """Replace one job's targets; Prometheus's file SD picks the change up by itself."""
        files = scrape_target_files()
        if job not in files:
            raise HarnessError(f"no scrape job {job!r}; jobs: {sorted(files)}")
        write_target_file(self.config_dir, files[job], _target_groups(targets, self.labels))


def _host_port(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def start_stack(
    start_prometheus: Starter,
    start_alertmanager: Starter,
    config_dir: Path,
    *,
    targets: Mapping[str, Sequence[str]],
    labels: Mapping[str, str],
    orchestrator_url: str | None = None,
    token_file: Path | None = None,
    alert_for: Mapping[str, str] | None = None,
    timing: Timing = Timing(),
) -> MonitoringStack:
    """Start Alertmanager (if `orchestrator_url`), then Prometheus sending alerts to it.

    The starters are the harness's `monitoring_servers` entries, which stop what they started.
    """
    alertmanager = None
    if orchestrator_url is not None:
        if token_file is None:
            raise HarnessError("an orchestrator URL needs the token file Alertmanager reads")
        am_config = write_alertmanager_config(
            config_dir / "alertmanager", orchestrator_url, token_file, timing=timing
        )
        alertmanager = start_alertmanager(am_config)
    prom_config = write_prometheus_config(
        config_dir / "prometheus",
        targets,
        labels=labels,
        alertmanagers=[_host_port(alertmanager.url)] if alertmanager else [],
        alert_for=alert_for,
        timing=timing,
    )
    prometheus = start_prometheus(prom_config)
    return MonitoringStack(config_dir / "prometheus", prometheus, alertmanager, dict(labels))


def wait_for_scrape(api: PrometheusAPI, scrape_url: str, timeout: float = 30) -> None:
    """Until Prometheus has scraped `scrape_url` successfully at least once."""
    what = f"Prometheus to scrape {scrape_url}"
    wait_until(lambda: api.targets_up().get(scrape_url, False), timeout, what)


def now_rfc3339(offset: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))
