"""The dev environment as the tests apply it on this shared machine.

Every name, port and path that could collide with the machine's own services or another test
run is overridden (salt/pillar/fluxora/local.sls, a dev machine's git-ignored overrides):
PostgreSQL clusters are `fxt_<run>_<pid>_salt_*` (so scripts/leak-check and the orphan sweep
know them), services are `fxt-<run>-<pid>-*`, files live under /var/tmp/fxt_<run>_<pid>_salt.
`teardown` removes all of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.postgres import PgCluster, pg_version
from tests.harness.processes import free_port

REPO = Path(__file__).resolve().parents[2]
_ORPHAN_SERVICE = re.compile(r"^fxt-([0-9a-z]+)-(\d+)-")


@dataclass(frozen=True)
class DevEnvironment:
    run_id: str
    base: Path
    ports: dict[str, int]

    @classmethod
    def create(cls, run_id: str) -> DevEnvironment:
        names = [
            "primary",
            "replica",
            "primary_rest",
            "replica_rest",
            "etcd_client",
            "etcd_peer",
            "redis",
            "prometheus",
            "alertmanager",
            "node",
            "pgexp",
            "orch",
        ]
        base = Path(f"/var/tmp/fxt_{run_id}_{os.getpid()}_salt")
        return cls(run_id, base, {name: free_port() for name in names})

    @property
    def prefix(self) -> str:
        return f"fxt_{self.run_id}_{os.getpid()}_salt"

    def service(self, name: str) -> str:
        return f"fxt-{self.run_id}-{os.getpid()}-{name}"

    @property
    def services(self) -> list[str]:
        names = ["orch", "prometheus", "alertmanager", "node-exporter", "pg-exporter", "redis",
                 "patroni-replica", "patroni-primary", "etcd"]  # fmt: skip
        return [self.service(name) for name in names]

    def listen(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    @property
    def clusters(self) -> list[PgCluster]:
        version = pg_version()
        return [
            PgCluster(version, f"{self.prefix}_primary", self.ports["primary"]),
            PgCluster(version, f"{self.prefix}_replica", self.ports["replica"]),
        ]

    def overrides(self) -> dict[str, Any]:
        """Pillar `fluxora:` overrides for this run (written as fluxora/local.sls)."""
        base = str(self.base)
        primary, replica = self.clusters
        return {
            "common": {
                "sysctl": {"config": f"{base}/etc/sysctl.d/60-fluxora.conf"},
                "ssh": {"config": f"{base}/etc/ssh/sshd_config.d/60-fluxora.conf"},
            },
            "postgres": {
                "primary": {
                    "cluster": primary.name,
                    "port": primary.port,
                    "rest_port": self.ports["primary_rest"],
                    "service": self.service("patroni-primary"),
                },
                "replica": {
                    "cluster": replica.name,
                    "port": replica.port,
                    "rest_port": self.ports["replica_rest"],
                    "service": self.service("patroni-replica"),
                },
                "patroni": {"scope": self.prefix},
            },
            "etcd": {
                "service": self.service("etcd"),
                "client_port": self.ports["etcd_client"],
                "peer_port": self.ports["etcd_peer"],
                "data_dir": f"{base}/etcd",
                "log_dir": f"{base}/log/etcd",
            },
            "redis": {
                "port": self.ports["redis"],
                "service": self.service("redis"),
                "config": f"{base}/redis/redis.conf",
                "data_dir": f"{base}/redis/data",
                "log": f"{base}/log/redis.log",
            },
            "monitoring": {
                "config_dir": f"{base}/prometheus",
                "data_dir": f"{base}/prometheus-data",
                "log_dir": f"{base}/log/prometheus",
                "prometheus": {
                    "service": self.service("prometheus"),
                    "listen": self.listen("prometheus"),
                },
                "alertmanager": {
                    "service": self.service("alertmanager"),
                    "listen": self.listen("alertmanager"),
                    "orchestrator_url": f"http://{self.listen('orch')}/alertmanager",
                },
                "grafana": {
                    "enabled": True,
                    "dashboards_dir": f"{base}/grafana/dashboards",
                    "provisioning_dir": f"{base}/grafana/provisioning",
                },
                "node_exporter": {
                    "service": self.service("node-exporter"),
                    "listen": self.listen("node"),
                },
                "postgres_exporter": {
                    "service": self.service("pg-exporter"),
                    "listen": self.listen("pgexp"),
                },
                "targets": {
                    "fluxora-orchestrator": [self.listen("orch")],
                    "node": [self.listen("node")],
                    "postgres": [self.listen("pgexp")],
                    "alertmanager": [self.listen("alertmanager")],
                },
            },
            "orchestrator": {
                # The checkout's venv already holds fluxora-infra at the pinned version (its
                # editable install): the state checks the wheelhouse's wheel and installs nothing.
                # Its interpreter lives under /root (pyenv, mode 0700), so here the daemon runs
                # as root; hosts run it as `fluxora` from a venv made with /usr/bin/python3.
                "venv": str(Path(sys.executable).parent.parent),
                "wheelhouse": f"{base}/dist",
                "user": "root",
                "config_file": f"{base}/etc/fluxora/orchestrator.yml",
                "service": self.service("orch"),
                "log": f"{base}/log/fluxora/orchestrator.log",
                "config": {
                    "data_dir": f"{base}/orchestrator",
                    "http": {"listen": self.listen("orch")},
                },
            },
        }

    def teardown(self) -> None:
        """Stop and remove every service, cluster and file this run's dev apply created."""
        # Stopping takes ~2 s each (start-stop-daemon polls until the process is gone): together.
        with ThreadPoolExecutor(max_workers=len(self.services)) as pool:
            list(pool.map(_remove_service, self.services))
        for cluster in self.clusters:  # Patroni's: no pg_createcluster entry to drop
            shutil.rmtree(cluster.data_dir, ignore_errors=True)
            Path(f"/etc/patroni/{cluster.name}.yml").unlink(missing_ok=True)
            Path(f"/var/lib/postgresql/.pgpass_patroni_{cluster.name}").unlink(missing_ok=True)
        for name in ("patroni-primary", "patroni-replica"):
            Path(f"/var/log/postgresql/{self.service(name)}.log").unlink(missing_ok=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _remove_service(name: str) -> None:
    script = Path("/etc/init.d") / name
    if script.exists():
        subprocess.run([str(script), "stop"], capture_output=True, check=False)
        subprocess.run(["update-rc.d", "-f", name, "remove"], capture_output=True, check=False)
        script.unlink()
    Path(f"/run/{name}.pid").unlink(missing_ok=True)


def sweep_orphans() -> list[str]:
    """Remove the services and files of dev applies whose pytest process is gone (a killed
    run); their clusters are dropped by tests.harness.postgres.sweep_orphans."""
    swept = []
    for script in sorted(Path("/etc/init.d").glob("fxt-*")):
        match = _ORPHAN_SERVICE.match(script.name)
        if match and not Path(f"/proc/{match.group(2)}").exists():
            _remove_service(script.name)
            base = Path(f"/var/tmp/fxt_{match.group(1)}_{match.group(2)}_salt")
            shutil.rmtree(base, ignore_errors=True)
            for data in Path("/var/lib/postgresql").glob(f"*/{base.name}_*"):  # Patroni's
                shutil.rmtree(data, ignore_errors=True)
            swept.append(script.name)
    return swept
