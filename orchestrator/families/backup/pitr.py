"""Point-in-time recovery with barman-cloud: base backups of a cluster into its WAL archive's
bucket, retention of base backups and the WAL they need, the recoverable window, and restores
into a new node (a fresh data directory started with pg_ctl) to a moment or to the newest WAL.

The WAL itself is archived by PostgreSQL's archive_command (`fluxora-wal-archive`, installed by
the fluxora.walarchive state); this module only reads it. Every barman-cloud program runs as
the cluster's OS user (`PitrConfig.run_as`): base backups read the data directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg

from orchestrator.core.children import Children, ChildStartError
from orchestrator.core.errors import FluxoraError
from orchestrator.core.leftovers import Leftover
from orchestrator.families.backup.config import ArchiveDestination, PitrConfig
from orchestrator.families.backup.stream import BackupError
from orchestrator.families.postgres.client import ServerConfig, connect, libpq_env
from orchestrator.families.postgres.tools import find_tool

PITR_NODE = "pitr-node"  # the leftover kind of a restore node a dead job worker left
_STDERR_LINES = 5
_POLL_SECONDS = 0.1


class PitrError(BackupError):
    pass


class OutsideWindowError(PitrError):
    pass


@dataclass(frozen=True, kw_only=True)
class BaseBackup:
    backup_id: str
    name: str | None
    begin_time: datetime
    end_time: datetime
    begin_wal: str
    end_wal: str


@dataclass(frozen=True)
class Window:
    """The moments a restore can reach: from the end of the oldest base backup to the newest
    archived WAL segment."""

    start: datetime
    end: datetime

    def describe(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()}"


@dataclass(frozen=True)
class Barman:
    """barman-cloud programs for one cluster's archive (`dr`: the DR region's copy)."""

    settings: PitrConfig
    dr: bool = False
    children: Children = field(default_factory=Children.standalone, compare=False)
    """How its programs run: the action's (`ctx.children()`), so an abort or a timeout stops
    them and a dead worker's are swept."""

    @property
    def destination(self) -> ArchiveDestination:
        if not self.dr:
            return self.settings.archive
        if self.settings.dr_archive is None:
            raise PitrError(f"no DR archive configured for {self.settings.server_name}")
        return self.settings.dr_archive

    def endpoint(self) -> str | None:
        return self.destination.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.destination.region:
            env["AWS_DEFAULT_REGION"] = self.destination.region
        if self.settings.aws_credentials_file:
            env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.settings.aws_credentials_file)
        return env

    def argv(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.settings.barman_bin_dir / tool)]
        if endpoint := self.endpoint():
            argv += ["--endpoint-url", endpoint]
        return as_user(self.settings.run_as, [*argv, *args])

    def run(self, tool: str, *args: str, extra_env: dict[str, str] | None = None) -> str:
        argv = self.argv(tool, self.destination.url, self.settings.server_name, *args)
        return run(argv, {**self.env(), **(extra_env or {})}, tool, self.children)

    def restore_command(self) -> str:
        """restore_command for a recovering node: fetch each WAL file from this archive."""
        env = [f"AWS_DEFAULT_REGION={self.destination.region}"] if self.destination.region else []
        if self.settings.aws_credentials_file:
            env.append(f"AWS_SHARED_CREDENTIALS_FILE={self.settings.aws_credentials_file}")
        argv = [str(self.settings.barman_bin_dir / "barman-cloud-wal-restore")]
        if endpoint := self.endpoint():
            argv += ["--endpoint-url", endpoint]
        argv += [self.destination.url, self.settings.server_name, "%f", "%p"]
        return " ".join(["env", *env, *argv]) if env else " ".join(argv)


