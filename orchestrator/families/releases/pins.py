"""The pin of each environment to one release: `<root>/envs/<env>`, a symbolic link to
`../<version>`. The Salt master serves each environment as a saltenv of its own from the pinned
release (`master_roots`), so the master's checkout is in no environment's path: changing it
changes nothing that runs. Re-pinning writes a new link beside the old one and renames it over
it (`rename(2)`: one atomic step; a reader sees the old release or the new, never neither)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.families.releases.build import ENVS_DIR, MANIFEST, Manifest, ReleaseError


def _link(root: Path, env: str) -> Path:
    return root / ENVS_DIR / env


def pinned(root: Path, env: str) -> Manifest | None:
    """The release `env` is pinned to, or None before its first pin."""
    link = _link(root, env)
    if not link.is_symlink():
        return None
    return Manifest.read(link.resolve())


def pin(root: Path, env: str, version: str) -> Manifest | None:
    """Point `env` at release `version`; the release it was pinned to before (None if none)."""
    release = root / version
    if not (release / MANIFEST).is_file():
        raise ReleaseError(f"no release {version!r} in {root} (fluxora-orch release list)")
    before = pinned(root, env)
    link = _link(root, env)
    link.parent.mkdir(parents=True, exist_ok=True)
    _clear_empty_roots(link)
    fresh = link.parent / f".{env}.{os.getpid()}.new"
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(Path("..") / version)
    os.replace(fresh, link)
    return before


def _clear_empty_roots(link: Path) -> None:
    """A salt-master started before the first pin creates its missing roots as empty
    directories where the link goes: remove those; refuse anything holding a file."""
    if link.is_symlink() or not link.is_dir():
        return
    held = [path for path in link.rglob("*") if not path.is_dir()]
    if held:
        raise ReleaseError(f"{link} is a directory holding {held[0]}, not a pin: move it away")
    shutil.rmtree(link)


def plan_env(env: str) -> str:
    """The saltenv a deploy plans in: the environment's hosts, the candidate release."""
    return f"plan-{env}"


def master_roots(root: Path, envs: Iterable[str]) -> dict[str, Any]:
    """The master's `file_roots` and `pillar_roots`: one saltenv per environment, each on its
    pinned release (salt/states for the states, salt/ for salt://_modules and the others),
    and one per environment for the release a deploy plans (`plan-<env>`)."""
    file_roots: dict[str, list[str]] = {}
    pillar_roots: dict[str, list[str]] = {}
    for saltenv in [name for env in envs for name in (env, plan_env(env))]:
        salt = _link(root, saltenv) / "salt"
        file_roots[saltenv] = [str(salt / "states"), str(salt)]
        pillar_roots[saltenv] = [str(salt / "pillar")]
    return {"file_roots": file_roots, "pillar_roots": pillar_roots}
