"""Backups from pillar alone: the config the fluxora.orchestrator state wrote on dev-1 backs up
the dev database (as the backup user, its password from the file the state wrote) and
restore-verifies it."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.harness.orchestrator import fluxora_orch
from tests.infra.conftest import AppliedDev

pytestmark = pytest.mark.integration


def _cli(applied: AppliedDev, *args: str) -> Any:
    config_file = applied.spec.overrides()["orchestrator"]["config_file"]
    argv = [fluxora_orch(), *args, "--local", "--json", "--config", config_file]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_deployed_config_backs_up_and_verifies_the_dev_database(
    dev_applied: AppliedDev,
) -> None:
    (backed_up,) = _cli(dev_applied, "backup")
    assert (backed_up["env"], backed_up["database"], backed_up["kind"]) == (
        "dev",
        "fluxora",
        "logical",
    )
    (verified,) = _cli(dev_applied, "restore-verify", "--backup", backed_up["backup_id"])
    assert verified["ok"], verified