def free_port() -> int:
    """A loopback port nobody listens on now (for a new node's private socket and port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_user(user: str | None, argv: list[str]) -> list[str]:
    if user is None or pwd.getpwuid(os.getuid()).pw_name == user:
        return argv
    return ["runuser", "-u", user, "--", *argv]


def run(
    argv: Sequence[str], env: dict[str, str], what: str, children: Children | None = None
) -> str:
    """`argv` in a process group of its own (`children`'s: stopped when it is cancelled)."""
    try:
        result = (children or Children.standalone()).run(argv, env=env)
    except ChildStartError as exc:
        raise PitrError(f"{what}: {exc}") from exc
    if result.returncode != 0:
        tail = "; ".join(result.stderr.strip().splitlines()[-_STDERR_LINES:]) or "(no output)"
        raise PitrError(f"{what} failed (exit {result.returncode}): {tail}")
    return result.stdout


# --- base backups and retention ------------------------------------------------------------------


def take_base_backup(barman: Barman, server: ServerConfig, name: str) -> BaseBackup:
    """barman-cloud-backup of the server (fast checkpoint), named `name`; the stored backup."""
    barman.run(
        "barman-cloud-backup", "--immediate-checkpoint", "--name", name,
        extra_env=libpq_env(server, "postgres"),
    )  # fmt: skip
    for backup in list_base_backups(barman):
        if backup.name == name:
            return backup
    raise PitrError(f"barman-cloud-backup finished but no backup named {name} is listed")


def copy_base_backup(source: Barman, target: Barman, backup_id: str) -> int:
    """Copy a base backup's objects into the other archive (the DR region's), server-side;
    the WAL gets there on its own (fluxora-wal-archive writes both). Returns the objects copied."""
    client, bucket, base = _s3(source, "base")
    target_client, target_bucket, target_base = _s3(target, "base")
    prefix = f"{base}{backup_id}/"
    keys = [key for key, _ in _objects(client, bucket, prefix)]
    for key in keys:
        target_client.copy(
            {"Bucket": bucket, "Key": key}, target_bucket,
            target_base + key.removeprefix(base), SourceClient=client,
        )  # fmt: skip
    return len(keys)


def stored_bytes(barman: Barman, backup_id: str) -> int:
    client, bucket, base = _s3(barman, "base")
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{base}{backup_id}/"
    )
    return sum(int(o["Size"]) for page in pages for o in page.get("Contents", []))


def list_base_backups(barman: Barman) -> list[BaseBackup]:
    """Completed base backups, oldest first, read from their `backup.info` objects (what
    barman-cloud-backup-list reads, without a Python start-up per call)."""
    client, bucket, base = _s3(barman, "base")
    infos = [k for k, _ in _objects(client, bucket, base) if k.endswith("/backup.info")]
    entries = [
        {**_backup_info(client.get_object(Bucket=bucket, Key=key)["Body"].read()),
         "backup_id": key.rsplit("/", 2)[-2]}  # <base>/<backup id>/backup.info
        for key in infos
    ]  # fmt: skip
    backups = [_base_backup(e) for e in entries if e.get("status") == "DONE"]
    return sorted(backups, key=lambda b: b.end_time)


def _backup_info(body: bytes) -> dict[str, str]:
    """barman's backup.info: one `key=value` per line."""
    lines = body.decode("utf-8", errors="replace").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _base_backup(entry: dict[str, str]) -> BaseBackup:
    return BaseBackup(
        backup_id=entry["backup_id"],
        name=entry.get("backup_name") or None,
        begin_time=_barman_time(entry["begin_time"]),
        end_time=_barman_time(entry["end_time"]),
        begin_wal=entry["begin_wal"],
        end_wal=entry["end_wal"],
    )


def _barman_time(value: str) -> datetime:
    """backup.info times: '2026-12-07 03:14:03.928682+00:00' (UTC when no offset)."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def apply_retention(barman: Barman, now: datetime) -> list[str]:
    """Delete the base backups (and the WAL older than the oldest kept) that the recovery
    window no longer needs, keeping at least `min_base_backups`. Returns the deleted ids."""
    settings = barman.settings
    backups = list_base_backups(barman)
    window_start = now - timedelta(days=settings.recovery_window_days)
    doomed = expired(backups, window_start, settings.min_base_backups)
    for backup in doomed:
        barman.run("barman-cloud-backup-delete", "--backup-id", backup.backup_id)
    if doomed:
        delete_wal_before(barman, backups[len(doomed)].begin_wal)
    return [b.backup_id for b in doomed]


def expired(backups: list[BaseBackup], window_start: datetime, keep: int) -> list[BaseBackup]:
    """The oldest backups not needed to reach any moment after `window_start`: every one older
    than the newest backup that ended before the window, keeping the newest `keep` in any case."""
    anchor = max((i for i, b in enumerate(backups) if b.end_time <= window_start), default=0)
    return backups[: min(anchor, max(len(backups) - keep, 0))]


def delete_wal_before(barman: Barman, wal: str) -> int:
    """Delete archived WAL segments older than `wal` (barman-cloud-backup-delete keeps them).
    History files are kept: they are small and a restore may need any timeline's."""
    client, bucket, prefix = _s3(barman)
    doomed = [
        {"Key": key} for key, _ in _objects(client, bucket, prefix)
        if _segment_name(key) < wal and not key.endswith(".history")
    ]  # fmt: skip
    for start in range(0, len(doomed), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000]})
    return len(doomed)


