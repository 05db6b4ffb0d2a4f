"""Session-scoped real servers for every test tier.

Each fixture starts a real server (moto, salt-master and minions, PostgreSQL clusters,
Prometheus/Alertmanager), waits until it answers and tears it down at the end even when tests
fail. A server that cannot start fails the run with its log tail; nothing is skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    devenv,
    exporters,
    fluxora,
    monitoring,
    moto,
    patroni,
    postgres,
    prometheus,
    salt,
)
from tests.harness.pillar import SecretPillar, stop_gpg_agent
from tests.harness.processes import ServerProcess
from tests.harness.wheel import build_wheel

# --- run identity and environment -------------------------------------------------------------


@pytest.fixture(scope="session")
def run_id() -> str:
    """The id every process and cluster of this run carries (scripts/leak-check looks for it)."""
    return os.environ.setdefault("FLUXORA_TEST_RUN", secrets.token_hex(4))


@pytest.fixture(scope="session")
def session_env() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


# --- AWS: moto server over HTTP ------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server(
    run_id: str, tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    """A moto server on a free loopback port; AWS_ENDPOINT_URL and dummy keys are exported."""
    server = moto.start_moto(tmp_path_factory.mktemp("moto"))
    for key, value in moto.aws_environment(server.url).items():
        session_env.setenv(key, value)
    yield server
    server.stop()


@pytest.fixture
def aws_reset(moto_server: ServerProcess) -> Iterator[None]:
    """Empty moto before and after the test, so AWS tests don't see each other's resources."""
    _reset_moto(moto_server.url)
    yield
    _reset_moto(moto_server.url)


def _reset_moto(url: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


# --- Salt: a real master and minions -------------------------------------------------------------


@pytest.fixture(scope="session")
def salt_factories_config(moto_server: ServerProcess) -> Iterator[dict[str, Any]]:
    # Our own root_dir: the launcher scripts there hard-code the venv that wrote them. A short
    # one: the daemons' unix sockets live under it and a socket path holds at most 107
    # characters; under pytest's per-worker temp dir the releases master's
    # run/master/master_event_pull.ipc came to 107-108 and the master never started.
    root = Path(tempfile.mkdtemp(prefix="fxs-", dir="/tmp"))
    try:
        yield {
            "root_dir": root,
            "slow_stop": False,
            "environ": dict(os.environ),  # includes the moto variables exported above
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dev_environment_spec(run_id: str) -> devenv.DevEnvironment:
    """Names, ports and paths of this run's dev environment (applied by tests/infra)."""
    devenv.sweep_orphans()
    postgres.sweep_orphans()
    return devenv.DevEnvironment.create(run_id)


@pytest.fixture(scope="session")
def test_pillar(
    tmp_path_factory: pytest.TempPathFactory, dev_environment_spec: devenv.DevEnvironment
) -> Iterator[SecretPillar]:
    """Secrets for every environment encrypted to a throwaway key, and the dev overrides."""
    root = tmp_path_factory.mktemp("pillar")
    pillar = SecretPillar(root / "pillar", root / "pillar-local", root / "gnupg")
    try:
        pillar.write_secrets()
        pillar.write_local(dev_environment_spec.overrides())
        yield pillar
    finally:
        stop_gpg_agent(pillar.gnupghome)


