"""How commands reach the daemon (its /api/ and /events) or, when it is not running, its store:
both found from the same settings as `run`."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.app.config import Config
from orchestrator.app.wiring import open_configured_store
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import new_event_id
from orchestrator.engine.api import queries
from orchestrator.engine.api.routes import MAX_LIMIT
from orchestrator.engine.sources.signing import signed_headers
from orchestrator.store.base import Store

T = TypeVar("T")
TIMEOUT = 10.0


class DaemonError(FluxoraError):
    pass


class DaemonUnreachableError(DaemonError):
    """No daemon answers at the configured address (refused, reset, timed out)."""


def _unspecified(host: str) -> bool:
    """The daemon listens on every interface (0.0.0.0, ::, or no address given)."""
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a host name
        return False


def base_url(config: Config) -> str:
    host = config.http.host
    if _unspecified(host):  # reached on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.http.port}"


def _request(request: urllib.request.Request) -> Any:
    try:
        # Every request's URL is base_url(): http:// and the configured address.
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # nosec B310
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise DaemonError(_error_text(exc)) from None


def _error_text(exc: urllib.error.HTTPError) -> str:
    """The daemon's own message; a 404's is the whole story ("no job 'x'")."""
    try:
        body = json.loads(exc.read())
        message = body.get("error", body) if isinstance(body, dict) else body
    except (ValueError, OSError):
        message = exc.reason
    return str(message) if exc.code == 404 else f"the daemon answered {exc.code}: {message}"


def api_path(*parts: str) -> str:
    """`/api/` path segments, each percent-encoded (an id may hold a space, `/` or `é`)."""
    return "/".join(urllib.parse.quote(part, safe="") for part in parts)


def limit_argument(text: str) -> int:
    """`--limit`: 1 to the API's cap, the same whether a daemon answers or the store is read."""
    if not text.isdecimal() or not text.isascii() or not 0 < int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be 1-{MAX_LIMIT}, got {text!r}")
    return int(text)


def with_store(config: Config, work: Callable[[Store], T]) -> T:
    store = open_configured_store(config)
    try:
        store.migrate()
        return work(store)
    finally:
        store.close()


def get_json(config: Config, path: str) -> Any:
    """GET /api/<path> from the daemon, which must answer (no store fallback)."""
    try:
        return _request(urllib.request.Request(f"{base_url(config)}/api/{path}"))
    except (urllib.error.URLError, OSError) as exc:
        raise DaemonUnreachableError(f"no daemon at {base_url(config)} ({_why(exc)})") from None


def _why(exc: OSError) -> str:
    """`Connection refused`, not `<urlopen error [Errno 111] Connection refused>`."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return getattr(reason, "strerror", None) or str(reason)


def read(config: Config, path: str, offline: Callable[[Store], T], **query: Any) -> Any:
    """GET /api/<path> from the daemon; if no daemon answers, the same query on its store."""
    params = {k: v for k, v in query.items() if v is not None}
    url = f"{base_url(config)}/api/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        return _request(urllib.request.Request(url))
    except (urllib.error.URLError, OSError):
        print(f"note: no daemon at {base_url(config)}; reading its store", file=sys.stderr)
        try:
            return with_store(config, offline)
        except queries.NotFoundError as exc:
            raise DaemonError(str(exc)) from None


def post_event(config: Config, tag: str, data: dict[str, Any], event_id: str | None) -> Any:
    """Send a signed event to POST /events; the daemon's answer (202: id and status)."""
    # Always an id: a retry of this command with --id runs once, and two fires of the same
    # tag and data in one second are two bodies, not one replayed signature.
    payload: dict[str, Any] = {"tag": tag, "data": data, "id": event_id or new_event_id()}
    return post_signed(config, "/events", payload)


def post_signed(config: Config, path: str, payload: dict[str, Any]) -> Any:
    """POST a JSON body signed with the webhook secret; the daemon's answer."""
    if config.webhook.secret is None:
        raise DaemonError(
            "no webhook secret: set FLUXORA_WEBHOOK_SECRET or webhook.secret in the config file"
        )
    body = json.dumps(payload).encode()
    headers = signed_headers(config.webhook.secret.get_secret_value(), body, path=path)
    request = urllib.request.Request(
        f"{base_url(config)}{path}", data=body, headers=headers, method="POST"
    )
    try:
        return _request(request)
    except (urllib.error.URLError, OSError) as exc:
        raise DaemonError(f"no daemon at {base_url(config)}: {exc}") from None
