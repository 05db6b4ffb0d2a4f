"""`make run` starts what the embedded defaults use: scripts/dev-database (which scripts/run
calls) makes the database the defaults name answer on their port, idempotently."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS
from tests.harness.postgres import PgCluster
from tests.harness.processes import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_make_run_starts_the_embedded_defaults_database() -> None:
    run_script = (REPO / "scripts" / "run").read_text()
    assert "scripts/dev-database orchestrator/defaults/dev.yaml" in run_script


def test_dev_database_starts_the_database_the_defaults_name(run_id: str, tmp_path: Path) -> None:
    defaults = yaml.safe_load(EMBEDDED_DEFAULTS.read_text())
    (database,) = defaults["databases"]["dev"].values()
    port = free_port()  # the shipped port (5433) may be someone's on a shared machine
    defaults["databases"]["dev"] = {"fluxora": {**database, "port": port}}
    copy = tmp_path / "dev.yaml"
    copy.write_text(yaml.safe_dump(defaults))
    name = f"fxt_{run_id}_{os.getpid()}_devdb"
    argv = [str(REPO / "scripts" / "dev-database"), str(copy), name]
    try:
        first = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        assert first.returncode == 0, first.stderr
        assert first.stdout.split() == [database["host"], str(port), database["dbname"]]
        assert f"creating database {database['dbname']}" in first.stderr
        second = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        assert second.returncode == 0, second.stderr
        assert second.stderr == "", "a second run finds everything in place"
        found = subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-h", database["host"],
             "-p", str(port), "-d", database["dbname"], "-c", "SELECT current_database()"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert found.stdout.strip() == database["dbname"], found.stderr
    finally:
        PgCluster("15", name, port).drop()
