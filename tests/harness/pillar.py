"""Test pillar: a throwaway GPG key, encrypted secrets for every environment, dev overrides.

The secrets files take the operator's path (`scripts/pillar-secret`), so what the tests decrypt
is made the way production secrets are. Nothing here is committed: it all lives in a temp dir
that comes first in the test master's pillar_roots.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness.processes import HarnessError
from tests.harness.salt import load_module

REPO = Path(__file__).resolve().parents[2]
# scripts/ is no package: pillar_secret.py runs without the venv.
pillar_secret = load_module(REPO / "scripts" / "pillar_secret.py", "pillar_secret")
ENVIRONMENTS = ("dev", "staging", "prod")
RECIPIENT = "salt-test@fluxora.invalid"
# The secret keys every environment's pillar needs (salt/pillar/fluxora/secrets/<env>/).
SECRET_KEYS = (
    ("postgres", "replication", "password"),
    ("postgres", "backup", "password"),
    ("monitoring", "orchestrator_token"),
    ("redis", "password"),
    ("redis", "monitor_password"),
)


def _gpg(gnupghome: Path, *args: str) -> None:
    argv = [
        "gpg",
        "--homedir",
        str(gnupghome),
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        *args,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"gpg {' '.join(args)} failed: {result.stderr}")


def make_gpg_home(gnupghome: Path, uid: str = RECIPIENT) -> None:
    """A keyring holding one throwaway key without passphrase, as a test master's gpg_keydir."""
    gnupghome.mkdir(mode=0o700, parents=True, exist_ok=True)
    _gpg(gnupghome, "--quick-gen-key", uid, "future-default", "default", "never")


def stop_gpg_agent(gnupghome: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(gnupghome), "--kill", "all"], check=False)


def encrypt(gnupghome: Path, value: str, indent: int, recipient: str = RECIPIENT) -> str:
    result = subprocess.run(
        [str(REPO / "scripts" / "pillar-secret"), "encrypt", recipient, "--indent", str(indent)],
        input=value,
        capture_output=True,
        text=True,
        check=False,
        env={"GNUPGHOME": str(gnupghome), "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0:
        raise HarnessError(f"scripts/pillar-secret failed: {result.stderr}")
    return result.stdout


def secrets_sls(
    gnupghome: Path, values: dict[tuple[str, ...], str], recipient: str = RECIPIENT
) -> str:
    """A `#!yaml|gpg` file with every value as a PGP block, nested under `fluxora:`."""
    lines = ["#!yaml|gpg", "fluxora:"]
    written: list[tuple[str, ...]] = []
    for path, value in sorted(values.items()):
        for depth, part in enumerate(path):
            if path[: depth + 1] in written:
                continue
            written.append(path[: depth + 1])
            pad = "  " * (depth + 1)
            if depth < len(path) - 1:
                lines.append(f"{pad}{part}:")
            else:
                block = encrypt(gnupghome, value, len(pad) + 2, recipient)
                lines.append(f"{pad}{part}: {block.rstrip()}")
    return "\n".join(lines) + "\n"


@dataclass
class SecretPillar:
    """Pillar roots the tests add in front of salt/pillar: `root` holds every environment's
    encrypted secrets, `local_root` the dev machine's overrides (only the test master reads it:
    masterless renders see the committed pillar plus secrets)."""

    root: Path
    local_root: Path
    gnupghome: Path
    values: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)

    def write_secrets(self) -> None:
        make_gpg_home(self.gnupghome)
        for env in ENVIRONMENTS:
            values = {key: secrets.token_urlsafe(24) for key in SECRET_KEYS}
            self.values[env] = values
            path = self.root / "fluxora" / "secrets" / f"{env}.sls"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets_sls(self.gnupghome, values))

    def write_local(self, overrides: dict[str, Any]) -> None:
        """The dev machine's own overrides (salt/pillar/fluxora/local.sls in a checkout)."""
        path = self.local_root / "fluxora" / "local.sls"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"fluxora": overrides}, sort_keys=True))
