"""Base backups on the Patroni leader's host: the Salt execution module `fluxora.base_backup`
against a real PostgreSQL archiving to the moto server (barman-cloud-backup reads the data
directory, so it runs on the database host), and `postgres.base_backup` dispatching it to the
leader's minion, checking the bucket and the leader afterwards.

Patroni's answer comes from a small HTTP server (what GET /cluster says is the test's to set);
`salt MINION fluxora.base_backup` is a stand-in that runs the real module on this host, which
plays the minion. The one real-Salt test sends it to a minion the master does not have."""

from __future__ import annotations

import http.server
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from salt.exceptions import CommandExecutionError

from orchestrator.app.families import builtin_registry
from orchestrator.core.actions import ActionContext
from orchestrator.core.results import Result
from orchestrator.families.backup import pitr as barman_pitr
from tests.harness import pitr, postgres
from tests.harness.backup import context_for, load
from tests.harness.processes import ServerProcess
from tests.harness.salt import SALT_DIR, load_module
from tests.integration.test_pitr import pitr_config

pytestmark = pytest.mark.integration
REGISTRY = builtin_registry()
REPO = Path(__file__).resolve().parents[2]

# `salt [opts] MINION fluxora.base_backup name=NAME` as the master answers it (JSON, --static),
# the module run here as minion MINION. After the backup, a prepared failover.json (Patroni's
# next answer) replaces members.json: a failover while the backup ran.
SALT_STAND_IN = """
import json, shutil, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from salt.exceptions import CommandExecutionError
from tests.harness.salt import SALT_DIR, load_module
args = sys.argv[1:]
at = args.index("fluxora.base_backup")
minion = args[at - 1]
kwargs = dict(arg.split("=", 1) for arg in args[at + 1:])
module = load_module(SALT_DIR / "_modules" / "fluxora.py", "fluxora_salt_module")
module.__pillar__ = {{"fluxora": {{"walarchive": {{"config": {config!r}}}}}}}
module.__opts__ = {{"id": minion}}
try:
    answer = module.base_backup(**kwargs)
except CommandExecutionError as exc:
    answer = f"ERROR: {{exc}}"
root = Path({root!r})
if (root / "failover.json").exists():
    shutil.copy(root / "failover.json", root / "members.json")
print(json.dumps({{minion: answer}}))
"""


def salt_module(config: Path, minion: str = "stg-db-1") -> Any:
    """salt/_modules/fluxora.py with the dunders Salt's loader gives it on `minion`."""
    module = load_module(SALT_DIR / "_modules" / "fluxora.py", "fluxora_salt_module")
    module.__pillar__ = {"fluxora": {"walarchive": {"config": str(config)}}}
    module.__opts__ = {"id": minion}
    return module


@dataclass
class Leader:
    lab: pitr.ArchiveLab
    cluster: postgres.PgCluster
    moto_url: str

    @property
    def barman(self) -> barman_pitr.Barman:
        return barman_pitr.Barman(barman_pitr.PitrConfig(**pitr_config(self.lab, self.moto_url)))

    def names(self) -> list[str | None]:
        return [b.name for b in barman_pitr.list_base_backups(self.barman)]


@pytest.fixture(scope="module")
def leader(run_id: str, moto_server: ServerProcess) -> Iterator[Leader]:
    """An archiving primary and its WAL archive config as fluxora.walarchive writes it on the
    host (server name, destinations, credentials, the local socket and port)."""
    lab, cluster = pitr.archiving_source(run_id, moto_server.url, "leader")
    lab.options.update(pg_host=postgres.SOCKET_DIR, pg_port=cluster.port)
    lab.write()
    try:
        pitr.wait_archived(cluster, pitr.switch_wal(cluster))  # the archive (and bucket) exists
        yield Leader(lab, cluster, moto_server.url)
    finally:
        cluster.drop()
        shutil.rmtree(lab.root, ignore_errors=True)


# --- the execution module on the database host ----------------------------------------------------


