"""Helpers the Fluxora states call while rendering: merged parameters and health checks.

``fluxora.params`` is what every formula's ``map.jinja`` uses: it merges a formula's
``parameters/defaults.yaml`` with pillar ``fluxora:<component>`` and checks required keys, so a
missing key fails rendering with a sentence naming the key and the environment (a
``CommandExecutionError`` raised here is shown by Salt's Jinja renderer without a traceback).
"""

from __future__ import annotations

import copy
import json
import os
import pwd
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
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
        raise CommandExecutionError(
            f"pillar key 'fluxora:env' is {value!r} on minion {__opts__['id']!r}: its id is in "
            "no environment's topology (salt/pillar/fluxora/<env>.sls) and is no Auto Scaling "
            "instance's (fluxora-<env>-<group>[-dr]-<instance id>); the pillar top gives an "
            "environment by minion id only"
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


_PG_SIDES = {"postgres-primary": "primary", "postgres-replica": "replica"}
_PG_SERVERS = ("postgres-restore", "postgres-dr")  # standalone clusters (primary's settings)


def _hosts_with(fluxora: dict[str, Any], role: str) -> list[tuple[str, dict[str, Any]]]:
    hosts = (fluxora.get("topology") or {}).get("hosts") or {}
    return [(h, spec) for h, spec in sorted(hosts.items()) if role in spec.get("roles", [])]


def _server(
    postgres: dict[str, Any], side: dict[str, Any], spec: dict[str, Any], password_file: str
) -> dict[str, Any]:
    """How the orchestrator reaches a cluster: its socket on this machine (dev: no address),
    else the host's topology address, as the backup user."""
    server = {"host": spec.get("address") or postgres["socket_dir"], "port": side["port"]}
    if spec.get("address"):
        server.update(user=postgres["backup"]["user"], password_file=password_file)
    return server


_LAUNCHER = "/usr/local/sbin/fluxora-patroni"


def _pg_node(
    postgres: dict[str, Any], side: dict[str, Any], host: str, spec: dict[str, Any], ctx: Any
) -> dict[str, Any]:
    """A Patroni member as a failover node: reached like any server (`_server`), its REST API
    at the host's topology address (dev: the member's own host), and the drills' commands
    (through `salt HOST` on a remote host): crash the whole node, start it again, fence an
    orphan's postmaster; on a remote host its minion (the leader's takes the base backups)."""
    address = spec.get("address") or side.get("host") or "127.0.0.1"
    node = _server(postgres, side, spec, ctx["password_file"])
    config = f"/etc/patroni/{side['cluster']}.yml"
    data_dir = f"/var/lib/postgresql/{postgres['version']}/{side['cluster']}"
    pg_ctl = f"/usr/lib/postgresql/{postgres['version']}/bin/pg_ctl"
    fence = ["runuser", "-u", "postgres", "--", pg_ctl, "stop", "-m", "immediate", "-D", data_dir]
    commands = {
        "fault_command": [_LAUNCHER, "kill", config],
        "start_command": [_LAUNCHER, "start", config],
        "fence_command": fence,
    }
    if spec.get("address"):
        service = side.get("service") or f"patroni-{side['cluster']}"
        commands = {
            "fault_command": ["salt", host, "cmd.run", " ".join(commands["fault_command"])],
            "start_command": ["salt", host, "service.start", service],
            "fence_command": ["salt", host, "cmd.run", " ".join(fence)],
        }
        node["dns_name"] = f"{host}.{ctx['domain']}" if ctx["domain"] else spec["address"]
        node["minion"] = host  # base backups run there (fluxora.base_backup)
    return {**node, "patroni_url": f"http://{address}:{side['rest_port']}", **commands}


def _dr_node(postgres: dict[str, Any], host: str, spec: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The DR region's server: a standalone cluster of its own, only a target for the DNS."""
    node = _server(postgres, postgres["primary"], spec, ctx["password_file"])
    if spec.get("address"):
        node["dns_name"] = f"{host}.{ctx['domain']}" if ctx["domain"] else spec["address"]
    return node


def _pg_nodes(postgres: dict[str, Any], fluxora: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The Patroni members (named as Patroni names them: fluxora:postgres <side>:member, by
    default the host's id) and the DR-region host."""
    nodes = {}
    for role, side_name in _PG_SIDES.items():
        side = postgres[side_name]
        for host, spec in _hosts_with(fluxora, role):
            nodes[side.get("member") or host] = _pg_node(postgres, side, host, spec, ctx)
    for host, spec in _hosts_with(fluxora, "postgres-dr"):
        nodes[host] = _dr_node(postgres, host, spec, ctx)
    return nodes


def _endpoint(fluxora: dict[str, Any], aws: dict[str, Any] | None) -> dict[str, Any]:
    """Where clients connect: a Route53 failover pair db.<zone> where the environment has
    AWS, else a libpq service file."""
    if aws:
        zone = aws["dns"]["zone"]
        return {"kind": "route53", "zone": zone, "record": f"db.{zone}"}
    return {
        "kind": "service_file",
        "path": "/etc/fluxora/pg_service.conf",
        "service": "fluxora-main",
    }


def _first_database(postgres: dict[str, Any]) -> str:
    """The database a cluster is checked and recovered by: the first of fluxora:postgres."""
    return sorted(postgres.get("databases") or {"postgres": {}})[0]


def _postgres_clusters(
    postgres: dict[str, Any], fluxora: dict[str, Any], aws: dict[str, Any] | None, ctx: Any
) -> dict[str, Any]:
    """`postgres_clusters.<env>.main` from the pillar that configures PostgreSQL: the nodes
    (topology hosts with their PostgreSQL role, ports and clusters from fluxora:postgres),
    the designed primary (`home`), the DR region's host (`dr_node`), the endpoint."""
    nodes = _pg_nodes(postgres, fluxora, ctx)
    primaries = [n for n, _ in _hosts_with(fluxora, "postgres-primary")]
    if len(nodes) < 2 or not primaries:
        return {}
    cluster = {
        "dbname": _first_database(postgres),
        "home": postgres["primary"].get("member") or primaries[0],
        "nodes": nodes,
        "endpoint": _endpoint(fluxora, aws),
        "patroni": _patroni_settings(postgres.get("patroni", {}), ctx),
    }
    dr_hosts = [n for n, _ in _hosts_with(fluxora, "postgres-dr")]
    if dr_hosts:
        cluster["dr_node"] = dr_hosts[0]
    return {"main": cluster}


def _patroni_settings(patroni: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """How the orchestrator calls the members' REST API: synchronous mode as the DCS has it,
    and basic auth with the password in its file (never in the config)."""
    settings = {"synchronous": bool(patroni.get("synchronous_mode", True))}
    if ctx.get("patroni_password_file") and patroni.get("rest_username"):
        settings.update(
            username=patroni["rest_username"], password_file=ctx["patroni_password_file"]
        )
    return settings


def _restore_targets(postgres: dict[str, Any], fluxora: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The scratch server restore-verify restores into: the host with role postgres-restore."""
    hosts = _hosts_with(fluxora, "postgres-restore")
    if not hosts:
        return {}
    _, spec = hosts[0]
    return {fluxora["env"]: _server(postgres, postgres["primary"], spec, ctx["password_file"])}


def _s3_store(aws: dict[str, Any]) -> dict[str, Any]:
    bucket = aws["buckets"]["backups"]
    return {
        "kind": "s3",
        "bucket": bucket["name"],
        "region": aws["region"],
        "dr": {"bucket": bucket["dr_name"], "region": aws["dr_region"]},
    }


def _archive(destination: dict[str, Any]) -> dict[str, Any]:
    found = {key: destination.get(key) for key in ("url", "region", "endpoint_url")}
    return {key: value for key, value in found.items() if value}


def _pitr(walarchive: dict[str, Any], database: str, clusters: dict[str, Any]) -> dict[str, Any]:
    """`backup.pitr.<env>` from the pillar that configures the WAL archive (fluxora.walarchive's
    merged parameters): its server name, its primary and DR destinations, its retention; the
    database and the Patroni cluster whose leader's minion takes the base backups. The daemon
    reads the archive as its own user (run_as none): only the base backup, on the database
    host, reads the data directory (as the archive's user, fluxora.base_backup)."""
    by_name = {d.get("name"): d for d in walarchive.get("destinations") or []}
    primary = by_name.get("primary")
    if primary is None:
        raise CommandExecutionError(
            f"pillar key 'fluxora:walarchive:destinations' of environment '{env()}' has no "
            "destination named 'primary': backup.pitr needs the archive base backups go to"
        )
    retention = walarchive.get("retention") or {}
    settings = {
        "database": database,
        "server_name": walarchive["server_name"],
        "archive": _archive(primary),
        "run_as": None,
        **{k: retention[k] for k in ("recovery_window_days", "min_base_backups") if k in retention},
        "local_restores": False,
    }
    if "dr" in by_name:
        settings["dr_archive"] = _archive(by_name["dr"])
    if "main" in clusters:
        settings["cluster"] = "main"
    return settings


def orchestrator_config(
    config: dict[str, Any],
    postgres: dict[str, Any],
    aws: dict[str, Any] | None,
    password_file: str,
    alertmanager_token: str | None = None,
    patroni_password_file: str | None = None,
    walarchive: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The daemon's config file: pillar ``fluxora:orchestrator:config`` completed from the rest
    of pillar, its single source of truth: ``schedules`` and ``rules`` (``fluxora:schedules``,
    ``fluxora:rules``), the ``databases`` it backs up (``fluxora:postgres``: the primary, read
    as the backup user whose password is in ``password_file``; prod's are marked production, so
    restore-verify never restores into them) and the ``objectstore`` (the backups bucket of
    ``fluxora:aws`` and its DR copy; without AWS, the local store under data_dir) and the
    bearer token Alertmanager sends (``fluxora:monitoring:orchestrator_token``); the Patroni
    clusters' REST API user, its password in ``patroni_password_file``; with ``walarchive``
    (fluxora.walarchive's parameters: staging and prod), point-in-time recovery
    (``backup.pitr.<env>``). A key set in ``fluxora:orchestrator:config`` wins."""
    environment = env()
    shared = __pillar__.get("fluxora", {})
    done = copy.deepcopy(config)
    done["env"] = environment
    done.setdefault("schedules", _named_list(shared.get("schedules") or {}))
    done.setdefault("rules", _named_list(shared.get("rules") or {}))
    production = environment == "prod"
    done.setdefault("databases", {environment: _databases(postgres, password_file, production)})
    files = {"password_file": password_file, "patroni_password_file": patroni_password_file}
    _derive_topology(done, postgres, dict(shared, env=environment), aws, files)
    if walarchive:
        clusters = (done.get("postgres_clusters") or {}).get(environment) or {}
        pitr = _pitr(walarchive, _first_database(postgres), clusters)
        done.setdefault("backup", {}).setdefault("pitr", {environment: pitr})
    if aws and "backups" in aws.get("buckets", {}):
        done.setdefault("objectstore", _s3_store(aws))
        done.setdefault("aws", {"region": aws["region"], "dr_region": aws["dr_region"]})
    if alertmanager_token:
        done.setdefault("alertmanager", {}).setdefault("token", alertmanager_token)
    return done


def _derive_topology(
    done: dict[str, Any],
    postgres: dict[str, Any],
    fluxora: dict[str, Any],
    aws: dict[str, Any] | None,
    files: dict[str, str | None],
) -> None:
    """`postgres_clusters` and `backup.restore_targets` from topology and fluxora:postgres,
    unless fluxora:orchestrator:config sets them; `files` holds the passwords' files."""
    ctx = {**files, "domain": (fluxora.get("topology") or {}).get("domain")}
    clusters = _postgres_clusters(postgres, fluxora, aws, ctx)
    if clusters:
        done.setdefault("postgres_clusters", {fluxora["env"]: clusters})
    targets = _restore_targets(postgres, fluxora, ctx)
    if targets:
        done.setdefault("backup", {}).setdefault("restore_targets", targets)


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
        want = fluxora.get("roles", [])
        ok = grains.get("env") == fluxora.get("env") and sorted(grains.get("roles", [])) == sorted(
            want
        )
        wanted = f"pillar env={fluxora.get('env')} roles={want}"
        return ok, f"grains fluxora={grains}, {wanted}"

    return [("grains", grains_match)]


# No archive_command failure since the last success (none on a standby: it does not archive).
_ARCHIVER_OK = (
    "SELECT last_failed_time IS NULL OR last_archived_time > last_failed_time FROM pg_stat_archiver"
)


def _postgres_checks(fluxora: dict[str, Any], role: str) -> list[tuple[str, Any]]:
    pg = fluxora.get("postgres", {})
    sock = pg.get("socket_dir", "/var/run/postgresql")
    port = pg[role]["port"]
    if role == "primary":
        checks = [
            (f"postgres primary :{port}", _sql_probe(port, "SELECT pg_is_in_recovery()", "f", sock))
        ]
    else:
        sql = "SELECT status FROM pg_stat_wal_receiver"
        checks = [(f"postgres replica :{port}", _sql_probe(port, sql, "streaming", sock))]
    if fluxora.get("walarchive", {}).get("postgres_parameters"):
        checks.append((f"wal archiving :{port}", _sql_probe(port, _ARCHIVER_OK, "t", sock)))
    return checks


def _etcd_checks(fluxora: dict[str, Any]) -> list[tuple[str, Any]]:
    """This host's etcd member answers /health (where fluxora.etcd makes it listen)."""
    etcd = fluxora.get("etcd", {})
    listed = fluxora.get("topology", {}).get("hosts", {}).get(__grains__["id"], {})
    address = etcd.get("address") or listed.get("address") or "127.0.0.1"
    url = f"http://{address}:{etcd.get('client_port', 2379)}/health"
    return [(f"etcd {address}", _http_probe(url))]


def _checks(component: str) -> list[tuple[str, Any]]:
    """The probes that say `component` works on this minion, from this minion's pillar."""
    fluxora = __pillar__.get("fluxora", {})
    if component == "common":
        return _common_checks(fluxora)
    if component == "etcd":
        return _etcd_checks(fluxora)
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


# --- base backups on the Patroni leader (dispatched by the orchestrator's postgres.base_backup) --

# barman-cloud-backup reads the data directory itself (it is no libpq-only client): it runs on
# the database host, against the local socket, with the WAL archive's own settings (the file
# fluxora.walarchive writes: server name, destinations, credentials, socket and port).
_WALARCHIVE_CONFIG = "/etc/fluxora/wal-archive.json"
_NODE_SQL = (
    "SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint()), "
    "(SELECT system_identifier FROM pg_control_system())"
)


def _walarchive_settings() -> dict[str, Any]:
    pillar = __pillar__.get("fluxora", {}).get("walarchive") or {}
    path = pillar.get("config") or _WALARCHIVE_CONFIG
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandExecutionError(
            f"minion {__opts__['id']!r}: no WAL archive config at {path} ({exc}): a base backup "
            "runs on a database host that fluxora.walarchive configured"
        ) from None
    destinations = config.get("destinations") or []
    primary = next((d for d in destinations if d.get("name") == "primary"), None)
    if not config.get("server_name") or not (primary or destinations):
        raise CommandExecutionError(
            f"minion {__opts__['id']!r}: {path} names no server_name or no destination"
        )
    return {
        **config,
        "destination": primary or destinations[0],
        "user": pillar.get("user") or "postgres",
        "barman_bin_dir": pillar.get("barman_bin_dir") or config.get("barman_bin_dir", "/usr/bin"),
    }


def _as_user(user: str, argv: list[str]) -> list[str]:
    if pwd.getpwuid(os.getuid()).pw_name == user:
        return argv
    return ["runuser", "-u", user, "--", *argv]


def _barman(settings: dict[str, Any], tool: str, *args: str, timeout: float) -> str:
    """barman-cloud `tool` on the WAL archive's primary destination, as the cluster's user."""
    destination = settings["destination"]
    argv = [str(Path(settings["barman_bin_dir"]) / tool)]
    if destination.get("endpoint_url"):
        argv += ["--endpoint-url", destination["endpoint_url"]]
    argv += [*args, destination["url"], settings["server_name"]]
    env = dict(os.environ)
    if destination.get("region"):
        env["AWS_DEFAULT_REGION"] = str(destination["region"])
    credentials = destination.get("aws_credentials_file") or settings.get("aws_credentials_file")
    if credentials:
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
    try:
        result = subprocess.run(
            _as_user(settings["user"], argv), capture_output=True, text=True, check=False,
            env=env, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CommandExecutionError(f"{tool} did not finish in {timeout:g} s") from None
    if result.returncode != 0:
        tail = "; ".join(result.stderr.strip().splitlines()[-5:]) or "(no output)"
        raise CommandExecutionError(f"{tool} failed (exit {result.returncode}): {tail}")
    return result.stdout


def _local_server(settings: dict[str, Any]) -> tuple[str, str]:
    """(socket directory, port) of this host's PostgreSQL, as the WAL archive config names it."""
    host = settings.get("pg_host") or "/var/run/postgresql"
    return str(host), str(settings.get("pg_port") or 5432)


def _node_state(settings: dict[str, Any]) -> tuple[bool, int, str]:
    """(in recovery, timeline of the last checkpoint, system identifier) of the local server."""
    host, port = _local_server(settings)
    argv = ["psql", "-X", "-At", "-F", "|", "-h", host, "-p", port, "-d", "postgres"]
    result = subprocess.run(
        _as_user(settings["user"], [*argv, "-c", _NODE_SQL]),
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    fields = result.stdout.strip().split("|")
    if result.returncode != 0 or len(fields) != 3:
        raise CommandExecutionError(
            f"minion {__opts__['id']!r}: PostgreSQL on {host}:{port} does not answer: "
            f"{result.stderr.strip()[-300:] or result.stdout.strip()[-300:]}"
        )
    return fields[0] == "t", int(fields[1]), fields[2]


def base_backup(name: str, timeout: float = 6 * 3600) -> dict[str, Any]:
    """barman-cloud-backup of this host's PostgreSQL, named `name`, into the WAL archive's
    primary destination; refused on a replica. A node that is no longer the primary when the
    backup ends (demoted by a failover meanwhile) has its backup deleted and the call fails: a
    backup taken across a demotion may hold a timeline the new leader abandoned.

    Returns the stored backup's id, name, server name and archive URL and the node's timeline
    (the orchestrator checks it in the bucket itself, and the leader with Patroni)."""
    settings = _walarchive_settings()
    minion = __opts__["id"]
    in_recovery, timeline, system_id = _node_state(settings)
    if in_recovery:
        raise CommandExecutionError(
            f"minion {minion!r}: PostgreSQL here is a replica (in recovery): base backups are "
            "taken on the Patroni leader"
        )
    host, port = _local_server(settings)
    _barman(
        settings, "barman-cloud-backup", "--immediate-checkpoint", "--name", name,
        "--host", host, "--port", port, timeout=float(timeout),
    )  # fmt: skip
    listed = json.loads(
        _barman(settings, "barman-cloud-backup-list", "--format", "json", timeout=600)
    )
    found = [
        b for b in listed.get("backups_list", [])
        if b.get("backup_name") == name and b.get("status") == "DONE"
    ]  # fmt: skip
    if not found:
        raise CommandExecutionError(f"barman-cloud-backup finished but lists no backup {name}")
    backup_id = str(found[-1]["backup_id"])
    after = _node_state(settings)
    if after[0] or after[1] != timeline:
        _barman(settings, "barman-cloud-backup-delete", "--backup-id", backup_id, timeout=600)
        became = "a replica" if after[0] else f"the primary of timeline {after[1]}, not {timeline}"
        raise CommandExecutionError(
            f"minion {minion!r}: PostgreSQL here became {became} during base backup {name}: "
            f"backup {backup_id} deleted (a failover happened; take it on the new leader)"
        )
    return {
        "backup_id": backup_id,
        "name": name,
        "status": found[-1].get("status"),
        "server_name": settings["server_name"],
        "archive": settings["destination"]["url"],
        "minion": minion,
        "timeline": timeline,
        "system_identifier": system_id,
    }