# --- the recoverable window ----------------------------------------------------------------------


def _s3(barman: Barman, kind: str = "wals") -> tuple[Any, str, str]:
    """(client, bucket, key prefix) of the server's `wals` or `base` objects."""
    url = barman.destination.url.removeprefix("s3://")
    bucket, _, prefix = url.partition("/")
    client = boto3.client(
        "s3", region_name=barman.destination.region, endpoint_url=barman.endpoint()
    )
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return client, bucket, f"{base}{barman.settings.server_name}/{kind}/"


def _objects(client: Any, bucket: str, prefix: str) -> list[tuple[str, datetime]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [
        (o["Key"], o["LastModified"].astimezone(UTC))
        for page in pages
        for o in page.get("Contents", [])
    ]


def _segment_name(key: str) -> str:
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def newest_wal(barman: Barman) -> tuple[str, datetime] | None:
    """The newest archived WAL segment and when it was stored; None when there is none.

    S3 keeps an object's LastModified to the whole second, so a segment listed as stored at
    12:00:43 was stored before 12:00:44, and a commit at 12:00:43.5 may be in it: the moment
    returned is the end of that second, or the window would refuse targets it holds."""
    client, bucket, prefix = _s3(barman)
    segments = [(k, t) for k, t in _objects(client, bucket, prefix) if "history" not in k]
    if not segments:
        return None
    key, stored = max(segments, key=lambda item: _segment_name(item[0]))
    return _segment_name(key), end_of_listed_second(stored)


def end_of_listed_second(moment: datetime) -> datetime:
    if moment.microsecond:
        return moment
    return moment + timedelta(seconds=1) - timedelta(microseconds=1)


def recoverable_window(barman: Barman, backups: list[BaseBackup]) -> Window:
    if not backups:
        raise PitrError(
            f"no base backup of {barman.settings.server_name} in {barman.destination.url}"
        )
    newest = newest_wal(barman)
    end = max(newest[1], backups[-1].end_time) if newest else backups[-1].end_time
    return Window(start=backups[0].end_time, end=end)


def choose_backup(backups: list[BaseBackup], target: datetime | None) -> BaseBackup:
    """The newest base backup that ended at or before `target` (the newest of all for None)."""
    usable = [b for b in backups if target is None or b.end_time <= target]
    if not usable:
        raise PitrError(f"no base backup ended before {target}")
    return usable[-1]


def check_target(window: Window, target: datetime | None, server_name: str) -> None:
    if target is None:
        return
    if not window.start <= target <= window.end:
        raise OutsideWindowError(
            f"target {target.isoformat()} is outside the retained window of {server_name}: "
            f"{window.describe()}"
        )


# --- restore into a new node ---------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A restored cluster: data directory, socket directory and port on this host."""

    name: str
    directory: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgresql.log"

    def server(self) -> ServerConfig:
        return ServerConfig(host=str(self.directory), port=self.port, user="postgres")


@dataclass(frozen=True)
class Restored:
    node: Node
    backup: BaseBackup
    restore_seconds: float
    replay_seconds: float
    recovered_to: str | None  # the log's last replayed commit, when it says


def restore_node(
    barman: Barman, node: Node, target: datetime | None, pg_bin_dir: Path | None,
    backups: list[BaseBackup] | None = None,
) -> Restored:  # fmt: skip
    """barman-cloud-restore the right base backup into the node's empty directory, configure
    recovery to `target` (or the end of the archive), start it and wait until it is promoted."""
    backup = choose_backup(list_base_backups(barman) if backups is None else backups, target)
    started = time.monotonic()
    _prepare(node, barman.settings.run_as)
    barman.run("barman-cloud-restore", backup.backup_id, str(node.data_dir))
    _configure(node, barman, target)
    restored = time.monotonic()
    # pg_ctl -w returns once recovery has ended (no hot standby), or at once if it dies.
    timeout = barman.settings.restore_timeout_seconds
    _pg_ctl(node, barman.settings.run_as, pg_bin_dir, "start", timeout)
    _wait_promoted(node, timeout)
    replayed = time.monotonic()
    return Restored(
        node=node, backup=backup, restore_seconds=restored - started,
        replay_seconds=replayed - restored, recovered_to=_recovered_to(node),
    )  # fmt: skip


def _prepare(node: Node, user: str | None) -> None:
    """The node's directories, owned by `user`; so are the parents made here (the daemon's
    umask 077 would keep `user` out of them)."""
    if node.directory.exists():
        raise PitrError(f"restore node directory {node.directory} exists: choose another name")
    made = [p for p in node.data_dir.parents if not p.exists()]
    node.data_dir.mkdir(mode=0o700, parents=True)
    node.directory.chmod(0o700)
    if user is not None:
        for path in (*made, node.data_dir):
            shutil.chown(path, user, user)


def _configure(node: Node, barman: Barman, target: datetime | None) -> None:
    """A postgresql.conf of the node's own (the backup may carry the source's, or none: Debian
    keeps it in /etc), recovery.signal, and local-only trust through a private socket."""
    for leftover in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf", "postgresql.auto.conf"):
        (node.data_dir / leftover).unlink(missing_ok=True)
    settings = {
        "port": str(node.port),
        "listen_addresses": "",
        "unix_socket_directories": str(node.directory),
        "hba_file": str(node.data_dir / "pg_hba.conf"),
        "ident_file": str(node.data_dir / "pg_ident.conf"),
        "archive_mode": "off",  # a restored node must never write into the source's archive
        "hot_standby": "off",
        "restore_command": barman.restore_command(),
        "recovery_target_action": "promote",
    }
    if target is not None:
        settings["recovery_target_time"] = target.isoformat()
    lines = [f"{key} = '{value}'" for key, value in settings.items()]
    _write(node, "postgresql.conf", "\n".join(lines) + "\n", barman.settings.run_as)
    _write(node, "pg_hba.conf", "local all all trust\n", barman.settings.run_as)
    _write(node, "pg_ident.conf", "", barman.settings.run_as)
    _write(node, "recovery.signal", "", barman.settings.run_as)


def _write(node: Node, name: str, text: str, user: str | None) -> None:
    path = node.data_dir / name
    path.write_text(text)
    path.chmod(0o600)
    if user is not None:
        shutil.chown(path, user, user)


def _pg_ctl(
    node: Node, user: str | None, pg_bin_dir: Path | None, action: str, timeout: float = 60
) -> None:
    argv = [find_tool("pg_ctl", pg_bin_dir), "-D", str(node.data_dir), "-l", str(node.log_file)]
    argv += ["-w", "-t", str(int(timeout))]
    argv += [action] if action == "start" else ["-m", "fast", action]
    try:
        run(as_user(user, argv), dict(os.environ), f"pg_ctl {action}")
    except PitrError as exc:
        raise PitrError(f"{exc}; log: {_log_tail(node)}") from exc


def _wait_promoted(node: Node, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connect(node.server(), "postgres") as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and row[0] is False:
                    return
        except (psycopg.Error, FluxoraError):
            if not (node.data_dir / "postmaster.pid").exists():
                raise PitrError(f"restored node {node.name} stopped: {_log_tail(node)}") from None
        time.sleep(_POLL_SECONDS)
    raise PitrError(f"restored node {node.name} not promoted after {timeout:g} s")


def _log_tail(node: Node) -> str:
    try:
        lines = node.log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-_STDERR_LINES:])


def _recovered_to(node: Node) -> str | None:
    marker = "last completed transaction was at log time "
    try:
        text = node.log_file.read_text(errors="replace")
    except OSError:
        return None
    found = [line.split(marker, 1)[1].strip() for line in text.splitlines() if marker in line]
    return found[-1] if found else None


def stop_node(node: Node, user: str | None, pg_bin_dir: Path | None) -> None:
    _pg_ctl(node, user, pg_bin_dir, "stop")


def remove_node(node: Node, user: str | None, pg_bin_dir: Path | None) -> None:
    """Stop the node if it runs, then delete its directory."""
    if (node.data_dir / "postmaster.pid").exists():
        stop_node(node, user, pg_bin_dir)
    shutil.rmtree(node.directory, ignore_errors=True)


def sweep_node(leftover: Leftover) -> str:
    """A restore node that a dead job worker left half made (or a drill's node): stopped and
    deleted."""
    directory = Path(leftover.data["directory"])
    pg_bin = leftover.data.get("pg_bin_dir")
    remove_node(
        Node(directory.name, directory, 0), leftover.data.get("run_as"),
        Path(pg_bin) if pg_bin else None,
    )  # fmt: skip
    return f"removed restore node {directory}"
