"""`fluxora-orch validate` checks resources: each named config below lacks one thing that a
runbook its schedules or rules start needs; the message names the schedule or rule, the
runbook and the missing key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.app import wiring
from orchestrator.app.config import load_config
from orchestrator.app.requirements import MissingResourcesError, check_resources

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

DRILL_RULE = {
    "name": "drill-on-schedule",
    "match": "fluxora/schedule/drill-*",
    "run": "{{ event.data.runbook }}",
    "with": "{{ event.data.params | default({}) }}",
}
NODES = {
    "db1": {"host": "10.0.0.1", "dns_name": "db1.example"},
    "db2": {"host": "10.0.0.2", "dns_name": "db2.example"},
}
CLUSTER = {
    "home": "db1",
    "nodes": NODES,
    "endpoint": {"kind": "route53", "zone": "example.", "record": "db.example."},
}
DATABASE = {"fluxora": {"host": "10.0.0.1", "dbname": "fluxora", "production": True}}
PITR = {
    "database": "fluxora",
    "server_name": "fluxora-staging",
    "archive": {"url": "s3://b/wal", "region": "eu-west-1"},
    "dr_archive": {"url": "s3://b-dr/wal", "region": "eu-central-1"},
}


def _drill(name: str, runbook: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "cron": "0 5 * * tue",
        "data": {"runbook": runbook, "params": params or {}},
    }


CASES = {
    "failover-without-cluster": (
        {"schedules": [_drill("drill-failover", "postgres-failover")], "rules": [DRILL_RULE]},
        "schedule 'drill-failover' starts runbook 'postgres-failover' in env 'staging': "
        "steps.0 (postgres.roles) needs postgres_clusters.staging.main",
    ),
    "evacuation-without-dr-node-and-region": (
        {
            "schedules": [_drill("drill-evacuate", "region-evacuation")],
            "rules": [DRILL_RULE],
            "postgres_clusters": {"staging": {"main": CLUSTER}},
            "databases": {"staging": DATABASE},
        },
        "runbook 'region-evacuation' in env 'staging': steps.4 (aws.asg.set_dr_capacity) "
        "needs aws.dr_region",
    ),
    "restore-drill-of-production-without-scratch-server": (
        {
            "schedules": [_drill("drill-restore", "restore-drill", {"database": "fluxora"})],
            "rules": [DRILL_RULE],
            "databases": {"staging": DATABASE},
        },
        "schedule 'drill-restore' starts runbook 'restore-drill' in env 'staging': steps.0 "
        "(postgres.verify) needs backup.restore_targets.staging",
    ),
    "backup-of-unknown-database": (
        {
            "schedules": [
                {
                    "name": "backup-x",
                    "cron": "15 2 * * *",
                    "data": {"database": "x", "kind": "logical"},
                }
            ],
            "rules": [
                {
                    "name": "backup-on-schedule",
                    "match": "fluxora/schedule/backup-*",
                    "run": "backup",
                    "with": {
                        "database": "{{ event.data.database }}",
                        "kind": "{{ event.data.kind }}",
                    },
                }
            ],
            "databases": {"staging": DATABASE},
        },
        "schedule 'backup-x' starts runbook 'backup' in env 'staging': steps.0 "
        "(postgres.backup) needs databases.staging.x",
    ),
    "alert-rule-scaling-an-unknown-group": (
        {
            "rules": [
                {
                    "name": "backlog",
                    "match": "fluxora/alert/Backlog/firing",
                    "when": "event.data.labels.env == env",
                    "run": "scale-out",
                    "with": {"group": "fluxora-{{ env }}-worker"},
                }
            ]
        },
        "rule 'backlog' starts runbook 'scale-out' in env 'staging': steps.0 "
        "(aws.asg.scale_by) needs scaling.groups.fluxora-staging-worker",
    ),
}


def _config(tmp_path: Path, body: dict[str, Any]) -> Any:
    file = tmp_path / "orchestrator.yml"
    file.write_text(yaml.safe_dump({"env": "staging", "data_dir": str(tmp_path), **body}))
    return load_config(config_file=file, environ={})


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_missing_resource_names_source_runbook_and_key(case: str, tmp_path: Path) -> None:
    body, message = CASES[case]
    config = _config(tmp_path, body)
    with pytest.raises(MissingResourcesError) as caught:
        check_resources(config, wiring.definitions(config), NOW)
    assert message in str(caught.value)


def test_nothing_missing_when_every_resource_is_configured(tmp_path: Path) -> None:
    body = {
        "schedules": [
            _drill("drill-failover", "postgres-failover"),
            _drill("drill-evacuate", "region-evacuation"),
        ],
        "rules": [DRILL_RULE],
        "postgres_clusters": {"staging": {"main": {**CLUSTER, "dr_node": "db2"}}},
        "databases": {"staging": DATABASE},
        "backup": {"pitr": {"staging": PITR}},
        "aws": {"dr_region": "eu-central-1"},
    }
    config = _config(tmp_path, body)
    check_resources(config, wiring.definitions(config), NOW)


def test_rules_on_schedule_events_follow_the_schedules(tmp_path: Path) -> None:
    """A rule that only schedule events fire starts nothing when no schedule fires it (dev has
    no forecast window): not reported."""
    rule = {
        "name": "prescale",
        "match": "fluxora/schedule/forecast-window-prescale",
        "run": "scale-to",
        "with": {"group": "fluxora-{{ env }}-worker", "capacity": 4},
    }
    config = _config(tmp_path, {"rules": [rule]})
    check_resources(config, wiring.definitions(config), NOW)
