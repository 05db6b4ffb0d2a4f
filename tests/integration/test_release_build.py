"""`fluxora-orch release build|list|pin` on a clone of this repository, as an operator runs
them: what a release holds, that it is read-only and immutable, and pins."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from orchestrator.families.releases import build, pins
from tests.harness.fluxora import cli
from tests.harness.releases import Checkout

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    return Checkout.clone(tmp_path_factory.mktemp("releases") / "src")


def release(checkout: Checkout, root: Path, *args: str) -> tuple[int, str, str]:
    result = cli("release", "build", "--root", str(root), "--source", str(checkout.path), *args)
    return result.returncode, result.stdout, result.stderr


def test_a_release_holds_the_salt_tree_runbooks_monitoring_and_its_wheel(
    checkout: Checkout, tmp_path: Path
) -> None:
    code, out, err = release(checkout, tmp_path, "--json")
    assert code == 0, err
    made = json.loads(out)
    commit = checkout.git("rev-parse", "HEAD").strip()
    assert (made["version"], made["commit"], made["dirty"], made["new"]) == (
        commit[:12], commit, False, True,
    )  # fmt: skip
    tree = tmp_path / made["version"]
    for shipped in ("salt/states/top.sls", "salt/pillar/top.sls", "dr_runbooks/backup.yaml",
                    "monitoring/prometheus/rules/backups.rules.yml"):  # fmt: skip
        assert (tree / shipped).read_bytes() == (checkout.path / shipped).read_bytes()
    wheel = tree / "salt" / "fluxora-dist" / made["wheel"]
    assert build._sha256(wheel) == made["wheel_sha256"]
    assert made["digest"] == build.content_digest(checkout.path, build.source_files(checkout.path))
    assert not (tree / "orchestrator").exists()  # in the wheel, not beside it


def test_a_release_is_read_only(checkout: Checkout, tmp_path: Path) -> None:
    manifest, _ = build.build(checkout.path, tmp_path, "ro")
    modes = {stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "ro").rglob("*")} | {
        stat.S_IMODE((tmp_path / "ro").stat().st_mode)
    }
    assert modes == {0o444, 0o555}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".build-")] == []
    assert manifest.version == "ro"


def test_the_same_version_again_is_a_no_op_and_other_content_is_refused_naming_both_digests(
    checkout: Checkout, tmp_path: Path
) -> None:
    first, new = build.build(checkout.path, tmp_path, "v1")
    assert new
    again, new = build.build(checkout.path, tmp_path, "v1")
    assert (again, new) == (first, False)
    checkout.write("salt/states/fluxora/release-probe.sls", "probe: {test.nop: []}\n")
    try:
        code, out, err = release(checkout, tmp_path, "--version", "v1")
        changed = build.content_digest(checkout.path, build.source_files(checkout.path))
    finally:
        (checkout.path / "salt/states/fluxora/release-probe.sls").unlink()
    assert code == 1, out
    assert f"release v1 exists in {tmp_path} with digest {first.digest}" in err
    assert f"this checkout's content has digest {changed}" in err
    assert build.Manifest.read(tmp_path / "v1") == first


def test_a_dirty_checkout_needs_a_version(checkout: Checkout, tmp_path: Path) -> None:
    checkout.write("monitoring/README-probe.md", "uncommitted\n")
    try:
        code, _, err = release(checkout, tmp_path)
    finally:
        (checkout.path / "monitoring/README-probe.md").unlink()
    assert code == 1
    assert "has uncommitted changes" in err
    assert "--version" in err
    assert list(tmp_path.iterdir()) == []


def test_pins_are_swapped_and_listed(checkout: Checkout, tmp_path: Path) -> None:
    build.build(checkout.path, tmp_path, "a")
    build.build(checkout.path, tmp_path, "b")
    assert pins.pin(tmp_path, "dev", "a") is None
    before = pins.pin(tmp_path, "dev", "b")
    assert before is not None
    assert before.version == "a"
    assert pins.pin(tmp_path, "staging", "a") is None
    listed = cli("release", "list", "--root", str(tmp_path), "--json")
    assert listed.returncode == 0, listed.stderr
    assert {r["version"]: r["pinned_by"] for r in json.loads(listed.stdout)} == {
        "a": ["staging"],
        "b": ["dev"],
    }
    refused = cli("release", "pin", "--root", str(tmp_path), "prod", "c")
    assert refused.returncode == 1
    assert f"no release 'c' in {tmp_path}" in refused.stderr
