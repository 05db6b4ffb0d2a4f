"""Salt as the deploy runs it: the `salt` and `salt-run` commands of this process's venv,
with the master's config directory (`salt.master_config`), JSON out. The orchestrator that
deploys runs on the master (the commands talk to the master's local sockets)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.errors import FluxoraError

BIN = Path(sys.executable).parent


class SaltCommandError(FluxoraError, RuntimeError):
    """A salt command gave no usable answer (no minion answered, no JSON, a render error)."""


@dataclass(frozen=True, kw_only=True)
class SaltCli:
    config_dir: Path
    timeout: float = 1800.0
    answer_seconds: int = 120
    """salt's -t: how long it waits for the minions before asking whether they still run
    the job (its default, 5 s, reports a busy minion as not answering)."""

    def _run(self, command: str, *args: str) -> Any:
        argv = [str(BIN / command), "-c", str(self.config_dir), "--out=json", *args]
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=self.timeout
        )
        try:
            return json.loads(result.stdout) if result.stdout.strip() else None
        except ValueError as exc:
            raise SaltCommandError(
                f"{command} {' '.join(args)}: no JSON (exit {result.returncode}): "
                f"{result.stdout[-2000:]} {result.stderr[-2000:]}"
            ) from exc

    def refresh(self) -> None:
        """Make the master serve the pins as they are now (its file list cache is 20 s)."""
        self._run("salt-run", "fileserver.clear_file_list_cache")
        self._run("salt-run", "fileserver.update")

    def apply(
        self, env: str, mods: str = "", *, saltenv: str | None = None, test: bool = False
    ) -> Mapping[str, Any]:
        """`state.apply [mods]` on the environment's minions, in its saltenv and pillarenv
        (or `saltenv`'s: the plan's); minion id -> its state results (or, on a render error,
        the list of errors)."""
        tree = saltenv or env
        args = ["--static", "-t", str(self.answer_seconds), "-C", f"G@fluxora:env:{env}"]
        args += ["state.apply"]
        args += [mods] if mods else []
        args += [f"saltenv={tree}", f"pillarenv={tree}", f"test={test}"]
        found = self._run("salt", *args)
        if not isinstance(found, dict) or not found:
            raise SaltCommandError(f"state.apply in {env}: no minion of {env} answered")
        return found
