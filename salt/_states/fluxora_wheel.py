"""A Python distribution installed into a virtualenv at the version pinned in pillar, from a
release wheelhouse (a directory the states copy from salt://fluxora-dist), never from an index.

The wheel's own metadata is read before anything is installed: a wheelhouse whose wheel for
the project is not the pinned version is refused, naming both versions.
"""

from __future__ import annotations

import email.parser
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

__virtualname__ = "fluxora_wheel"


def __virtual__() -> Any:
    return __virtualname__


class WheelError(Exception):
    pass


def _normalise(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def _metadata_version(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    return str(headers["Version"])


def _pinned_wheel(wheelhouse: Path, project: str, version: str) -> Path:
    """The wheel of `project` in `wheelhouse` whose metadata says `version`."""
    wheels = sorted(wheelhouse.glob(f"{_normalise(project)}-*.whl"))
    if not wheels:
        raise WheelError(f"no wheel of {project} in {wheelhouse} (pinned version {version})")
    found = {wheel: _metadata_version(wheel) for wheel in wheels}
    matching = [wheel for wheel, got in found.items() if got == version]
    if not matching:
        versions = ", ".join(sorted(set(found.values())))
        raise WheelError(
            f"{project}: pinned version {version} (pillar fluxora:orchestrator:version), but the "
            f"wheelhouse {wheelhouse} holds version {versions}: refused"
        )
    return matching[0]


def _installed_version(venv: Path, project: str) -> str | None:
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: pass\n"
    )
    result = subprocess.run(
        # -I: nothing from the working directory or PYTHON* variables (a checkout's metadata)
        [str(venv / "bin" / "python"), "-I", "-c", code, project],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None


def _pip_install(venv: Path, wheelhouse: Path, project: str, version: str) -> None:
    argv = [
        str(venv / "bin" / "python"),
        "-I",
        "-m",
        "pip",
        "install",
        "--no-index",  # never a public index: every dependency is in the wheelhouse
        "--find-links",
        str(wheelhouse),
        f"{project}=={version}",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise WheelError(f"{' '.join(argv)} exited {result.returncode}: {' | '.join(output)}")


def installed(name: str, version: str, venv: str, wheelhouse: str) -> dict[str, Any]:
    """`name` at exactly `version` in `venv`, installed from `wheelhouse` with pip --no-index."""
    ret: dict[str, Any] = {"name": name, "result": False, "comment": "", "changes": {}}
    try:
        wheel = _pinned_wheel(Path(wheelhouse), name, str(version))
        current = _installed_version(Path(venv), name)
        if current == str(version):
            ret.update(result=True, comment=f"{name} {version} is installed in {venv}")
            return ret
        if __opts__["test"]:
            ret.update(result=None, comment=f"{name} {current} -> {version} from {wheel.name}")
            ret["changes"] = {"old": current, "new": str(version)}
            return ret
        _pip_install(Path(venv), Path(wheelhouse), name, str(version))
    except (WheelError, OSError, zipfile.BadZipFile, ValueError) as exc:
        ret["comment"] = str(exc)
        return ret
    ret.update(result=True, comment=f"{name} {version} installed from {wheel.name}")
    ret["changes"] = {"old": current, "new": str(version)}
    return ret
