"""Helpers the Fluxora states call while rendering: merged parameters and health checks.

``fluxora.params`` is what every formula's ``map.jinja`` uses: it merges a formula's
``parameters/defaults.yaml`` with pillar ``fluxora:<component>`` and checks required keys, so a
missing key fails rendering with a sentence naming the key and the environment (a
``CommandExecutionError`` raised here is shown by Salt's Jinja renderer without a traceback).
"""

from __future__ import annotations

import copy
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from salt.exceptions import CommandExecutionError
from salt.utils.dictupdate import merge

__virtualname__ = "fluxora"

ENVIRONMENTS = ("dev", "staging", "prod")
_MISSING = object()


def __virtual__() -> str:
    return __virtualname__


def env() -> str:
    """The environment this minion's pillar was compiled for (pillar ``fluxora:env``)."""
    value = __pillar__.get("fluxora", {}).get("env")
    if value not in ENVIRONMENTS:
        grain = __grains__.get("fluxora", {}).get("env")
        raise CommandExecutionError(
            f"pillar key 'fluxora:env' is {value!r} on minion {__grains__.get('id')!r} "
            f"(grain fluxora:env is {grain!r}); expected one of {', '.join(ENVIRONMENTS)}: "
            "set the grain fluxora:env in the minion config"
        )
    return value


def _lookup(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split(":"):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def require(data: dict[str, Any], keys: list[str], prefix: str) -> dict[str, Any]:
    """Return ``data`` when every dotted key in ``keys`` is set (not None or empty)."""
    environment = env()
    for key in keys:
        value = _lookup(data, key)
        if value is _MISSING or value is None or value == "":
            raise CommandExecutionError(
                f"pillar key '{prefix}:{key}' is required for environment '{environment}' "
                f"but is not set: add it to salt/pillar/fluxora/{environment}.sls (or, for a "
                f"secret, GPG-encrypted to salt/pillar/fluxora/secrets/{environment}/<role>.sls)"
            )
    return data


def params(
    component: str, defaults: dict[str, Any], required: list[str] | None = None
) -> dict[str, Any]:
    """``defaults`` merged with pillar ``fluxora:<component>``, required keys checked."""
    pillar_part = __pillar__.get("fluxora", {}).get(component) or {}
    if not isinstance(pillar_part, dict):
        raise CommandExecutionError(
            f"pillar key 'fluxora:{component}' must be a mapping in environment '{env()}', "
            f"got {type(pillar_part).__name__}"
        )
    merged = merge(copy.deepcopy(defaults), pillar_part, strategy="recurse", merge_lists=False)
    return require(merged, list(required or []), f"fluxora:{component}")


def shared(required: list[str] | None = None) -> dict[str, Any]:
    """The environment-wide settings (env, tags, topology) with required keys checked."""
    data = dict(__pillar__.get("fluxora", {}))
    data["env"] = env()
    return require(data, list(required or []), "fluxora")


# --- the orchestrator's config file, from pillar ----------------------------------------------


def _named_list(items: dict[str, Any]) -> list[dict[str, Any]]:
    """Pillar keys schedules and rules by name (so an environment can override one); the daemon
    reads lists (in name order: deterministic files)."""
    return [{"name": name, **dict(spec)} for name, spec in sorted(items.items())]


def _databases(postgres: dict[str, Any], password_file: str, production: bool) -> dict[str, Any]:
    primary = postgres["primary"]
    return {
        name: {
            "host": primary["host"],
            "port": primary["port"],
            "user": postgres["backup"]["user"],
            "password_file": password_file,
            "dbname": name,
            "production": production,
        }
        for name in sorted(postgres.get("databases", {}))
    }


def _s3_store(aws: dict[str, Any]) -> dict[str, Any]:
    bucket = aws["buckets"]["backups"]
    return {
        "kind": "s3",
        "bucket": bucket["name"],
        "region": aws["region"],
        "dr": {"bucket": bucket["dr_name"], "region": aws["dr_region"]},
    }


def orchestrator_config(
    config: dict[str, Any],
    postgres: dict[str, Any],
    aws: dict[str, Any] | None,
    password_file: str,
    alertmanager_token: str | None = None,
) -> dict[str, Any]:
    """The daemon's config file: pillar ``fluxora:orchestrator:config`` completed from the rest
    of pillar, its single source of truth: ``schedules`` and ``rules`` (``fluxora:schedules``,
    ``fluxora:rules``), the ``databases`` it backs up (``fluxora:postgres``: the primary, read
    as the backup user whose password is in ``password_file``; prod's are marked production, so
    restore-verify never restores into them) and the ``objectstore`` (the backups bucket of
    ``fluxora:aws`` and its DR copy; without AWS, the local store under data_dir) and the
    bearer token Alertmanager sends (``fluxora:monitoring:orchestrator_token``). A key set in
    ``fluxora:orchestrator:config`` wins."""
    environment = env()
    shared = __pillar__.get("fluxora", {})
    done = copy.deepcopy(config)
    done["env"] = environment
    done.setdefault("schedules", _named_list(shared.get("schedules") or {}))
    done.setdefault("rules", _named_list(shared.get("rules") or {}))
    production = environment == "prod"
    done.setdefault("databases", {environment: _databases(postgres, password_file, production)})
    if aws and "backups" in aws.get("buckets", {}):
        done.setdefault("objectstore", _s3_store(aws))
    if alertmanager_token:
        done.setdefault("alertmanager", {}).setdefault("token", alertmanager_token)
    return done


# --- health checks, called by orch/deploy.sls after each component -----------------------------


def _deadline_loop(probe: Any, timeout: float, what: str) -> str:
    deadline = time.monotonic() + float(timeout)
    last = "not tried"
    while True:
        ok, last = probe()
        if ok:
            return last
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"{what} not healthy after {timeout}s: {last}")
        time.sleep(0.5)