def test_the_module_backs_up_the_local_primary_into_the_archive(leader: Leader) -> None:
    answer = salt_module(leader.lab.config_path).base_backup("base-module")

    listed = {b.backup_id: b.name for b in barman_pitr.list_base_backups(leader.barman)}
    assert listed.get(answer["backup_id"]) == "base-module", listed
    assert answer["server_name"] == leader.lab.server_name
    assert answer["minion"] == "stg-db-1"
    assert answer["timeline"] >= 1
    assert "testing" not in json.dumps(answer)  # no credential in what salt returns


def test_the_module_refuses_a_replica(run_id: str, leader: Leader) -> None:
    name = f"{postgres.cluster_prefix(run_id)}_leader_replica"
    replica = postgres.create_replica(name, leader.cluster, "leader_replica")
    config = leader.lab.root / "replica.json"
    config.write_text(json.dumps({**leader.lab.config(), "pg_port": replica.port}))
    before = leader.names()
    try:
        with pytest.raises(CommandExecutionError, match=r"replica \(in recovery\).*Patroni leader"):
            salt_module(config, "stg-db-2").base_backup("base-on-replica")
    finally:
        replica.drop()
        leader.cluster.psql("SELECT pg_drop_replication_slot('leader_replica')")
    assert leader.names() == before


def test_the_module_names_a_missing_archive_config(tmp_path: Path) -> None:
    expected = r"'stg-db-1': no WAL archive config at .*gone"
    with pytest.raises(CommandExecutionError, match=expected):
        salt_module(tmp_path / "gone.json").base_backup("base-nowhere")


# --- postgres.base_backup: the leader, the dispatch, the checks -----------------------------------


class _Patroni(http.server.BaseHTTPRequestHandler):
    members_file: Path

    def do_GET(self) -> None:
        body = self.members_file.read_bytes() if self.path == "/cluster" else b"{}"
        self.send_response(200 if self.path == "/cluster" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def members(leader: str, timeline: int) -> dict[str, Any]:
    other = "db-b" if leader == "db-a" else "db-a"
    return {"members": [
        {"name": leader, "role": "leader", "state": "running", "timeline": timeline},
        {"name": other, "role": "sync_standby", "state": "streaming", "timeline": timeline},
    ]}  # fmt: skip


@dataclass
class Orchestrator:
    root: Path
    document: dict[str, Any]

    def ctx(self, **kwargs: Any) -> ActionContext:
        path = self.root / "config.yaml"
        path.write_text(yaml.safe_dump(self.document))
        return context_for(load(path), **kwargs)

    def dispatch_with(self, salt_command: list[str], minion: str) -> None:
        """The real salt CLI (`salt_command`) and a leader db-a on `minion`."""
        self.document["backup"]["pitr"]["dev"]["salt_command"] = salt_command
        self.document["postgres_clusters"]["dev"]["main"]["nodes"]["db-a"]["minion"] = minion

    def patroni_says(self, answer: dict[str, Any], after_backup: dict[str, Any] | None) -> None:
        (self.root / "members.json").write_text(json.dumps(answer))
        (self.root / "failover.json").unlink(missing_ok=True)
        if after_backup is not None:
            (self.root / "failover.json").write_text(json.dumps(after_backup))


@pytest.fixture
def orchestrator(leader: Leader, tmp_path: Path) -> Iterator[Orchestrator]:
    """A config whose dev cluster `main` is run by (the fake) Patroni, both nodes on minions,
    and whose backup.pitr.dev backs up its leader."""
    _Patroni.members_file = tmp_path / "members.json"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Patroni)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    stand_in = tmp_path / "salt"
    stand_in.write_text(
        SALT_STAND_IN.format(repo=str(REPO), config=str(leader.lab.config_path), root=str(tmp_path))
    )
    node = {"host": postgres.SOCKET_DIR, "port": leader.cluster.port, "patroni_url": url}
    document = {
        "data_dir": str(tmp_path / "data"),
        "databases": {"dev": {"app": {"host": postgres.SOCKET_DIR, "port": leader.cluster.port,
                                      "dbname": "postgres"}}},
        "backup": {"pitr": {"dev": pitr_config(
            leader.lab, leader.moto_url, cluster="main",
            salt_command=[sys.executable, str(stand_in)])}},
        "postgres_clusters": {"dev": {"main": {
            "home": "db-a",
            "nodes": {"db-a": {**node, "minion": "stg-db-1"},
                      "db-b": {**node, "minion": "stg-db-2"}},
            "endpoint": {"kind": "service_file", "path": str(tmp_path / "pg_service.conf"),
                         "service": "fluxora-main"},
            "patroni": {"synchronous": True},
        }}},
    }  # fmt: skip
    try:
        yield Orchestrator(tmp_path, document)
    finally:
        server.shutdown()
        server.server_close()


