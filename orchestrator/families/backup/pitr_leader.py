"""Base backups on the Patroni leader's host (`backup.pitr.<env>.cluster`).

barman-cloud-backup is not a libpq-only client: it opens pg_backup_start/stop over libpq and
reads the data directory's files itself, so it must run on the database host. The orchestrator
runs on an ops host; it asks Patroni who leads, and when the leader's node names a Salt minion
it runs `salt MINION fluxora.base_backup name=...` (salt/_modules/fluxora.py) there. It trusts
neither the minion's word nor the leader's: the backup must be listed in the bucket, and the
same node must still lead on the same timeline when it ends, or the backup is deleted.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from orchestrator.core.children import Children, ChildStartError
from orchestrator.families.backup import pitr
from orchestrator.families.backup.config import PitrConfig
from orchestrator.families.backup.pitr import Barman, BaseBackup, PitrError
from orchestrator.families.postgres.patroni import Member, PatroniApi, PatroniError
from orchestrator.families.postgres.topology import ClusterConfig, NodeConfig

SALT_ANSWER_SECONDS = 120  # salt's -t: a busy minion is asked again, not reported as gone
_TAIL = 500


@dataclass(frozen=True)
class Leader:
    """Where the base backup runs: the cluster's leader, its minion (None: this host)."""

    cluster: str
    node: str
    timeline: int | None
    config: NodeConfig

    @property
    def minion(self) -> str | None:
        return self.config.minion

    def describe(self) -> str:
        where = f"minion {self.minion}" if self.minion else "this host"
        return f"{self.node} of cluster {self.cluster} (timeline {self.timeline}, on {where})"


def leader_of(name: str, cluster: ClusterConfig, members: list[Member]) -> Leader:
    """The leader in Patroni's answer; PitrError naming the cluster when there is none."""
    found = next((m for m in members if m.role == "leader"), None)
    if found is None:
        states = ", ".join(f"{m.name}: {m.role} {m.state}" for m in members) or "no members"
        raise PitrError(
            f"cluster {name} has no Patroni leader to take the base backup on ({states})"
        )
    if found.state != "running":
        raise PitrError(f"the leader {found.name} of cluster {name} is {found.state}, not running")
    return Leader(name, found.name, found.timeline, cluster.node(found.name))


def find_leader(name: str, cluster: ClusterConfig) -> Leader:
    try:
        members = PatroniApi(cluster).members()
    except PatroniError as exc:
        raise PitrError(f"cluster {name}: no leader known: {exc}") from exc
    return leader_of(name, cluster, members)


def salt_argv(settings: PitrConfig, minion: str, name: str) -> list[str]:
    """`salt MINION fluxora.base_backup name=NAME`, JSON out; the runbook step's timeout
    stops it (the minion's own default is the same 6 h)."""
    return [
        *settings.salt_command, "--out=json", "--static", "-t", str(SALT_ANSWER_SECONDS),
        minion, "fluxora.base_backup", f"name={name}",
    ]  # fmt: skip


def minion_answer(minion: str, done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The minion's return from salt's JSON output; PitrError naming the minion otherwise."""
    try:
        answer = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        answer = None
    returned = answer.get(minion) if isinstance(answer, dict) else None
    if isinstance(returned, dict) and isinstance(returned.get("backup_id"), str):
        return returned
    if isinstance(returned, str):  # salt's "ERROR: ..." or "Minion did not return. [...]"
        raise PitrError(f"minion {minion}: {returned.strip()[-_TAIL:]}")
    output = (done.stderr.strip() or done.stdout.strip())[-_TAIL:] or "(no output)"
    raise PitrError(f"minion {minion} gave no base backup (salt exit {done.returncode}): {output}")


def dispatch(settings: PitrConfig, minion: str, name: str, children: Children) -> dict[str, Any]:
    argv = salt_argv(settings, minion, name)
    try:
        done = children.run(argv)
    except ChildStartError as exc:
        raise PitrError(f"dispatching the base backup to minion {minion}: {exc}") from exc
    return minion_answer(minion, done)


def stored(barman: Barman, answer: dict[str, Any], minion: str) -> BaseBackup:
    """The backup the minion reported, as the bucket lists it (completed)."""
    backup_id, where = answer["backup_id"], barman.destination.url
    if answer.get("server_name") not in (None, barman.settings.server_name):
        raise PitrError(
            f"minion {minion} backed up server {answer.get('server_name')!r} into "
            f"{answer.get('archive')}, not {barman.settings.server_name!r}: its pillar "
            "fluxora:walarchive and backup.pitr disagree"
        )
    for backup in pitr.list_base_backups(barman):
        if backup.backup_id == backup_id:
            return backup
    raise PitrError(
        f"minion {minion} reported base backup {backup_id}, but {where} lists no completed "
        f"backup {backup_id} of {barman.settings.server_name}"
    )


def check_still_leader(
    before: Leader, cluster: ClusterConfig, barman: Barman, backup_id: str
) -> None:
    """The node that took the backup still leads on its timeline; else the backup is deleted
    (taken across a failover, it may hold WAL the new leader's timeline abandoned)."""
    try:
        now: Leader | None = find_leader(before.cluster, cluster)
    except PitrError:
        now = None
    if now is not None and (now.node, now.timeline) == (before.node, before.timeline):
        return
    barman.run("barman-cloud-backup-delete", "--backup-id", backup_id)
    after = now.describe() if now else "no leader"
    raise PitrError(
        f"the leader changed during the base backup: it started on {before.describe()}, it "
        f"ended with {after}; backup {backup_id} deleted (take it again on the new leader)"
    )
