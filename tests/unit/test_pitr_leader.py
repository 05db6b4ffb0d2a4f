"""Where postgres.base_backup runs (orchestrator/families/backup/pitr_leader.py): the leader
in Patroni's answer, here or through its minion; what salt's answer means; the backup of a
node that stopped leading is deleted."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

import pytest

from orchestrator.families.backup import pitr_leader
from orchestrator.families.backup.config import ArchiveDestination, PitrConfig
from orchestrator.families.backup.pitr import Barman, PitrError
from orchestrator.families.postgres.patroni import Member
from orchestrator.families.postgres.topology import ClusterConfig

CLUSTER = ClusterConfig.model_validate({
    "home": "db-a",
    "nodes": {
        "db-a": {"host": "10.20.1.11", "patroni_url": "http://10.20.1.11:8008",
                 "minion": "stg-db-1"},
        "db-b": {"host": "10.20.1.12", "patroni_url": "http://10.20.1.12:8008",
                 "minion": "stg-db-2"},
        "local": {"host": "/var/run/postgresql", "port": 5433,
                  "patroni_url": "http://127.0.0.1:8010"},
    },
    "endpoint": {"kind": "route53", "zone": "staging.example.", "record": "db.staging.example"},
    "patroni": {},
})  # fmt: skip
SETTINGS = PitrConfig(
    database="fluxora", server_name="fluxora-staging",
    archive=ArchiveDestination(url="s3://fluxora-staging-backups/wal", region="eu-west-1"),
    salt_command=["/opt/fluxora/venv/bin/salt", "-c", "/etc/salt"],
)  # fmt: skip


def member(name: str, role: str, state: str = "running", timeline: int = 5) -> Member:
    return Member(name=name, role=role, state=state, timeline=timeline, lag=None)


def test_the_leader_on_a_minion_is_dispatched_to_it() -> None:
    found = pitr_leader.leader_of(
        "main", CLUSTER, [member("db-a", "sync_standby", "streaming"), member("db-b", "leader")]
    )
    assert (found.node, found.minion, found.timeline) == ("db-b", "stg-db-2", 5)
    assert found.describe() == "db-b of cluster main (timeline 5, on minion stg-db-2)"


def test_a_leader_without_a_minion_is_backed_up_here() -> None:
    found = pitr_leader.leader_of("main", CLUSTER, [member("local", "leader")])
    assert found.minion is None
    assert found.config.host == "/var/run/postgresql"


def test_no_leader_fails_naming_the_cluster_and_the_members() -> None:
    with pytest.raises(
        PitrError, match=r"cluster main has no Patroni leader .*db-a: replica stopped"
    ):
        pitr_leader.leader_of("main", CLUSTER, [member("db-a", "replica", "stopped")])


def test_a_leader_that_does_not_run_is_refused() -> None:
    with pytest.raises(PitrError, match="leader db-a of cluster main is starting"):
        pitr_leader.leader_of("main", CLUSTER, [member("db-a", "leader", "starting")])


def test_the_salt_command_targets_the_minion_with_json_out() -> None:
    assert pitr_leader.salt_argv(SETTINGS, "stg-db-2", "base-1") == [
        "/opt/fluxora/venv/bin/salt", "-c", "/etc/salt", "--out=json", "--static", "-t", "120",
        "stg-db-2", "fluxora.base_backup", "name=base-1",
    ]  # fmt: skip


def salt_said(
    stdout: str, returncode: int = 0, stderr: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["salt"], returncode, stdout, stderr)


def test_the_minions_answer_is_its_backup() -> None:
    answer = {"backup_id": "20261207T100000", "name": "base-1", "server_name": "fluxora-staging"}
    assert (
        pitr_leader.minion_answer("stg-db-1", salt_said(json.dumps({"stg-db-1": answer}))) == answer
    )


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        (salt_said('{"stg-db-1": "Minion did not return. [Not connected]"}', 1),
         r"minion stg-db-1: Minion did not return. \[Not connected\]"),
        (salt_said('{"stg-db-1": "ERROR: minion \'stg-db-1\': PostgreSQL here is a replica"}', 1),
         r"minion stg-db-1: ERROR: .*is a replica"),
        (salt_said("", 2, "No minions matched the target. No command was sent."),
         r"minion stg-db-1 gave no base backup \(salt exit 2\): No minions matched"),
        (salt_said('{"stg-db-9": {"backup_id": "x"}}'), r"minion stg-db-1 gave no base backup"),
        (salt_said('{"stg-db-1": {"retcode": 0}}'), r"minion stg-db-1 gave no base backup"),
    ],
)  # fmt: skip
def test_anything_but_a_backup_fails_naming_the_minion(
    done: subprocess.CompletedProcess[str], expected: str
) -> None:
    with pytest.raises(PitrError, match=expected):
        pitr_leader.minion_answer("stg-db-1", done)


@dataclass(frozen=True)
class RecordingBarman(Barman):
    """barman-cloud programs recorded, not run."""

    calls: list[list[str]] = field(default_factory=list)

    def run(self, tool: str, *args: str, extra_env: dict[str, str] | None = None) -> str:
        self.calls.append([tool, *args])
        return ""


def barman() -> RecordingBarman:
    return RecordingBarman(SETTINGS)


def test_the_same_leader_on_the_same_timeline_keeps_the_backup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = pitr_leader.leader_of("main", CLUSTER, [member("db-a", "leader")])
    monkeypatch.setattr(pitr_leader, "find_leader", lambda name, cluster: before)
    recording = barman()
    pitr_leader.check_still_leader(before, CLUSTER, recording, "b1")
    assert recording.calls == []


@pytest.mark.parametrize(
    "after", [[member("db-b", "leader", timeline=6)], [member("db-a", "leader", timeline=6)], []]
)
def test_a_changed_leader_or_timeline_deletes_the_backup(
    monkeypatch: pytest.MonkeyPatch, after: list[Member]
) -> None:
    before = pitr_leader.leader_of("main", CLUSTER, [member("db-a", "leader")])
    monkeypatch.setattr(
        pitr_leader,
        "find_leader",
        lambda name, cluster: pitr_leader.leader_of(name, cluster, after),
    )
    recording = barman()
    with pytest.raises(PitrError, match=r"leader changed during the base backup.*b1 deleted"):
        pitr_leader.check_still_leader(before, CLUSTER, recording, "b1")
    assert recording.calls == [["barman-cloud-backup-delete", "--backup-id", "b1"]]
