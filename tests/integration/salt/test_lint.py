"""salt/ passes salt-lint and yamllint, and holds no clear-text secret (detect-secrets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness.salt import SALT_DIR

pytestmark = pytest.mark.integration

REPO = SALT_DIR.parent
BIN = Path(sys.executable).parent
SECRET_KEYS = ("password", "token", "secret")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)


def test_salt_lint_passes_on_every_sls() -> None:
    skip = SALT_DIR / "monitoring"  # a symlink to monitoring/, which has no .sls
    sls = sorted(str(p.relative_to(REPO)) for p in SALT_DIR.rglob("*.sls") if skip not in p.parents)
    assert len(sls) > 40
    result = _run([str(BIN / "salt-lint"), *sls])
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_passes_on_salt() -> None:
    result = _run([str(BIN / "yamllint"), "--strict", "salt/"])
    assert result.returncode == 0, result.stdout + result.stderr


def _detect_secrets(path: Path) -> dict[str, list[dict[str, object]]]:
    # Scanned from its parent: detect-secrets silently skips a path outside its working tree.
    result = subprocess.run(
        [str(BIN / "detect-secrets"), "scan", "--all-files", path.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["results"])


def test_detect_secrets_finds_nothing_in_salt() -> None:
    assert _detect_secrets(SALT_DIR) == {}


def test_detect_secrets_would_catch_a_clear_text_secret(tmp_path: Path) -> None:
    leaked = tmp_path / "leak.sls"
    leaked.write_text(
        "fluxora:\n  postgres:\n    replication:\n      password: 'k9#Lq2!vR8zT4wXp'\n"
    )
    assert _detect_secrets(tmp_path)


def _secret_values(node: object, path: str = "") -> list[str]:
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            here = f"{path}:{key}" if path else str(key)
            if str(key).lower().endswith(SECRET_KEYS) and value not in (None, ""):
                found.append(here)
            found += _secret_values(value, here)
        return found
    if isinstance(node, list):
        return [hit for item in node for hit in _secret_values(item, path)]
    return []


def test_committed_pillar_sets_no_secret_in_clear() -> None:
    """Secrets come only from GPG-encrypted secrets/<env>.sls, which are not in the repository."""
    committed = sorted((SALT_DIR / "pillar").rglob("*.sls"))
    assert not [p for p in committed if "secrets" in p.parts]
    for path in committed:
        text = path.read_text()
        if path.name == "top.sls" or "{%" in text.split("\n", 3)[0]:
            continue
        data = yaml.safe_load(text.replace("{%- raw %}", "").replace("{%- endraw %}", ""))
        assert _secret_values(data) == [], path