@pytest.fixture(scope="session")
def salt_master(
    salt_factories: Any,
    session_env: pytest.MonkeyPatch,
    test_pillar: SecretPillar,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    dist_root = tmp_path_factory.mktemp("dist-root")
    build_wheel(dist_root / "fluxora-dist")  # what fluxora.orchestrator installs from
    overrides = salt.master_overrides(
        [test_pillar.root, test_pillar.local_root], test_pillar.gnupghome, dist_root
    )
    factory = salt_factories.salt_master_daemon("fluxora-master", overrides=overrides)
    session_env.setenv("SALT_MASTER_CONFIG", str(factory.config_file))  # testinfra salt://
    try:
        with factory.started():
            yield factory
    finally:
        stop_gpg_agent(test_pillar.gnupghome)  # the master's gpg renderer started one


@pytest.fixture(scope="session")
def salt_minions(salt_master: Any) -> Iterator[dict[str, Any]]:
    factories = {
        minion_id: salt_master.salt_minion_daemon(
            minion_id, overrides=salt.minion_overrides(minion_id)
        )
        for minion_id in salt.MINIONS
    }
    with salt.all_started(factories):
        yield factories


@pytest.fixture(scope="session")
def salt_minion(salt_minions: dict[str, Any]) -> Any:
    """The dev environment's all-in-one machine."""
    return salt_minions["dev-1"]


@pytest.fixture(scope="session")
def salt_cli(salt_master: Any) -> Any:
    return salt_master.salt_cli()


@pytest.fixture(scope="session")
def salt_run_cli(salt_master: Any) -> Any:
    return salt_master.salt_run_cli()


# --- PostgreSQL: primary + streaming replica -----------------------------------------------------


@pytest.fixture(scope="session")
def pg_pair_factory(run_id: str) -> Iterator[Callable[[], postgres.PgPair]]:
    """Make fresh primary/replica pairs; all are dropped at the end of the session."""
    postgres.sweep_orphans()
    pairs: list[postgres.PgPair] = []

    def make() -> postgres.PgPair:
        pair = postgres.create_pair(run_id)
        pairs.append(pair)
        return pair

    try:
        yield make
    finally:
        for pair in pairs:
            pair.drop()


@pytest.fixture(scope="session")
def pg_pair(pg_pair_factory: Callable[[], postgres.PgPair]) -> postgres.PgPair:
    """The shared pair. Tests that change its roles (failover) make their own with the factory."""
    return pg_pair_factory()


# --- Patroni: etcd + two nodes ---------------------------------------------------------------


@pytest.fixture(scope="session")
def patroni_cluster(run_id: str) -> Iterator[patroni.PatroniCluster]:
    """etcd and two Patroni nodes (the shipped timings, synchronous mode). Fault tests leave
    it as they found it: a leader and a streaming replica."""
    patroni.sweep_orphans()
    cluster = patroni.start_cluster(run_id)
    try:
        yield cluster
    finally:
        cluster.stop()


# --- Prometheus and Alertmanager -----------------------------------------------------------------


@pytest.fixture
def monitoring_servers(
    tmp_path: Path,
) -> Iterator[dict[str, Callable[[Path], ServerProcess]]]:
    """Starters for Prometheus and Alertmanager; whatever a test starts is stopped after it."""
    started: list[ServerProcess] = []

    def starter(start: Callable[[Path, Path], ServerProcess]) -> Callable[[Path], ServerProcess]:
        def run(config_file: Path) -> ServerProcess:
            server = start(config_file, tmp_path / f"server-{len(started)}")
            started.append(server)
            return server

        return run

    try:
        yield {
            "prometheus": starter(prometheus.start_prometheus),
            "alertmanager": starter(prometheus.start_alertmanager),
        }
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def exporter_servers(tmp_path: Path) -> Iterator[dict[str, Callable[..., ServerProcess]]]:
    """Debian's exporters: `["postgres"](cluster)` and `["node"](textfile_dir=None)`; stopped
    after the test."""
    started: list[ServerProcess] = []

    def postgres_exporter(cluster: postgres.PgCluster) -> ServerProcess:
        started.append(exporters.start_postgres_exporter(cluster, tmp_path / "exporters"))
        return started[-1]

    def node_exporter(textfile_dir: Path | None = None) -> ServerProcess:
        started.append(exporters.start_node_exporter(tmp_path / "exporters", textfile_dir))
        return started[-1]

    try:
        yield {"postgres": postgres_exporter, "node": node_exporter}
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def monitoring_stack(
    monitoring_servers: dict[str, Callable[[Path], ServerProcess]], tmp_path: Path
) -> Callable[..., monitoring.MonitoringStack]:
    """Start the shipped monitoring/ stack: `start(targets={job: [host:port]}, labels={"env": ..},
    orchestrator_url=.., token_file=.., alert_for={alert: "0s"})` (tests/harness/monitoring.py)."""
    stacks: list[monitoring.MonitoringStack] = []

    def start(**options: Any) -> monitoring.MonitoringStack:
        config_dir = tmp_path / f"monitoring-{len(stacks)}"
        stack = monitoring.start_stack(
            monitoring_servers["prometheus"],
            monitoring_servers["alertmanager"],
            config_dir,
            **options,
        )
        stacks.append(stack)
        return stack

    return start


# --- the orchestrator daemon and its PostgreSQL store ---------------------------------------------


@pytest.fixture(scope="session")
def orch_daemon(
    tmp_path_factory: pytest.TempPathFactory, salt_master: Any
) -> Iterator[fluxora.Daemon]:
    """A real `fluxora-orch run` on the fixture rules and runbooks, on the test salt-master's
    event bus, with throwaway webhook and Alertmanager secrets."""
    daemon = fluxora.start_daemon(
        tmp_path_factory.mktemp("orch"),
        salt={"master_config": str(salt_master.config_file)},
        shutdown_grace_seconds=1,
    )
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def pg_store_url(run_id: str) -> Iterator[str]:
    """A uniquely named database on the machine's PostgreSQL (port 5432), dropped at the end."""
    with postgres.scratch_database(f"fxt_{run_id}_{os.getpid()}_store") as url:
        yield url


# --- pytest hooks --------------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Importing salt (the salt-factories plugin does) installs a buffering stderr handler that
    # flushes into pytest's closed streams at exit; hand its records to pytest's handlers now.
    from salt._logging.impl import shutdown_temp_handler

    shutdown_temp_handler()


# --- every test of a tier with real servers says so ----------------------------------------------

SERVER_TIERS = ("integration", "infra", "lab")


def require_integration_marker(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`-m "not integration"` must leave only tests that start nothing: a test under
    tests/integration, tests/infra or tests/lab without the marker is a collection error."""
    unmarked = [
        item.nodeid
        for item in items
        if item.path.relative_to(config.rootpath).parts[1] in SERVER_TIERS
        and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"without pytestmark = pytest.mark.integration: {unmarked}")


# --- two workers (pytest-xdist), each set-up paid once ----------------------------------------

# Tiers whose tests share one expensive session set-up (the staging lab; the dev environment
# applied to this machine) run together on one worker; every other test file is its own unit of
# work. Shared set-ups go first, the longest first, so no long unit starts last.
SHARED_SETUP_TIERS = ("lab", "infra")


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its shared-set-up tier, else its file."""
    path = nodeid.split("::", maxsplit=1)[0]  # tests/<tier>/.../test_x.py
    tier = path.split("/")[1] if path.count("/") >= 2 else ""
    return tier if tier in SHARED_SETUP_TIERS else path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's load-scope scheduling, by `work_unit` (its own `loadgroup` marks nothing under
    pytest 9.2, whose node ids no longer come from the attribute xdist rewrites)."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)


def shared_setups_first(items: list[pytest.Item]) -> None:
    order = {tier: rank for rank, tier in enumerate(SHARED_SETUP_TIERS)}
    items.sort(key=lambda item: order.get(work_unit(item.nodeid), len(order)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    require_integration_marker(config, items)
    shared_setups_first(items)


# --- no skip counts as a pass ---------------------------------------------------------------------

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped; a skip is not a pass: {_skipped[:5]}",
            red=True,
        )
