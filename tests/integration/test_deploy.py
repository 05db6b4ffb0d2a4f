"""Releases deployed by a real salt-master to real minions (one per environment): each
environment is a saltenv of its own on its pinned release (pinning changes what a minion gets,
the checkout does not); `fluxora-orch deploy plan|apply` plans, promotes in order, verifies and
rolls a broken release back."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS
from orchestrator.families.releases import build, history, pins
from orchestrator.families.releases.saltcli import SaltCli
from tests.harness.fluxora import Daemon, secret_env, start_daemon
from tests.harness.fluxora import cli as fluxora_cli
from tests.harness.processes import free_port, wait_until
from tests.harness.releases import Checkout, write_probe_release

pytestmark = pytest.mark.integration

ENVS = ("dev", "staging", "prod")
DEPLOY_SECONDS = 600


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("releases-root")


@pytest.fixture(scope="module")
def release_master(salt_factories: Any, releases: Path) -> Iterator[Any]:
    overrides = {**pins.master_roots(releases, ENVS), "fileserver_backend": ["roots"]}
    factory = salt_factories.salt_master_daemon("fluxora-releases-master", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def release_minions(release_master: Any) -> Iterator[list[str]]:
    """One minion per environment (`rel-<env>`), with the env grain a bootstrap writes."""
    factories = [
        release_master.salt_minion_daemon(
            f"rel-{env}",
            overrides={
                "disable_modules": ["systemd_service"],
                "grains": {"fluxora": {"env": env, "roles": []}},
            },
        )
        for env in ENVS
    ]
    started = [factory.started() for factory in factories]
    for context in started:
        context.__enter__()
    try:
        yield [factory.id for factory in factories]
    finally:
        for context in reversed(started):
            context.__exit__(None, None, None)


def _drift(settings: list[str]) -> dict[str, int]:
    """The counts of a `release-drift` run in dev (the plan of its pinned release)."""
    done = cli("runbook", "run", "release-drift", "--env", "dev", "--local", "--json", *settings)
    assert done.returncode == 0, done.stdout + done.stderr
    (step,) = json.loads(done.stdout)["journal"]["steps"]
    return dict(step["output"]["counts"])


def _checkout(tmp_path: Path) -> tuple[Checkout, Path]:
    """A checkout of the working tree, and the directory its probe releases write into."""
    probes = tmp_path / "probes"
    probes.mkdir()
    return Checkout.clone(tmp_path / "src"), probes


def test_a_pin_decides_what_an_environment_applies_and_the_checkout_does_not(
    release_master: Any, release_minions: list[str], releases: Path, tmp_path: Path
) -> None:
    checkout, probes = _checkout(tmp_path)
    salt = SaltCli(config_dir=Path(release_master.config_dir))
    write_probe_release(checkout, probes, "healthy A")
    build.build(checkout.path, releases, "pin-a")
    write_probe_release(checkout, probes, "healthy B")
    build.build(checkout.path, releases, "pin-b")
    for env in ENVS:
        pins.pin(releases, env, "pin-a")
    salt.refresh()
    for env in ENVS:
        salt.apply(env)
    assert {p.name: p.read_text() for p in probes.iterdir()} == {
        f"rel-{env}": "healthy A\n" for env in ENVS
    }

    write_probe_release(checkout, probes, "healthy from the checkout")  # committed, not built
    pins.pin(releases, "dev", "pin-b")
    salt.refresh()
    for env in ENVS:
        salt.apply(env)
    assert {p.name: p.read_text() for p in probes.iterdir()} == {
        "rel-dev": "healthy B\n",
        "rel-staging": "healthy A\n",
        "rel-prod": "healthy A\n",
    }


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`fluxora-orch`, with room for a deploy on a loaded machine (a few Salt runs each)."""
    return fluxora_cli(*args, env=env, timeout=DEPLOY_SECONDS)


def _orchestrator(tmp_path: Path, master: Any, releases: Path) -> list[str]:
    """Settings of `fluxora-orch` on the shipped rules and runbooks, deploying with `master`."""
    config = {
        "env": "dev",
        "salt": {"master_config": str(master.config_file)},
        "releases": {"root": str(releases)},
    }
    (tmp_path / "orch.yaml").write_text(yaml.safe_dump(config))
    return ["--config", str(tmp_path / "orch.yaml"), "--data-dir", str(tmp_path / "data"),
            "--listen", f"127.0.0.1:{free_port()}"]  # fmt: skip


