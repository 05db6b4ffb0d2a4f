"""Masterless `salt-call --local` with a chosen minion id and grains, as an operator runs it.

Used to render each environment's highstate with representative grains (without a minion
daemon per host) and to apply the AWS states of staging and prod against moto.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.harness.processes import HarnessError
from tests.harness.salt import SALT_DIR

SALT_CALL = str(Path(sys.executable).parent / "salt-call")


@dataclass(frozen=True)
class LocalMinion:
    config_dir: Path

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        minion_id: str,
        grains: dict[str, Any],
        pillar_roots: list[Path],
        gpg_keydir: Path,
        extension_modules: Path,
        file_roots: list[Path] | None = None,
    ) -> LocalMinion:
        """A masterless minion config; minions sharing `extension_modules` share one sync;
        `file_roots` go before the checkout's."""
        config_dir = root / minion_id
        config_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "id": minion_id,
            "file_client": "local",
            "file_roots": {
                "base": [str(p) for p in [*(file_roots or []), SALT_DIR / "states", SALT_DIR]]
            },
            "pillar_roots": {"base": [str(path) for path in pillar_roots]},
            "gpg_keydir": str(gpg_keydir),
            "gpg_decrypt_must_succeed": True,  # as docs/OPERATIONS.md sets it
            "grains": grains,
            "cachedir": str(config_dir / "cache"),
            "pki_dir": str(config_dir / "pki"),
            "log_file": str(config_dir / "minion.log"),
            "disable_modules": ["systemd_service"],
            "extension_modules": str(extension_modules),
        }
        (config_dir / "minion").write_text(yaml.safe_dump(config))
        return cls(config_dir)

    def call(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 300,
        env: dict[str, str] | None = None,
    ) -> Any:
        """Run salt-call (with `env` as its environment, default ours) and return the `local`
        value of its JSON output."""
        argv = [
            SALT_CALL,
            "--local",
            "-c",
            str(self.config_dir),
            "--out=json",
            "--log-level=quiet",
            *args,
        ]
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=timeout, env=env
        )
        try:
            data = json.loads(result.stdout)["local"]
        except (ValueError, KeyError) as exc:
            raise HarnessError(
                f"salt-call {' '.join(args)}: no JSON (exit {result.returncode})\n"
                f"{result.stdout}\n{result.stderr}"
            ) from exc
        if check and result.returncode != 0:
            raise HarnessError(f"salt-call {' '.join(args)} exited {result.returncode}: {data}")
        return data
