"""The master key's life with scripts/pillar-secret: made, escrowed, rotated, checked; and a
secret encrypted to the wrong key fails rendering naming its file."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.pillar import REPO, make_gpg_home, pillar_secret, secrets_sls, stop_gpg_agent
from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import topology

pytestmark = [pytest.mark.integration, pytest.mark.validate]

OLD = "salt-old@fluxora.invalid"
NEW = "salt-new@fluxora.invalid"
HOLDER = "escrow-officer@fluxora.invalid"
VALUES = {
    "postgres-primary": {
        ("postgres", "replication", "password"): "repl-9f8e7d",
        ("postgres", "backup", "password"): "backup-1a2b3c",
    },
    "redis": {("redis", "password"): "redis-4d5e6f"},
}


def run_pillar_secret(
    gnupghome: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / "pillar-secret"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={"GNUPGHOME": str(gnupghome), "PATH": "/usr/bin:/bin"},
    )


def gpg(gnupghome: Path, *args: str, stdin: str = "") -> str:
    argv = ["gpg", "--homedir", str(gnupghome), "--batch", "--yes", *args]
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def keyrings(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Fresh keyrings by name; their gpg-agents are stopped after the test."""
    made: list[Path] = []

    def make(name: str) -> Path:
        home = tmp_path / f"gnupg-{name}"
        home.mkdir(mode=0o700)
        made.append(home)
        return home

    yield make
    for home in made:
        stop_gpg_agent(home)


def write_env(root: Path, gnupghome: Path, recipient: str) -> dict[Path, str]:
    files = {}
    for role, values in VALUES.items():
        path = root / "prod" / f"{role}.sls"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets_sls(gnupghome, values, recipient))
        files[path] = path.read_text()
    return files


def decrypt_all(gnupghome: Path, path: Path) -> list[str]:
    blocks = pillar_secret.blocks(path.read_text())
    return [gpg(gnupghome, "--decrypt", stdin=block.armour) for block in blocks]


def test_keygen_prints_the_public_key_and_escrow_restores_the_private_key(
    keyrings: Callable[[str], Path], tmp_path: Path
) -> None:
    master, officer, restored = keyrings("master"), keyrings("officer"), keyrings("restored")
    made = run_pillar_secret(master, "keygen", NEW)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    make_gpg_home(officer, HOLDER)
    gpg(master, "--import", stdin=gpg(officer, "--armor", "--export", HOLDER))
    escrow = tmp_path / "salt-prod.escrow.asc"
    result = run_pillar_secret(master, "escrow", NEW, "--to", HOLDER, "--out", str(escrow))
    assert result.returncode == 0, result.stderr
    assert oct(escrow.stat().st_mode & 0o777) == "0o600"
    assert "PRIVATE KEY" not in escrow.read_text()  # only the officer can read it
    # The master is lost: an officer restores its key into a new keyring, which decrypts.
    ciphertext = run_pillar_secret(master, "encrypt", NEW, stdin="s3cret").stdout
    gpg(restored, "--import", stdin=gpg(officer, "--decrypt", str(escrow)))
    armour = "\n".join(line.strip() for line in ciphertext.splitlines()[1:]) + "\n"
    assert gpg(restored, "--decrypt", stdin=armour) == "s3cret"


def test_rotate_re_encrypts_every_secret_file_to_the_new_key(
    keyrings: Callable[[str], Path], tmp_path: Path
) -> None:
    master, operator = keyrings("master"), keyrings("operator")
    make_gpg_home(master, OLD)
    root = tmp_path / "secrets"
    write_env(root, master, OLD)
    make_gpg_home(master, NEW)  # the new key is made on the master, beside the old one
    result = run_pillar_secret(
        master, "rotate", "prod", "--from", OLD, "--to", NEW, "--root", str(root)
    )
    assert result.returncode == 0, result.stderr
    # Only the new key's holder can read them now: a keyring holding just the new key decrypts
    # every value, and `check` finds every block encrypted to it and none to the old one.
    gpg(operator, "--import", stdin=gpg(master, "--armor", "--export-secret-keys", NEW))
    for role, values in VALUES.items():
        assert decrypt_all(operator, root / "prod" / f"{role}.sls") == list(
            dict(sorted(values.items())).values()
        )
    checked = run_pillar_secret(master, "check", "prod", "--key", NEW, "--root", str(root))
    assert checked.returncode == 0, checked.stderr
    stale = run_pillar_secret(master, "check", "prod", "--key", OLD, "--root", str(root))
    assert stale.returncode == 1
    assert "not to the environment's key" in stale.stderr
    assert str(root / "prod" / "redis.sls") in stale.stderr


def test_rotate_changes_nothing_when_one_file_is_not_for_the_old_key(
    keyrings: Callable[[str], Path], tmp_path: Path
) -> None:
    master, stranger = keyrings("master"), keyrings("stranger")
    make_gpg_home(master, OLD)
    make_gpg_home(master, NEW)
    make_gpg_home(stranger, "someone-else@fluxora.invalid")
    root = tmp_path / "secrets"
    before = write_env(root, master, OLD)
    odd = root / "prod" / "monitoring.sls"
    odd.write_text(
        secrets_sls(
            stranger, {("monitoring", "orchestrator_token"): "t0k"}, "someone-else@fluxora.invalid"
        )
    )
    result = run_pillar_secret(
        master, "rotate", "prod", "--from", OLD, "--to", NEW, "--root", str(root)
    )
    assert result.returncode == 1
    assert f"{odd}:" in result.stderr
    assert {path: path.read_text() for path in before} == before


def test_a_secret_encrypted_to_the_wrong_key_fails_rendering_naming_the_file(
    keyrings: Callable[[str], Path],
    tmp_path: Path,
    local_minion_factory: Callable[..., LocalMinion],
) -> None:
    """The master must not hand out ciphertext as a password: gpg_decrypt_must_succeed."""
    stranger = keyrings("stranger")
    make_gpg_home(stranger, "someone-else@fluxora.invalid")
    root = tmp_path / "pillar"
    path = root / "fluxora" / "secrets" / "staging" / "postgres-primary.sls"
    path.parent.mkdir(parents=True)
    values = {("postgres", "replication", "password"): "a", ("postgres", "backup", "password"): "b"}
    path.write_text(secrets_sls(stranger, values, "someone-else@fluxora.invalid"))
    host = "stg-db-1"
    minion = local_minion_factory(
        "staging", host, topology("staging")[host], pillar_roots=[root, REPO / "salt" / "pillar"]
    )
    pillar = minion.call("pillar.items", check=False)
    errors = "\n".join(pillar.get("_errors", []))
    assert "Rendering SLS 'fluxora.secrets.staging.postgres-primary' failed" in errors
    assert "postgres" not in pillar, "no part of a pillar that failed to render is handed out"
    log = (minion.config_dir / "minion.log").read_text()
    assert "Could not decrypt cipher" in log