def test_a_release_is_planned_promoted_in_order_and_a_broken_one_rolled_back(
    release_master: Any, release_minions: list[str], releases: Path, tmp_path: Path
) -> None:
    checkout, probes = _checkout(tmp_path)
    for version, content in (("a", "healthy A"), ("b", "healthy B"), ("c", "broken C")):
        write_probe_release(checkout, probes, content)
        build.build(checkout.path, releases, version)
    settings = _orchestrator(tmp_path, release_master, releases)

    def deploy(*args: str) -> tuple[int, str, str]:
        done = cli("deploy", *args, *settings, "--local")
        return done.returncode, done.stdout, done.stderr

    code, out, err = deploy("apply", "dev", "--release", "a")
    assert code == 0, out + err
    assert (probes / "rel-dev").read_text() == "healthy A\n"

    plan = cli("deploy", "plan", "dev", "--release", "b", *settings)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"change rel-dev: file.managed {probes}/rel-dev" in plan.stdout
    assert "0 to add, 1 to change, 0 to remove" in plan.stdout

    started = time.monotonic()
    code, out, err = deploy("apply", "dev", "--release", "b")
    promotion = time.monotonic() - started
    assert code == 0, out + err
    assert (probes / "rel-dev").read_text() == "healthy B\n"
    no_drift = cli("deploy", "plan", "dev", "--release", "b", *settings)
    assert no_drift.returncode == 0, no_drift.stdout + no_drift.stderr
    assert _drift(settings) == {"add": 0, "change": 0, "remove": 0, "error": 0}
    (probes / "rel-dev").write_text("healthy by hand\n")
    assert _drift(settings) == {"add": 0, "change": 1, "remove": 0, "error": 0}
    (probes / "rel-dev").write_text("healthy B\n")

    started = time.monotonic()
    code, out, err = deploy("apply", "dev", "--release", "c")
    rollback = time.monotonic() - started
    assert code == 1, out + err
    assert "deploy of c to dev: failed" in out
    assert "verification of c in dev failed: rel-dev:" in out
    assert (probes / "rel-dev").read_text() == "healthy B\n"
    pinned = pins.pinned(releases, "dev")
    assert pinned is not None
    assert pinned.version == "b"
    last = history.records(releases)[-1]
    assert (last.env, last.release, last.outcome, last.detail) == (
        "dev", "c", history.Outcome.ROLLED_BACK, "back on b")  # fmt: skip

    code, out, err = deploy("apply", "staging", "--release", "c")
    assert code == 1
    assert "release c has not deployed and verified in dev: deploy it to dev first" in out
    code, out, err = deploy("apply", "staging", "--release", "b")
    assert code == 0, out + err
    assert (probes / "rel-staging").read_text() == "healthy B\n"

    code, out, err = deploy("apply", "prod", "--release", "b")
    assert code == 1
    assert "awaits approval of plan" in err
    assert not (probes / "rel-prod").exists()
    print(f"promotion to dev {promotion:.1f} s, failed deploy with rollback {rollback:.1f} s")


def _window(start: datetime, minutes: int) -> str:
    return f"{start:%H:%M}-{start + timedelta(minutes=minutes):%H:%M}"