def base_backup(ctx: ActionContext) -> Result:
    action = REGISTRY.get("postgres.base_backup")
    return action(ctx, action.parse({}))


def test_the_backup_runs_on_the_leaders_minion_and_is_checked_in_the_bucket(
    leader: Leader, orchestrator: Orchestrator
) -> None:
    orchestrator.patroni_says(members("db-a", 3), after_backup=None)

    done = base_backup(orchestrator.ctx())

    assert done.ok, done.error
    assert (done.data["leader"], done.data["minion"], done.data["timeline"]) == (
        "db-a",
        "stg-db-1",
        3,
    )
    listed = {b.backup_id for b in barman_pitr.list_base_backups(leader.barman)}
    assert done.data["backup_id"] in listed


def test_the_dry_run_names_the_leader_and_dispatches_nothing(
    leader: Leader, orchestrator: Orchestrator
) -> None:
    orchestrator.patroni_says(members("db-b", 4), after_backup=None)
    before = leader.names()

    done = base_backup(orchestrator.ctx(dry_run=True))

    assert done.ok, done.error
    assert "db-b of cluster main (timeline 4, on minion stg-db-2)" in done.data["plan"]["on"]
    assert leader.names() == before


def test_a_failover_during_the_backup_discards_it(
    leader: Leader, orchestrator: Orchestrator
) -> None:
    orchestrator.patroni_says(members("db-a", 3), after_backup=members("db-b", 4))
    before = leader.names()

    done = base_backup(orchestrator.ctx())

    assert not done.ok
    assert "leader changed during the base backup" in (done.error or "")
    assert "db-b of cluster main (timeline 4" in (done.error or "")
    assert leader.names() == before  # the backup taken on the demoted node is not listed


def test_no_leader_fails_naming_the_cluster(leader: Leader, orchestrator: Orchestrator) -> None:
    answer = members("db-a", 3)
    answer["members"][0].update(role="replica", state="stopped")
    orchestrator.patroni_says(answer, after_backup=None)
    before = leader.names()

    done = base_backup(orchestrator.ctx())

    assert not done.ok
    assert "cluster main has no Patroni leader" in (done.error or ""), done.error
    assert leader.names() == before


# --- through the real Salt master -----------------------------------------------------------------


def refused_through_salt(
    leader: Leader, orchestrator: Orchestrator, salt_master: Any, minion: str
) -> str:
    """postgres.base_backup with db-a leading on `minion`, through the session's master: its
    error (it must fail, and store no backup)."""
    salt = [str(Path(sys.executable).parent / "salt"), "-c", str(salt_master.config_dir)]
    orchestrator.patroni_says(members("db-a", 3), after_backup=None)
    orchestrator.dispatch_with(salt, minion)
    before = leader.names()

    done = base_backup(orchestrator.ctx())

    assert not done.ok
    assert leader.names() == before
    return done.error or ""


def test_a_minion_the_master_does_not_know_fails_naming_it(
    leader: Leader, orchestrator: Orchestrator, salt_master: Any
) -> None:
    error = refused_through_salt(leader, orchestrator, salt_master, "stg-db-gone")
    assert "minion stg-db-gone gave no base backup (salt exit" in error, error


def test_a_minion_whose_module_refuses_fails_with_its_reason(
    leader: Leader, orchestrator: Orchestrator, salt_master: Any, salt_minion: Any
) -> None:
    """dev-1 (a real minion of the session's master) is no database host: the module, synced
    from salt/_modules, finds no WAL archive config there, and says so through salt."""
    synced = salt_master.salt_cli().run("saltutil.sync_modules", minion_tgt="dev-1")
    assert synced.returncode == 0, synced.stderr

    error = refused_through_salt(leader, orchestrator, salt_master, "dev-1")

    assert "minion dev-1: " in error, error
    assert "no WAL archive config at /etc/fluxora/wal-archive.json" in error, error
