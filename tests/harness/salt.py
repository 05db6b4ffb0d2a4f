"""Configuration of the test salt-master and salt-minions (pytest-salt-factories)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SALT_DIR = REPO / "salt"
FIXTURE_STATES = REPO / "tests" / "fixtures" / "salt"

# The named minions of the harness: two machines of the dev environment, so that batched
# deploys and per-host fan-out have more than one target.
# Their grains are what fluxora.common keeps equal to pillar fluxora:topology (salt/pillar).
DEV_ROLES = ["monitoring", "orchestrator", "postgres-primary", "postgres-replica", "redis"]
MINIONS: dict[str, dict[str, Any]] = {
    "dev-1": {"grains": {"fluxora": {"env": "dev", "roles": DEV_ROLES}}},
    "dev-2": {"grains": {"fluxora": {"env": "dev", "roles": []}}},
}


def master_overrides(test_pillar: list[Path], gpg_keydir: Path) -> dict[str, Any]:
    """The `test_pillar` roots (secrets encrypted to the throwaway key in `gpg_keydir`, dev
    overrides) come before salt/pillar."""
    return {
        # salt/states holds the states; salt/ itself serves salt://_modules, _states, _runners.
        "file_roots": {"base": [str(SALT_DIR / "states"), str(SALT_DIR), str(FIXTURE_STATES)]},
        "pillar_roots": {"base": [*map(str, test_pillar), str(SALT_DIR / "pillar")]},
        "gpg_keydir": str(gpg_keydir),
        "gpg_decrypt_must_succeed": True,  # as docs/OPERATIONS.md sets it
        "runner_dirs": [str(SALT_DIR / "_runners")],
        "fileserver_backend": ["roots"],
    }


def minion_overrides(minion_id: str) -> dict[str, Any]:
    # systemd_service loads because /usr/bin/systemctl exists but PID 1 is not systemd: its
    # service.running answers "OFFLINE mode, nothing to do" with result True. debian_service works.
    return {"disable_modules": ["systemd_service"], **MINIONS[minion_id]}


def load_module(path: Path, name: str) -> Any:
    """A Python file that is no importable module (a Salt module, a script) loaded as `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