def _daemon_config(path: Path, master: Any, releases: Path, prod_window: str) -> Path:
    """prod's daemon (the embedded dev defaults do not apply) with two shipped rules: requests,
    and a new release's deploy to dev."""
    shipped = yaml.safe_load(EMBEDDED_DEFAULTS.read_text())["rules"]
    wanted = {"runbook-request", "deploy-dev-on-release"}
    config = {
        "env": "prod",
        "rules": [rule for rule in shipped if rule["name"] in wanted],
        "salt": {"master_config": str(master.config_file)},
        "releases": {"root": str(releases), "windows": {"prod": [prod_window]}},
        "shutdown_grace_seconds": 1,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _approve_and_wait(daemon: Daemon, job_id: str) -> dict[str, Any]:
    approved = cli("approve", job_id, *daemon.settings(), env=secret_env())
    assert approved.returncode == 0, approved.stderr
    done: list[dict[str, Any]] = []

    def ended() -> bool:
        done[:] = [daemon.client.get(f"/api/jobs/{job_id}")]
        return done[0]["status"] in {"completed", "failed", "aborted"}

    wait_until(ended, 300, f"job {job_id} to end")
    return done[0]


def _apply(daemon: Daemon, env: str) -> tuple[int, str, str]:
    """`fluxora-orch deploy apply ENV --release p` through the daemon."""
    done = cli("deploy", "apply", env, "--release", "p", *daemon.settings(), env=secret_env())
    return done.returncode, done.stdout, done.stderr


def _ended_deploy(daemon: Daemon) -> dict[str, Any]:
    """The daemon's one deploy job, once it has ended."""
    found: list[dict[str, Any]] = []

    def ended() -> bool:
        found[:] = daemon.client.get("/api/jobs?runbook=deploy")
        return len(found) == 1 and found[0]["status"] in {"completed", "failed", "aborted"}

    wait_until(ended, 300, "the deploy job of the new release to end")
    return found[0]


def _awaiting_job(stderr: str) -> str:
    assert "awaits approval of plan" in stderr, stderr
    return stderr.rsplit("fluxora-orch approve ", 1)[1].split(maxsplit=1)[0]


def test_prod_applies_only_the_approved_plan_inside_its_window_through_the_daemon(
    release_master: Any, release_minions: list[str], releases: Path, tmp_path: Path
) -> None:
    checkout, probes = _checkout(tmp_path)
    write_probe_release(checkout, probes, "healthy P")
    later = datetime.now(UTC) + timedelta(hours=12)
    config = _daemon_config(tmp_path / "orch.yaml", release_master, releases, _window(later, 30))
    daemon = start_daemon(tmp_path, config_path=config)
    try:
        built = cli("release", "build", "--root", str(releases), "--source", str(checkout.path),
                    "--version", "p", *daemon.settings(), env=secret_env())  # fmt: skip
        assert built.returncode == 0, built.stderr
        assert "announced fluxora/release/built" in built.stderr
        dev_job = _ended_deploy(daemon)
        assert (dev_job["env"], dev_job["rule"], dev_job["status"]) == (
            "dev", "deploy-dev-on-release", "completed")  # fmt: skip
        assert (probes / "rel-dev").read_text() == "healthy P\n"
        code, out, err = _apply(daemon, "staging")
        assert code == 0, out + err
        code, _, err = _apply(daemon, "prod")
        assert code == 1
        job = _approve_and_wait(daemon, _awaiting_job(err))
        assert job["status"] == "aborted"
        gate = job["journal"]["steps"][0]
        assert "prod is outside its maintenance windows" in gate["error"]
        assert f"the next opens {later:%a %Y-%m-%d %H:%M} UTC" in gate["error"]
        assert not (probes / "rel-prod").exists()
    finally:
        daemon.stop()

    now = datetime.now(UTC) - timedelta(minutes=5)
    _daemon_config(config, release_master, releases, _window(now, 60))
    daemon = daemon.restart()
    try:
        code, _, err = _apply(daemon, "prod")
        first = _awaiting_job(err)
        (probes / "rel-prod").write_text("healthy by hand\n")  # the plan changes: add -> change
        job = _approve_and_wait(daemon, first)
        assert job["status"] == "aborted"
        plan_step = job["journal"]["steps"][-1]
        assert plan_step["name"] == "plan"
        assert "is not the approved plan" in plan_step["error"]
        assert (probes / "rel-prod").read_text() == "healthy by hand\n"

        code, _, err = _apply(daemon, "prod")
        job = _approve_and_wait(daemon, _awaiting_job(err))
        assert job["status"] == "completed", job["journal"]
        assert (probes / "rel-prod").read_text() == "healthy P\n"
        assert daemon.client.sample("fluxora_release_info", env="prod", version="p") == 1
        assert daemon.client.sample("fluxora_deploys_total", env="prod", result="success") == 1
        assert daemon.client.sample("fluxora_deploys_total", env="prod", result="refused") == 1
        assert daemon.client.sample("fluxora_deploy_last_success_timestamp_seconds", env="prod") > 0
    finally:
        daemon.stop()
