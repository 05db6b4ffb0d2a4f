"""The orchestrator as it is deployed: the wheel scripts/build-wheel makes from this checkout,
installed into a clean virtualenv that cannot see the checkout."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.harness.processes import HarnessError

REPO = Path(__file__).resolve().parents[2]
_THIS_DISTRIBUTION = ("fluxora_infra", "__editable__", "_fluxora_infra", "orchestrator")


def build_wheel(out: Path) -> Path:
    """Build the wheel into `out` (as a release does) and return its path."""
    result = subprocess.run(
        [str(REPO / "scripts" / "build-wheel"), str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise HarnessError(f"scripts/build-wheel exited {result.returncode}: {result.stderr}")
    return Path(result.stdout.strip().splitlines()[-1])


def _dependencies_dir(root: Path) -> Path:
    """This venv's site-packages minus this project (its editable finder and metadata): the
    wheel's dependencies, without re-installing them from an index for every test run."""
    deps = root / "dependencies"
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not entry.name.startswith(_THIS_DISTRIBUTION) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    return deps


def add_dependencies(venv: Path, root: Path) -> None:
    """Make the wheel's dependencies importable in `venv` (after this project is installed
    there, so that pip never sees another fluxora-infra)."""
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "fluxora-test-dependencies.pth").write_text(f"{_dependencies_dir(root)}\n")


def clean_venv(root: Path, wheel: Path) -> Path:
    """A venv with `wheel` installed by pip (console script included) and its dependencies on
    sys.path; no path of the checkout is importable. Returns the venv's bin directory."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    add_dependencies(venv, root)
    return venv / "bin"
