"""The shipped rules (the embedded dev defaults over dr_runbooks/), tested as an operator tests
a rule change: `fluxora-orch explain --event FILE`, offline, nothing sent or stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.fluxora import cli

pytestmark = pytest.mark.integration


def explain(tmp_path: Path, event: dict[str, Any]) -> dict[str, str]:
    """rule -> "decision: reason" for `event`, with the embedded defaults (no config file)."""
    path = tmp_path / "event.yaml"
    path.write_text(yaml.safe_dump(event))
    data_dir = tmp_path / "state"
    done = cli("explain", "--event", str(path), "--json", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert not data_dir.exists()  # offline: no store was opened
    found = json.loads(done.stdout)
    assert found["processed_at"] is None
    return {d["rule"]: f"{d['decision']}: {d['reason']}" for d in found["decisions"]}


def test_a_backup_schedule_fires_only_the_scheduled_backup_rule(tmp_path: Path) -> None:
    event = {"tag": "fluxora/schedule/backup-fluxora", "source": "schedule",
             "data": {"database": "fluxora", "kind": "logical"}}  # fmt: skip
    decisions = explain(tmp_path, event)
    fired = [rule for rule, text in decisions.items() if text.startswith("fired")]
    assert fired == ["backup-on-schedule"]
    assert "for runbook 'backup' in env 'dev'" in decisions["backup-on-schedule"]


def test_a_stale_backup_alert_of_another_env_fires_nothing(tmp_path: Path) -> None:
    labels = {"env": "staging", "database": "fluxora", "kind": "logical"}
    alert = {"tag": "fluxora/alert/FluxoraBackupStale/firing", "source": "alertmanager",
             "data": {"labels": labels}}  # fmt: skip
    decisions = explain(tmp_path, alert)
    assert decisions["backup-when-stale"] == "no-match: when is false: event.data.labels.env == env"


def test_a_request_naming_a_parameter_the_runbook_lacks_is_rejected(tmp_path: Path) -> None:
    event = {"tag": "fluxora/request/runbook/restore-drill",
             "data": {"env": "dev", "params": {"databse": "fluxora"}}}  # fmt: skip
    decisions = explain(tmp_path, event)
    assert decisions["runbook-request"] == (
        "rejected: runbook 'restore-drill': parameter 'databse': unknown "
        "(known: database, halt_file)"
    )


def test_an_event_file_without_a_tag_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "event.yaml"
    path.write_text("data: {}\n")
    done = cli("explain", "--event", str(path), "--data-dir", str(tmp_path / "state"))
    assert done.returncode == 1
    assert done.stderr.strip() == f"fluxora-orch: error: {path}: tag: must be a non-empty string"


def test_a_new_release_fires_a_deploy_to_dev_only(tmp_path: Path) -> None:
    event = {"tag": "fluxora/release/built", "source": "webhook",
             "data": {"version": "3f2a9c1d0b7e", "digest": "ab" * 32}}  # fmt: skip
    decisions = explain(tmp_path, event)
    fired = [rule for rule, text in decisions.items() if text.startswith("fired")]
    assert fired == ["deploy-dev-on-release"]
    assert "for runbook 'deploy' in env 'dev'" in decisions["deploy-dev-on-release"]
