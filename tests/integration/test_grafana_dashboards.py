"""The committed Grafana dashboards are what the generator makes, and hold the promised panels."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.harness.monitoring import MONITORING_DIR, REPO_ROOT
from tests.harness.monitoring_inventory import DASHBOARDS_DIR, dashboard_files

pytestmark = pytest.mark.integration

GENERATOR = MONITORING_DIR / "grafana" / "generate.py"
PROVISIONING = MONITORING_DIR / "grafana" / "provisioning"


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(GENERATOR), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def _load(name: str) -> dict[str, Any]:
    return dict(json.loads((DASHBOARDS_DIR / name).read_text(encoding="utf-8")))


def _titles(dashboard: dict[str, Any]) -> set[str]:
    return {panel["title"] for panel in dashboard["panels"]}


def test_committed_json_is_what_the_generator_makes() -> None:
    result = _generate("--check")
    assert result.returncode == 0, f"stale dashboards; run {GENERATOR}:\n{result.stderr}"


def test_check_fails_and_names_a_stale_or_missing_dashboard(tmp_path: Path) -> None:
    shutil.copytree(DASHBOARDS_DIR, tmp_path, dirs_exist_ok=True)
    stale = tmp_path / "fluxora-overview.json"
    stale.write_text(stale.read_text().replace("Backup age", "Backup years"))
    (tmp_path / "fluxora-orchestrator.json").unlink()
    result = _generate("--check", "--output", str(tmp_path))
    assert result.returncode == 1
    assert "fluxora-overview.json: stale" in result.stderr
    assert "fluxora-orchestrator.json: stale" in result.stderr
    assert _generate("--output", str(tmp_path)).returncode == 0
    assert _generate("--check", "--output", str(tmp_path)).returncode == 0


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_dashboard_loads_as_a_grafana_model_with_unique_panels(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    model = Dashboard.from_json(raw)
    assert model.uid == path.stem
    ids = [panel["id"] for panel in raw["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in raw["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["description"], f"{panel['title']}: every panel says what it shows"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids == [chr(ord("A") + i) for i in range(len(ref_ids))], panel["title"]
        assert all('env=~"$env"' in target["expr"] for target in panel["targets"]), panel["title"]


def test_overview_shows_backups_drills_scaling_and_jobs() -> None:
    assert {
        "Backup age against schedule",
        "Restore-verify age against schedule",
        "Last restore-verify",
        "Last drill",
        "Drill RTO against target",
        "Drill RPO against target",
        "Drill age against schedule",
        "Desired capacity",
        "Scaling actions",
        "Forecast queue depth",
        "Job outcomes",
    } <= _titles(_load("fluxora-overview.json"))


def test_internals_show_events_decisions_jobs_inbox_and_schedules() -> None:
    assert {
        "Events received by source",
        "Events rejected by source and reason",
        "Rule decisions by outcome",
        "Event to decision latency",
        "Job duration by runbook",
        "Inbox depth",
        "Schedule runs",
        "Schedule misfires in the last hour",
    } <= _titles(_load("fluxora-orchestrator.json"))


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "fluxora.yml").read_text())
    (prometheus,) = datasources["datasources"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["isDefault"] is True
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "fluxora.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/var/lib/grafana/dashboards")


def test_operations_guide_describes_every_panel() -> None:
    guide = (REPO_ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    panels = [
        panel for path in dashboard_files() for panel in json.loads(path.read_text())["panels"]
    ]
    # Rows are named in italics and panels in bold: both contain *title*.
    missing = [panel["title"] for panel in panels if f"*{panel['title']}*" not in guide]
    assert not missing, f"docs/OPERATIONS.md does not describe {missing}"
