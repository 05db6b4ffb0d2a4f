"""Talking to a real `fluxora-orch run` over HTTP, as Alertmanager, a webhook sender or the CLI
would; and writing its config."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.core.events import new_event_id
from orchestrator.engine.sources.signing import signed_headers
from tests.harness.orchestrator import fluxora_orch, start_orchestrator, terminate
from tests.harness.processes import ServerProcess, children, wait_until

REPO = Path(__file__).resolve().parents[2]
FIXTURE_RUNBOOKS = REPO / "tests" / "fixtures" / "runbooks"
DAEMON_RULES = REPO / "tests" / "fixtures" / "rules" / "daemon.yaml"
SECRET = "test-webhook-secret"  # throwaway values for the test daemons
TOKEN = "test-alertmanager-token"


def secret_env() -> dict[str, str]:
    return {"FLUXORA_WEBHOOK_SECRET": SECRET, "FLUXORA_ALERTMANAGER_TOKEN": TOKEN}


def write_config(path: Path, **overrides: Any) -> Path:
    """The daemon test config (fixture rules and runbooks) with top-level `overrides`."""
    config = yaml.safe_load(DAEMON_RULES.read_text())
    config["runbooks_dir"] = str(FIXTURE_RUNBOOKS)
    config.update(overrides)
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class OrchClient:
    url: str

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        request = urllib.request.Request(
            f"{self.url}{path}", data=body, headers=headers, method="POST"
        )
        return _send(request)

    def post_event(
        self,
        tag: str,
        data: dict[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        """A signed event with an id (a fresh one unless given), as `fluxora-orch fire` sends
        it: two identical bodies signed in the same second would be one replayed request."""
        payload: dict[str, Any] = {"tag": tag, "data": data or {}, "id": event_id or new_event_id()}
        body = json.dumps(payload).encode()
        return self.post("/events", body, signed_headers(SECRET, body, timestamp))

    def post_alerts(self, payload: dict[str, Any], token: str = TOKEN) -> Response:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return self.post("/alertmanager", json.dumps(payload).encode(), headers)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.load(response)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return str(response.read().decode())

    def sample(self, name: str, **labels: str) -> float:
        """A sample's value from a live scrape (0 when absent)."""
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def explain(self, event_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/events/{event_id}"))

    def decided(self, event_id: str, timeout: float = 20) -> dict[str, Any]:
        """The event once its decisions are stored."""

        def done() -> bool:
            try:
                return bool(self.explain(event_id)["decisions"])
            except urllib.error.HTTPError:
                return False

        wait_until(done, timeout, f"decisions about event {event_id}")
        return self.explain(event_id)

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/jobs/{job_id}"))

    def finished_job(self, job_id: str, timeout: float = 20) -> dict[str, Any]:
        finished = {"completed", "failed", "aborted", "interrupted", "rejected"}
        wait_until(lambda: self.job(job_id)["status"] in finished, timeout, f"job {job_id}")
        return self.job(job_id)

    def fired_job(self, event_id: str, rule: str) -> str:
        decisions = self.decided(event_id)["decisions"]
        (decision,) = [d for d in decisions if d["rule"] == rule]
        assert decision["job_id"], decision
        return str(decision["job_id"])


def _send(request: urllib.request.Request) -> Response:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Response(response.status, json.load(response), dict(response.headers))
    except urllib.error.HTTPError as exc:
        return Response(exc.code, json.loads(exc.read() or b"null"), dict(exc.headers))


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`fluxora-orch ARGS` as a user runs it (killed after `timeout` seconds)."""
    return subprocess.run(
        [fluxora_orch(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


@dataclass
class Daemon:
    server: ServerProcess
    client: OrchClient
    config: Path
    data_dir: Path

    def settings(self) -> list[str]:
        """The CLI options that find this daemon (as `run` was started)."""
        listen = self.server.url.removeprefix("http://")
        return ["--config", str(self.config), "--data-dir", str(self.data_dir), "--listen", listen]

    def stop(self) -> int:
        return terminate(self.server)

    def job_worker_pid(self) -> int:
        """The pid of the daemon's job worker process (its only child)."""
        pids = children(self.server.popen.pid)
        assert len(pids) == 1, f"expected one child of the daemon, found {pids}"
        return pids[0]

    def restart(self) -> Daemon:
        return start_daemon(self.config.parent, config_path=self.config, data_dir=self.data_dir)


def start_daemon(
    workdir: Path,
    *,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    **overrides: Any,
) -> Daemon:
    """Write the config (unless given) and start `fluxora-orch run` with the test secrets."""
    config = config_path or write_config(workdir / "config.yaml", **overrides)
    data = data_dir or workdir / "data"
    server = start_orchestrator(
        data, ["--config", str(config)], env=secret_env(), log_path=workdir / "orch.log"
    )
    return Daemon(server, OrchClient(server.url), config, data)
