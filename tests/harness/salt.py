"""Configuration of the test salt-master and salt-minions (pytest-salt-factories)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SALT_DIR = REPO / "salt"
FIXTURE_STATES = REPO / "tests" / "fixtures" / "salt"

# The named minions of the harness: dev-1, the dev environment's machine (its id is in dev's
# topology), and dev-2, a second target for fan-out ('*') whose id no topology has: although
# its grains claim dev, it gets the pillar defaults only and no states (pillar by minion id).
# The grains are what fluxora.common would write; nothing targets by them.
DEV_ROLES = ["etcd", "monitoring", "orchestrator", "postgres-primary", "postgres-replica", "redis"]
# orch.deploy's steps, in the order it runs them (dev has no `cloud` step).
DEPLOY_STEPS = (
    "common",
    "etcd",
    "postgres-primary",
    "postgres-replica",
    "redis",
    "monitoring",
    "orchestrator",
    "cloud",
)
MINIONS: dict[str, dict[str, Any]] = {
    "dev-1": {"grains": {"fluxora": {"env": "dev", "roles": DEV_ROLES}}},
    "dev-2": {"grains": {"fluxora": {"env": "dev", "roles": []}}},
}


def master_overrides(
    test_pillar: list[Path], gpg_keydir: Path, dist_root: Path | None = None
) -> dict[str, Any]:
    """The `test_pillar` roots (secrets encrypted to the throwaway key in `gpg_keydir`, dev
    overrides) come before salt/pillar; `dist_root` holds the release wheelhouse fluxora-dist/
    (tests.harness.wheel.build_wheel) served as salt://fluxora-dist."""
    roots = [SALT_DIR / "states", SALT_DIR, FIXTURE_STATES, *([dist_root] if dist_root else [])]
    return {
        # salt/states holds the states; salt/ itself serves salt://_modules, _states, _runners.
        "file_roots": {"base": [str(root) for root in roots]},
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


@contextlib.contextmanager
def all_started(factories: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every daemon of `factories` started; stopped in reverse order on exit."""
    with contextlib.ExitStack() as stack:
        for factory in factories.values():
            stack.enter_context(factory.started())
        yield factories
