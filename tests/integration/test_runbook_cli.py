"""`fluxora-orch runbook list|run|report` against the real daemon, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.fluxora import FIXTURE_RUNBOOKS, Daemon, cli, secret_env

pytestmark = pytest.mark.integration


def runbook(daemon: Daemon, *args: str) -> tuple[int, str, str]:
    result = cli("runbook", *args, *daemon.settings(), env=secret_env())
    return result.returncode, result.stdout, result.stderr


def test_list_shows_targets_and_approval(orch_daemon: Daemon) -> None:
    code, out, err = runbook(orch_daemon, "list", "--json")
    assert code == 0, err
    by_name = {r["name"]: r for r in json.loads(out)}
    assert by_name["drill"]["rto_seconds"] == 600
    assert by_name["gated"]["approval"] == ["dev", "prod"]


def test_run_waits_prints_the_journal_and_exits_0_when_completed(
    orch_daemon: Daemon, tmp_path: Path
) -> None:
    code, out, err = runbook(
        orch_daemon, "run", "drill", "--env", "dev", "--param", f"dir={tmp_path}"
    )
    assert code == 0, err
    assert ": completed" in out
    assert "step     hold" in out
    assert "RTO/RPO: RTO" in out
    assert "targets met" in out


def test_run_exits_1_when_the_run_does_not_complete(orch_daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "halt-before").touch()
    code, out, _ = runbook(orch_daemon, "run", "drill", "--param", f"dir={tmp_path}", "--json")
    assert code == 1
    job = json.loads(out)
    assert job["status"] == "aborted"
    assert "not-halted" in job["journal"]["error"]


def test_a_dry_run_plans_without_acting(orch_daemon: Daemon, tmp_path: Path) -> None:
    code, out, err = runbook(
        orch_daemon, "run", "drill", "--dry-run", "--param", f"dir={tmp_path}",
        "--param", "seconds=3000", "--json",
    )  # fmt: skip
    assert code == 0, err
    job = json.loads(out)
    assert job["dry_run"] is True
    (hold,) = [s for s in job["journal"]["steps"] if s["name"] == "hold"]
    assert hold["output"] == {"plan": "wait 3000s"}
    assert job["journal"]["extensions"]["dr"] == {"dry_run": True, "policy": None}


def test_a_run_that_needs_approval_says_how_and_waits(orch_daemon: Daemon) -> None:
    code, out, err = runbook(
        orch_daemon, "run", "gated", "--env", "dev", "--param", "who=ops", "--timeout", "3"
    )
    assert code == 1
    (line,) = [line for line in out.splitlines() if "awaiting-approval" in line]
    job_id = line.split()[1].rstrip(":")
    assert line == f"job {job_id}: awaiting-approval (fluxora-orch approve {job_id})"
    assert f"timed out waiting for job {job_id} to finish" in err
    rejected = cli("reject", job_id, *orch_daemon.settings(), env=secret_env())
    assert rejected.returncode == 0, rejected.stderr


def test_an_unknown_runbook_is_refused_with_the_reason(orch_daemon: Daemon) -> None:
    code, _, err = runbook(orch_daemon, "run", "no-such-runbook", "--timeout", "30")
    assert code == 1
    assert "  runbook-request: rejected: no runbook named 'no-such-runbook'" in err.splitlines()


def test_a_bad_param_is_a_usage_error(orch_daemon: Daemon) -> None:
    code, _, err = runbook(orch_daemon, "run", "drill", "--param", "novalue")
    assert code == 1
    assert "--param 'novalue': expected KEY=VALUE" in err


def test_report_writes_markdown_and_a_png_timeline(orch_daemon: Daemon, tmp_path: Path) -> None:
    code, out, err = runbook(orch_daemon, "run", "drill", "--param", f"dir={tmp_path}", "--json")
    assert code == 0, err
    job_id = json.loads(out)["id"]
    code, out, err = runbook(orch_daemon, "report", job_id, "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    files = json.loads(out)
    markdown = Path(files["markdown"]).read_text()
    assert f"# Drill report: `drill` in dev (job {job_id})" in markdown
    assert "| RTO |" in markdown
    assert "| step | hold | `wait` | ok |" in markdown
    assert Path(files["timeline"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_docs_check_fails_on_a_stale_page_until_docs_rewrites_it(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "drill.yaml").write_text((FIXTURE_RUNBOOKS / "drill.yaml").read_text())
    config = tmp_path / "config.yaml"
    config.write_text(f"runbooks_dir: {runbooks}\n")
    settings = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    stale = cli("runbook", "docs", "--check", *settings)
    assert stale.returncode == 1
    assert f"{runbooks}/docs/drill.md: out of date" in stale.stdout
    written = cli("runbook", "docs", "--write", *settings)
    assert written.returncode == 0, written.stderr
    assert written.stdout == f"wrote {runbooks}/docs/drill.md\n"
    assert cli("runbook", "docs", "--check", *settings).returncode == 0
    again = cli("runbook", "docs", "--write", *settings)
    assert again.stdout == f"1 pages in {runbooks}/docs are up to date\n"


def test_docs_prints_the_page_of_a_runbook(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"runbooks_dir: {FIXTURE_RUNBOOKS}\n")
    settings = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    printed = cli("runbook", "docs", "drill", *settings)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("<!-- generated by `fluxora-orch runbook docs`")
    assert "# Runbook `drill`" in printed.stdout
    unknown = cli("runbook", "docs", "nope", *settings)
    assert unknown.returncode == 1
    assert "no runbook named 'nope' (known: " in unknown.stderr