def _http_probe(url: str) -> Any:
    def probe() -> tuple[bool, str]:
        try:
            # Every caller builds the URL as http://<pillar listen address>/...: no other scheme.
            with urllib.request.urlopen(url, timeout=2) as response:  # nosec B310
                return 200 <= response.status < 300, f"{url} answered {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            return False, f"{url}: {exc}"

    return probe


def _resp(*words: str) -> bytes:
    """One Redis command in RESP (arrays of bulk strings: no quoting problem with passwords)."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _redis_exchange(host: str, port: int, commands: list[bytes]) -> list[str]:
    """The first line of Redis's answer to each command, on one connection."""
    answers = []
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        reader = conn.makefile("rb")
        for command in commands:
            conn.sendall(command)
            answers.append(reader.readline().decode(errors="replace").strip())
    return answers


def _redis_probe(host: str, port: int, user: str, password: str) -> Any:
    """Redis refuses a client that did not authenticate, and answers PONG to one that did."""

    def probe() -> tuple[bool, str]:
        try:
            anonymous, auth, ping = _redis_exchange(
                host, port, [_resp("PING"), _resp("AUTH", user, password), _resp("PING")]
            )
        except (OSError, ValueError) as exc:
            return False, f"{host}:{port}: {exc}"
        if not anonymous.startswith("-NOAUTH"):
            return False, f"{host}:{port} answered PING without authentication: {anonymous}"
        if auth != "+OK" or ping != "+PONG":
            return False, f"{host}:{port} as {user}: AUTH {auth}, PING {ping}"
        return True, f"{host}:{port} PONG to {user}, NOAUTH to anyone else"

    return probe


def _redis_checks(fluxora: dict[str, Any]) -> list[tuple[str, Any]]:
    """From any host whose pillar has the monitor user's password: the Redis host's address is
    its topology `address` (else the configured bind address)."""
    redis = fluxora.get("redis", {})
    hosts = fluxora.get("topology", {}).get("hosts", {})
    (host, spec), *_ = [(h, s) for h, s in sorted(hosts.items()) if "redis" in s.get("roles", [])]
    address = spec.get("address") or redis.get("bind", "127.0.0.1")
    user = redis.get("monitor_user", "fluxora-monitor")
    password = redis.get("monitor_password")
    if not password:
        raise CommandExecutionError(
            f"pillar key 'fluxora:redis:monitor_password' is not set on {__grains__.get('id')!r}: "
            "the Redis health check authenticates"
        )
    return [(f"redis on {host}", _redis_probe(address, redis["port"], user, password))]


