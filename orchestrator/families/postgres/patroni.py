"""Patroni's REST API, the orchestrator's only way to change who leads a Patroni cluster:
the members and their roles as the DCS has them (`GET /cluster`), one node's own view
(`GET /patroni`), planned switchover (`POST /switchover`) and manual failover
(`POST /failover`). Basic auth when the cluster's `patroni.username` is configured (the
password from a variable or a file, never from the config itself)."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.families.postgres.nodes import wait_for
from orchestrator.families.postgres.topology import ClusterConfig


class PatroniError(FluxoraError):
    """Patroni refused a request or no node's REST API answered; the message says which."""


@dataclass(frozen=True)
class Member:
    name: str
    role: str  # leader | sync_standby | replica (standby_leader in a standby cluster)
    state: str  # running | streaming | starting | stopped | ...
    timeline: int | None
    lag: int | None


class PatroniApi:
    """The REST API of one cluster's nodes (`patroni_url` of each node)."""

    def __init__(self, cluster: ClusterConfig) -> None:
        if cluster.patroni is None:
            raise PatroniError("the cluster has no `patroni:` section: it is not run by Patroni")
        self._settings = cluster.patroni
        self._urls = {n: c.patroni_url for n, c in sorted(cluster.nodes.items()) if c.patroni_url}
        if not self._urls:
            raise PatroniError("no node of the cluster has a patroni_url")

    def members(self) -> list[Member]:
        """The DCS's view, from the first node that answers; PatroniError naming every
        node's error when none does."""
        errors = []
        for name, url in self._urls.items():
            try:
                document = self._request("GET", url, "/cluster")
            except PatroniError as exc:
                errors.append(f"{name}: {exc}")
                continue
            return [_member(m) for m in document.get("members", [])]
        raise PatroniError(f"no Patroni REST API answered ({'; '.join(errors)})")

    def leader(self) -> str | None:
        return next((m.name for m in self.members() if m.role == "leader"), None)

    def status(self, name: str) -> dict[str, Any]:
        """GET /patroni of one node (its own role, state, timeline, DCS last seen)."""
        return dict(self._request("GET", self._url(name), "/patroni"))

    def switchover(self, leader: str, candidate: str) -> str:
        """Planned: Patroni demotes `leader` cleanly and promotes `candidate`."""
        body = {"leader": leader, "candidate": candidate}
        return str(self._request("POST", self._url(leader), "/switchover", body))

    def failover(self, candidate: str) -> str:
        """Manual failover to `candidate` (allowed without a healthy leader)."""
        body = {"candidate": candidate}
        return str(self._request("POST", self._url(candidate), "/failover", body))

    def wait_leader(
        self, timeout: float, cancelled: threading.Event, other_than: str | None = None
    ) -> str:
        """Until the DCS names a leader (other than `other_than`) whose own API says it runs
        as the primary."""

        def elected() -> bool:
            try:
                leader = self.leader()
                return (
                    leader is not None
                    and leader != other_than
                    and self.status(leader).get("role") in ("master", "primary")
                )
            except PatroniError:
                return False

        wait_for(elected, timeout, "a Patroni leader", cancelled, interval=0.1)
        leader = self.leader()
        assert leader is not None
        return leader

    def wait_replica(self, name: str, timeout: float, cancelled: threading.Event) -> Member:
        """Until `name` is a running replica on the leader's timeline (and, in synchronous
        mode, the sync standby: only then may it take over)."""

        def ready() -> bool:
            try:
                found = {m.name: m for m in self.members()}
            except PatroniError:
                return False
            leader = next((m for m in found.values() if m.role == "leader"), None)
            member = found.get(name)
            wanted = {"sync_standby"} if self._settings.synchronous else {"replica", "sync_standby"}
            return (
                leader is not None
                and member is not None
                and member.role in wanted
                and member.state in ("running", "streaming")
                and member.timeline == leader.timeline
            )

        wait_for(ready, timeout, f"{name} to replicate from the leader", cancelled, interval=0.1)
        return {m.name: m for m in self.members()}[name]

    def _url(self, name: str) -> str:
        try:
            return self._urls[name]
        except KeyError:
            known = ", ".join(self._urls)
            raise PatroniError(f"node {name!r} has no patroni_url (with one: {known})") from None

    def _request(self, method: str, url: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        auth = self._auth_header()
        if auth:
            request.add_header("Authorization", auth)
        try:
            # The node's patroni_url is validated as http(s):// by the topology config.
            timeout = self._settings.timeout_seconds
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # nosec B310
                return _decode(reply.read())
        except urllib.error.HTTPError as exc:
            answer = _decode(exc.read())
            if method == "GET" and isinstance(answer, dict):
                return answer  # /patroni answers 503 on a replica or a stopped node, with its state
            raise PatroniError(f"{method} {path} on {url}: HTTP {exc.code}: {answer}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PatroniError(f"{method} {path} on {url}: {reason}") from None

    def _auth_header(self) -> str | None:
        if not self._settings.username:
            return None
        secret = f"{self._settings.username}:{self._settings.password() or ''}"
        return "Basic " + base64.b64encode(secret.encode()).decode()


def _decode(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _member(document: dict[str, Any]) -> Member:
    lag = document.get("lag")
    return Member(
        name=str(document.get("name")),
        role=str(document.get("role")),
        state=str(document.get("state")),
        timeline=document.get("timeline"),
        lag=lag if isinstance(lag, int) else None,
    )
