"""A checkout to build releases from: this repository's files as they are in the working tree
(tracked and new, not ignored: what scripts/build-wheel takes) committed into a fresh git
repository with this venv linked in, which a test edits and commits like a developer, without
touching the checkout the tests run from."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.salt import REPO


@dataclass(frozen=True)
class Checkout:
    path: Path

    @classmethod
    def clone(cls, into: Path) -> Checkout:
        into.mkdir(parents=True)
        argv = ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others"]
        listed = (
            subprocess.run(
                [*argv, "--exclude-standard"], check=True, capture_output=True, timeout=60
            )
            .stdout.decode()
            .split("\0")
        )
        for name in filter(None, listed):
            source = REPO / name
            if source.is_symlink() or source.is_file():
                (into / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, into / name, follow_symlinks=False)
        (into / ".venv").symlink_to(REPO / ".venv")
        checkout = cls(into)
        checkout.git("init", "-q")
        checkout.git("config", "user.email", "releases-test@fluxora.invalid")
        checkout.git("config", "user.name", "releases test")
        checkout.commit("the working tree of the checkout under test")
        return checkout

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


PROBE_TOP = """{{ saltenv }}:
  '*':
    - probe
"""
PROBE_STATE = """probe-file-managed:
  file.managed:
    - name: {{ pillar['probe']['dir'] }}/{{ grains['id'] }}
    - contents: {{ pillar['probe']['content'] | yaml_dquote }}
"""
PROBE_PILLAR_TOP = """{{ saltenv }}:
  '*':
    - probe
"""


def probe_pillar(directory: Path, content: str) -> str:
    """The probe's file and content, and the health check every host runs after a deploy
    (fluxora.verify): the probe file starts with `healthy`."""
    check = f"grep -q ^healthy {directory}/{{{{ grains['id'] }}}}"
    return (
        f"probe: {{dir: {str(directory)!r}, content: {content!r}}}\n"
        "fluxora:\n  verify:\n    checks:\n"
        f'      all: [{{name: probe-healthy, cmd: "{check}"}}]\n'
    )


def write_probe_release(checkout: Checkout, directory: Path, content: str) -> str:
    """Make the checkout a release whose highstate is one file per host holding `content`
    (salt/states/fluxora/ stays: fluxora.verify is the product's); commit it."""
    checkout.write("salt/states/top.sls", PROBE_TOP)
    checkout.write("salt/states/probe.sls", PROBE_STATE)
    checkout.write("salt/pillar/top.sls", PROBE_PILLAR_TOP)
    checkout.write("salt/pillar/probe.sls", probe_pillar(directory, content))
    return checkout.commit(f"probe release: {content}")
