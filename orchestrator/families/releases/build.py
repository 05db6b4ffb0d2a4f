"""`fluxora-orch release build`: an immutable release `<root>/<version>/` made from a checkout.

A release holds what an environment runs: the Salt tree (`salt/`), the runbooks
(`dr_runbooks/`), the monitoring (`monitoring/`) and the orchestrator wheel built from the same
files (`salt/fluxora-dist/`, which the environment's saltenv serves as salt://fluxora-dist),
with `manifest.json`: version, source commit, whether the checkout had uncommitted changes,
and the content digest. The digest is the sha256 over every file's path
and sha256 of the release's sources (the checkout's tracked and new files under the paths in
SOURCES): the wheel's own bytes carry build timestamps, so two builds of the same files differ
in them; the manifest records the wheel's sha256 besides.

The release is assembled in a scratch directory beside its final place and renamed into it
(one atomic step), then made read-only. Building a version again with the same digest is a
no-op; with another digest it is refused, naming both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestrator.core.errors import FluxoraError

MANIFEST = "manifest.json"
SHIPPED = ("salt", "dr_runbooks", "monitoring")
"""What a release holds as files, besides its wheel."""
SOURCES = (*SHIPPED, "orchestrator", "pyproject.toml")
"""What the content digest covers: the shipped files and the wheel's sources."""
ENVS_DIR = "envs"
WHEELHOUSE = "salt/fluxora-dist"
"""Where fluxora.orchestrator installs the wheel from (salt://fluxora-dist): the release's own."""
GIT_TIMEOUT = 60
WHEEL_TIMEOUT = 300


class ReleaseError(FluxoraError, ValueError):
    """A release can not be built, read or pinned as asked."""


@dataclass(frozen=True, kw_only=True)
class Manifest:
    version: str
    commit: str
    dirty: bool
    digest: str
    wheel: str
    wheel_sha256: str
    files: int

    @classmethod
    def read(cls, release: Path) -> Manifest:
        path = release / MANIFEST
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ReleaseError(f"{path}: not a release manifest: {exc}") from exc


def _run(argv: Sequence[str], timeout: float) -> str:
    """The command's stdout; ReleaseError naming it and its stderr when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        raise ReleaseError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def _git(source: Path, *args: str) -> str:
    return _run(["git", "-C", str(source), *args], GIT_TIMEOUT)


def source_files(source: Path) -> list[str]:
    """The checkout's tracked and new (not ignored) files under SOURCES, sorted."""
    listed = _git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted(
        name
        for name in listed.split("\0")
        if name and name.split("/", 1)[0] in SOURCES and (source / name).is_file()
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def content_digest(source: Path, names: Iterable[str]) -> str:
    """sha256 over `path NUL sha256 LF` of each file (links by their target's content)."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}\0{_sha256(source / name)}\n".encode())
    return digest.hexdigest()


def _commit(source: Path) -> tuple[str, bool]:
    commit = _git(source, "rev-parse", "HEAD").strip()
    dirty = bool(_git(source, "status", "--porcelain", "--", *SOURCES).strip())
    return commit, dirty


def default_version(source: Path) -> str:
    """The source commit's short hash (a dirty checkout must be given a version)."""
    commit, dirty = _commit(source)
    if dirty:
        raise ReleaseError(
            f"{source} has uncommitted changes under {', '.join(SOURCES)}: commit them, or "
            "name the release with --version"
        )
    return commit[:12]


def check_version(version: str) -> str:
    if (
        not version
        or version.startswith(".")
        or any(c in version for c in "/\0 ")
        or (version == ENVS_DIR)
    ):
        raise ReleaseError(f"release version {version!r}: not a directory name")
    return version


def _copy(source: Path, names: Sequence[str], into: Path) -> None:
    for name in names:
        if name.split("/", 1)[0] in SHIPPED:
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target)


def _build_wheel(source: Path, into: Path) -> Path:
    out = _run([str(source / "scripts" / "build-wheel"), str(into)], WHEEL_TIMEOUT)
    return Path(out.strip().splitlines()[-1])


def _freeze(tree: Path) -> None:
    """Read-only for everyone: files 0444, directories 0555 (the tree itself last). Readable
    by all on purpose: a release holds what git holds (pillar secrets only as GPG blocks)."""
    for directory, dirs, files in os.walk(tree, topdown=False):
        for name in files:
            os.chmod(Path(directory) / name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        for name in dirs:
            os.chmod(Path(directory) / name, 0o555)  # nosec B103: read-only, see above
    os.chmod(tree, 0o555)  # nosec B103


def _existing(release: Path, digest: str) -> Manifest:
    found = Manifest.read(release)
    if found.digest != digest:
        raise ReleaseError(
            f"release {found.version} exists in {release.parent} with digest {found.digest}; "
            f"this checkout's content has digest {digest}: a release is immutable, build it "
            "under another version"
        )
    return found


def build(source: Path, root: Path, version: str | None = None) -> tuple[Manifest, bool]:
    """Build `source` into `<root>/<version>/`; the manifest and whether it was new."""
    version = check_version(version or default_version(source))
    names = source_files(source)
    digest = content_digest(source, names)
    release = root / version
    if release.exists():
        return _existing(release, digest), False
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{version}-", dir=root))
    try:
        _copy(source, names, scratch)
        wheel = _build_wheel(source, scratch / WHEELHOUSE)
        commit, dirty = _commit(source)
        manifest = Manifest(
            version=version,
            commit=commit,
            dirty=dirty,
            digest=digest,
            wheel=wheel.name,
            wheel_sha256=_sha256(wheel),
            files=len(names),
        )
        (scratch / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))
        _freeze(scratch)
        os.rename(scratch, release)  # refused when a concurrent build got there first
    except BaseException:
        _remove(scratch)
        raise
    return manifest, True


def _remove(tree: Path) -> None:
    if tree.exists():
        for directory, _dirs, _files in os.walk(tree):
            os.chmod(directory, 0o755)  # nosec B103: a failed build's scratch, to delete it
        shutil.rmtree(tree)


def releases(root: Path) -> list[Manifest]:
    """Every release under `root`, oldest first (by the manifest's time of writing)."""
    if not root.is_dir():
        return []
    found = [
        entry
        for entry in root.iterdir()
        if entry.is_dir() and not entry.is_symlink() and (entry / MANIFEST).is_file()
    ]
    found.sort(key=lambda entry: ((entry / MANIFEST).stat().st_mtime, entry.name))
    return [Manifest.read(entry) for entry in found]
