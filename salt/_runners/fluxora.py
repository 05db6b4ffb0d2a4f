"""Run Fluxora DR runbooks from the Salt master: submit to an environment's orchestrator
daemon, wait for the job, return its journal; a run that does not complete is a failure
(non-zero exit of ``salt-run``; a failed ``salt.runner`` state in an orchestration).

    salt-run fluxora.runbook name=restore-drill env=dev [dry_run=True] [params='{"database": "x"}']

The daemon of each environment is configured on the master (e.g. /etc/salt/master.d/fluxora.conf):

    fluxora_orchestrator:
      dev:
        url: http://127.0.0.1:8470
        secret_file: /etc/salt/fluxora-dev-webhook-secret   # the daemon's webhook.secret
        timeout: 3600                                       # seconds to wait (default 3600)

The request is the event ``fluxora/request/runbook/<name>``, signed like any webhook event
(HMAC-SHA256 over timestamp, method, path and body:
docs/OPERATIONS.md, "Signed requests"); the daemon's ``runbook-request`` rule makes the job,
with the runbook's approval policy (a prod run waits for ``fluxora-orch approve``). The secret
is read from its file for each call and never returned or logged. Needs nothing beyond the
Python standard library, so the master needs no orchestrator installed.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

log = logging.getLogger(__name__)

__virtualname__ = "fluxora"

FINISHED = {"completed", "failed", "aborted", "interrupted", "rejected"}
POLL_SECONDS = 1.0
HTTP_TIMEOUT = 10.0


class RunbookError(Exception):
    """Why a run could not be requested or followed (a message for the operator)."""


def __virtual__() -> str:
    return __virtualname__


def _settings(env: str, url: str | None) -> dict[str, Any]:
    configured = (__opts__.get("fluxora_orchestrator") or {}).get(env) or {}
    settings = {"timeout": 3600, **configured}
    if url:
        settings["url"] = url
    if not settings.get("url"):
        raise RunbookError(f"no orchestrator for env {env!r}: set fluxora_orchestrator:{env}:url")
    if not str(settings["url"]).startswith(("http://", "https://")):
        raise RunbookError(f"fluxora_orchestrator:{env}:url must be an http(s) URL")
    if not settings.get("secret_file"):
        raise RunbookError(f"fluxora_orchestrator:{env}:secret_file is not set")
    return settings


def _secret(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise RunbookError(f"cannot read the webhook secret file {path}: {exc.strerror}") from None


def _call(request: urllib.request.Request) -> Any:
    try:
        # The scheme is checked in _settings: http(s) only.
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # nosec B310
            return json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError, OSError):
            message = exc.reason
        raise RunbookError(f"{request.full_url} answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RunbookError(f"no orchestrator at {request.full_url}: {exc}") from None


def _submit(settings: dict[str, Any], name: str, data: dict[str, Any]) -> str:
    body = json.dumps(
        {"tag": f"fluxora/request/runbook/{name}", "data": data, "id": uuid.uuid4().hex}
    ).encode()
    url = settings["url"].rstrip("/") + "/events"
    headers = _signed_headers(_secret(settings["secret_file"]), url, body)
    answer = _call(urllib.request.Request(url, body, headers, method="POST"))
    return str(answer["id"])


def _signed_headers(secret: bytes, url: str, body: bytes) -> dict[str, str]:
    """The daemon's signing scheme (docs/OPERATIONS.md, "Signed requests"): HMAC-SHA256 over
    timestamp, method, path and body, each of the first three ending in a newline."""
    stamp = str(int(time.time()))
    path = urllib.parse.urlsplit(url).path
    message = f"{stamp}\nPOST\n{path}\n".encode() + body
    return {
        "Content-Type": "application/json",
        "X-Fluxora-Timestamp": stamp,
        "X-Fluxora-Signature": "sha256=" + hmac.new(secret, message, "sha256").hexdigest(),
    }


def _get(settings: dict[str, Any], path: str) -> Any:
    return _call(urllib.request.Request(f"{settings['url'].rstrip('/')}/api/{path}"))


def _pause(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise RunbookError(f"timed out waiting for {what}")
    time.sleep(POLL_SECONDS)


def _job_id(settings: dict[str, Any], event_id: str, deadline: float) -> str:
    while not (decisions := _get(settings, f"events/{event_id}").get("decisions")):
        _pause(deadline, f"event {event_id} to be decided")
    for decision in decisions:
        if decision.get("job_id"):
            return str(decision["job_id"])
    reasons = "; ".join(f"{d['rule']}: {d['decision']}: {d['reason']}" for d in decisions)
    raise RunbookError(f"no job was created: {reasons}")


def _wait(settings: dict[str, Any], job_id: str, deadline: float) -> dict[str, Any]:
    while (job := _get(settings, f"jobs/{job_id}"))["status"] not in FINISHED:
        if job["status"] == "awaiting-approval":
            log.warning("fluxora job %s awaits approval: fluxora-orch approve %s", job_id, job_id)
        _pause(deadline, f"job {job_id} to finish")
    return dict(job)


def _step_line(step: dict[str, Any]) -> str:
    line = f"{step['phase']:<8} {step['name']:<24} {step['status']:<9} attempts {step['attempts']}"
    return line + (f"  {step['error']}" if step.get("error") else "")


def _summary(job: dict[str, Any]) -> dict[str, Any]:
    journal = job.get("journal") or {}
    summary = {
        "job_id": job["id"],
        "runbook": job["runbook"],
        "env": job["env"],
        "status": job["status"],
        "dry_run": job.get("dry_run", False),
        "deviated": journal.get("deviated", False),
        "error": journal.get("error"),
        "steps": [
            _step_line(s) for s in [*journal.get("steps", ()), *journal.get("rollbacks", ())]
        ],
    }
    dr = (journal.get("extensions") or {}).get("dr")
    if dr:
        summary["rto_rpo"] = {
            k: dr.get(k) for k in ("rto_seconds", "rpo_seconds", "targets", "verdicts", "policy")
        }
    return summary


def runbook(
    name: str,
    env: str,
    dry_run: bool = False,
    params: dict[str, Any] | None = None,
    url: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run runbook ``name`` in ``env`` through its orchestrator and wait for the end.

    CLI Example:

        salt-run fluxora.runbook name=restore-drill env=staging
        salt-run fluxora.runbook name=postgres-failover env=staging dry_run=True
    """
    try:
        settings = _settings(env, url)
        deadline = time.monotonic() + float(timeout or settings["timeout"])
        data = {"env": env, "params": dict(params or {}), "dry_run": bool(dry_run)}
        event_id = _submit(settings, name, data)
        job = _wait(settings, _job_id(settings, event_id, deadline), deadline)
    except RunbookError as exc:
        __context__["retcode"] = 1
        return {"error": str(exc), "retcode": 1}
    summary = _summary(job)
    retcode = 0 if job["status"] == "completed" else 1
    __context__["retcode"] = retcode
    return {**summary, "retcode": retcode}
