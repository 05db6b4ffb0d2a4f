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

import jinja2
import yaml

from tests.harness.processes import HarnessError
from tests.harness.salt import load_module

REPO = Path(__file__).resolve().parents[2]
# scripts/ is no package: pillar_secret.py runs without the venv.
pillar_secret = load_module(REPO / "scripts" / "pillar_secret.py", "pillar_secret")
ENVIRONMENTS = ("dev", "staging", "prod")
RECIPIENT = "salt-test@fluxora.invalid"
REPLICATION = ("postgres", "replication", "password")
BACKUP = ("postgres", "backup", "password")
ORCHESTRATOR_TOKEN = ("monitoring", "orchestrator_token")
REDIS = ("redis", "password")
REDIS_MONITOR = ("redis", "monitor_password")
PATRONI_REST = ("postgres", "patroni", "rest_password")
# The secrets each role's file holds (salt/pillar/fluxora/secrets/<env>/<role>.sls, the table in
# docs/OPERATIONS.md "Secrets"): a host gets those of its own roles only.
ROLE_SECRETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "postgres-primary": (REPLICATION, BACKUP, PATRONI_REST),
    "postgres-replica": (REPLICATION, BACKUP, PATRONI_REST),
    "postgres-restore": (REPLICATION, BACKUP, PATRONI_REST),
    "postgres-dr": (REPLICATION, BACKUP, PATRONI_REST),
    "orchestrator": (BACKUP, ORCHESTRATOR_TOKEN, PATRONI_REST),
    "monitoring": (ORCHESTRATOR_TOKEN,),
    "redis": (REDIS, REDIS_MONITOR),
    "api": (REDIS,),
    "worker": (REDIS,),
}
SECRET_KEYS = tuple(sorted({key for keys in ROLE_SECRETS.values() for key in keys}))
# Only where the orchestrator takes signed events from an operator's CLI (`schedules run`,
# `fire`) on another process: staging and prod (dev's tests start their daemons themselves).
ENV_SECRET_KEYS = {
    "staging": (("orchestrator", "config", "webhook", "secret"),),
    "prod": (("orchestrator", "config", "webhook", "secret"),),
}


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
    values: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict, repr=False)
    """env -> secret key path -> value; out of repr, so a failing assertion never prints one."""

    def write_secrets(self) -> None:
        """Every environment's secret files, one per role its hosts or groups have; a value is
        the same in every file that holds it (the backup password of the primary and of the
        orchestrator)."""
        make_gpg_home(self.gnupghome)
        for env in ENVIRONMENTS:
            keys = (*SECRET_KEYS, *ENV_SECRET_KEYS.get(env, ()))
            values = {key: secrets.token_urlsafe(24) for key in keys}
            self.values[env] = values
            for role in sorted(roles_of_env(env)):
                keys = role_secret_keys(env, role)
                if keys:
                    path = self.root / "fluxora" / "secrets" / env / f"{role}.sls"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(secrets_sls(self.gnupghome, {k: values[k] for k in keys}))

    def write_local(self, overrides: dict[str, Any]) -> None:
        """The dev machine's own overrides (salt/pillar/fluxora/local.sls in a checkout)."""
        path = self.local_root / "fluxora" / "local.sls"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"fluxora": overrides}, sort_keys=True))


def role_secret_keys(env: str, role: str) -> tuple[tuple[str, ...], ...]:
    """The secrets a role's file holds in `env` (the webhook secret: the orchestrator's)."""
    extra = ENV_SECRET_KEYS.get(env, ()) if role == "orchestrator" else ()
    return (*ROLE_SECRETS.get(role, ()), *extra)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Salt's recursive pillar merge (mappings merged, anything else replaced)."""
    merged = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else value
    return merged


def pillar_file(name: str) -> dict[str, Any]:
    """Pillar `fluxora` of one committed file, rendered as Salt's jinja|yaml would."""
    template = (REPO / "salt" / "pillar" / "fluxora" / name).read_text()
    text = jinja2.Environment(autoescape=False).from_string(template).render()
    return dict(yaml.safe_load(text)["fluxora"])


def merged_pillar(env: str) -> dict[str, Any]:
    """Pillar `fluxora` of `env` as the pillar top file merges the committed files (without
    secrets): defaults.sls, for staging and prod fleet.sls, then the environment's file."""
    files = ["defaults.sls", *(["fleet.sls"] if env in ("staging", "prod") else []), f"{env}.sls"]
    merged: dict[str, Any] = {}
    for name in files:
        merged = _merge(merged, pillar_file(name))
    return merged


def roles_of_env(env: str) -> set[str]:
    """The roles of `env`'s topology hosts and of its Auto Scaling groups."""
    data = merged_pillar(env)
    hosts = data["topology"]["hosts"].values()
    return {role for spec in hosts for role in spec["roles"]} | set(
        data.get("aws", {}).get("groups", {})
    )
