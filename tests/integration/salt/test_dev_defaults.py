"""The embedded dev defaults (orchestrator/defaults/dev.yaml, what `fluxora-orch run` uses with
no config file) are generated from the dev environment's rendered config: its schedules and
rules, and its database at the port `make run` starts (scripts/run). After an intended dev
pillar change: FLUXORA_UPDATE_GOLDEN=1 (as for the mapdata golden files), and review the diff."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS
from tests.integration.salt.conftest import orchestrator_config_state

pytestmark = [pytest.mark.integration, pytest.mark.validate]

HEADER = """\
# Embedded defaults of the dev environment: `fluxora-orch run` with no config file uses these.
# GENERATED from the dev environment's rendered config (salt/pillar/fluxora/defaults.sls and
# dev.sls, through the fluxora.orchestrator state) by tests/integration/salt/test_dev_defaults.py,
# which fails when they differ: change the pillar, then regenerate with FLUXORA_UPDATE_GOLDEN=1.
# A dev config file is layered over them key by key (docs/OPERATIONS.md "Settings"); other
# environments get theirs from pillar. The database is the dev primary's port and database,
# reached on the local socket: `make run` (scripts/run) starts a cluster there when none answers.
"""
# scripts/run's cluster takes local connections without a password (the developer's machine).
SOCKET_DIR = "/var/run/postgresql"


def _embedded_from(rendered: dict[str, Any]) -> dict[str, Any]:
    databases = {
        name: {"host": SOCKET_DIR, "port": db["port"], "dbname": db["dbname"]}
        for name, db in rendered["databases"]["dev"].items()
    }
    return {
        "databases": {"dev": databases},
        "schedules": [_name_first(item) for item in rendered["schedules"]],
        "rules": [_name_first(item) for item in rendered["rules"]],
    }


def _name_first(item: dict[str, Any]) -> dict[str, Any]:
    return {"name": item["name"], **{k: v for k, v in item.items() if k != "name"}}


def test_embedded_defaults_are_the_dev_environments_rendered_config(
    highstates: dict[tuple[str, str], Any],
) -> None:
    expected = _embedded_from(orchestrator_config_state(highstates, "dev")["dataset"])
    if os.environ.get("FLUXORA_UPDATE_GOLDEN") == "1":
        text = HEADER + yaml.safe_dump(expected, sort_keys=False, width=100)
        EMBEDDED_DEFAULTS.write_text(text, encoding="utf-8")
    embedded = yaml.safe_load(EMBEDDED_DEFAULTS.read_text(encoding="utf-8"))
    assert embedded == expected, "regenerate with FLUXORA_UPDATE_GOLDEN=1 (see the docstring)"
    schedules = {s["name"] for s in embedded["schedules"]}
    assert "backup-fluxora-physical" in schedules, "the weekly physical backup runs in dev too"
    (database,) = embedded["databases"]["dev"].values()
    assert database["port"] == 5433, "the dev primary's port (salt/pillar/fluxora/dev.sls)"