def _sql_probe(port: int, sql: str, expect: str, socket_dir: str) -> Any:
    argv = [
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-X",
        "-At",
        "-h",
        socket_dir,
        "-p",
        str(port),
        "-d",
        "postgres",
        "-c",
        sql,
    ]

    def probe() -> tuple[bool, str]:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        answer = result.stdout.strip() or result.stderr.strip()
        return result.returncode == 0 and answer == expect, f"{sql!r} answered {answer!r}"

    return probe


def _common_checks(fluxora: dict[str, Any]) -> list[tuple[str, Any]]:
    def grains_match() -> tuple[bool, str]:
        grains = __grains__.get("fluxora", {})
        want = fluxora.get("topology", {}).get("hosts", {}).get(__grains__["id"], {})
        ok = grains.get("env") == fluxora.get("env") and sorted(grains.get("roles", [])) == sorted(
            want.get("roles", [])
        )
        wanted = f"pillar env={fluxora.get('env')} roles={want.get('roles', [])}"
        return ok, f"grains fluxora={grains}, {wanted}"

    return [("grains", grains_match)]


def _postgres_checks(fluxora: dict[str, Any], role: str) -> list[tuple[str, Any]]:
    pg = fluxora.get("postgres", {})
    sock = pg.get("socket_dir", "/var/run/postgresql")
    if role == "primary":
        port = pg["primary"]["port"]
        return [
            (f"postgres primary :{port}", _sql_probe(port, "SELECT pg_is_in_recovery()", "f", sock))
        ]
    port = pg["replica"]["port"]
    sql = "SELECT status FROM pg_stat_wal_receiver"
    return [(f"postgres replica :{port}", _sql_probe(port, sql, "streaming", sock))]


def _checks(component: str) -> list[tuple[str, Any]]:
    """The probes that say `component` works on this minion, from this minion's pillar."""
    fluxora = __pillar__.get("fluxora", {})
    if component == "common":
        return _common_checks(fluxora)
    if component in ("postgres-primary", "postgres-replica"):
        return _postgres_checks(fluxora, component.split("-")[1])
    if component == "redis":
        return _redis_checks(fluxora)
    if component == "monitoring":
        mon = fluxora.get("monitoring", {})
        return [
            (name, _http_probe(f"http://{mon[name]['listen']}/-/ready"))
            for name in ("prometheus", "alertmanager")
        ]
    if component == "orchestrator":
        listen = fluxora["orchestrator"]["config"]["http"]["listen"]
        return [("fluxora-orch", _http_probe(f"http://{listen}/healthz"))]
    if component == "cloud":
        return []  # the aws states' own results are the check: every resource is read back
    raise CommandExecutionError(f"no health check for component {component!r}")


def health(component: str, timeout: float = 60) -> dict[str, str]:
    """Wait until `component` answers on this minion; raise naming what did not."""
    return {what: _deadline_loop(probe, timeout, what) for what, probe in _checks(component)}


_SECRET_WORDS = ("password", "token", "secret")


def redact(data: Any) -> Any:
    """`data` with the value of every key ending in password/token/secret replaced."""
    if isinstance(data, dict):
        return {
            key: "<redacted>"
            if str(key).lower().endswith(_SECRET_WORDS) and value
            else redact(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact(item) for item in data]
    return data


def cli(args: list[str]) -> str:
    """Run `fluxora-orch ARGS --config <this host's config>`; raise with its output on failure."""
    orchestrator = __pillar__.get("fluxora", {}).get("orchestrator", {})
    venv = orchestrator.get("venv", "/opt/fluxora/venv")
    config_file = orchestrator.get("config_file", "/etc/fluxora/orchestrator.yml")
    argv = [f"{venv}/bin/fluxora-orch", *[str(arg) for arg in args], "--config", config_file]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise CommandExecutionError(f"{' '.join(argv)} exited {result.returncode}: {output}")
    return output
