"""No secret anywhere it should not be (issue 16), after a full staging lab run.

Every secret value of staging's test pillar (tests/harness/pillar.py generates them; the raw
value and the forms that would leak it, tests/harness/secretscan.py) is looked for in:
- every log of the run: each host's /var/log and any other log file under its directories
  (daemon, PostgreSQL, Patroni, etcd, Redis, Prometheus, app), the salt-master's and each
  salt-minion's log, moto's;
- what Salt keeps and prints of the run: orch.deploy's output and the master's job cache;
- the orchestrator's store (every row) and its HTTP answers: /metrics, every job's journal
  (/api/jobs/ID) and every event (/api/events/ID);
- each host's own /etc, /opt, /srv and /var and its salt-minion's cache: only the secrets of the
  host's roles may be there (ROLE_SECRETS, the per-role secret map the pillar's secret files
  follow).

"After a full lab run": after orch.deploy and the drills. test_drills.py comes before this
module in tests/lab (pytest runs a directory's modules in name order) and runs them; when this
module runs without it, `staging_after_drills` runs the drills' schedules itself.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.lab import Lab
from tests.harness.pillar import SecretPillar, role_secret_keys
from tests.harness.processes import wait_until
from tests.harness.secretscan import Finding, Scanned, SecretScanner, key_name, report
from tests.lab.conftest import Deployed
from tests.lab.test_drills import API_PORT, OPS, api, assert_completed, run_schedule

# Run alone, this module's first test sets up the lab, orch.deploy from nothing and the drills
# (~20 min on 2 busy cores); within tests/lab the modules before it have done all of that.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

ENV = "staging"
# (schedule, the runbook its job runs): the drills of test_drills.py.
DRILLS = (
    ("backup-fluxora-logical", "backup"),
    ("restore-verify-fluxora-logical", "restore-verify"),
)
# A host's own trees that may hold only its roles' secrets (HOST_DIRS are all under these).
HOST_TREES = ("etc", "opt", "srv", "var")
STORE = "var/lib/fluxora/orchestrator"


@dataclass
class Scan:
    lab: Lab
    scanner: SecretScanner
    deployed: Deployed
    # What each test read: {part: files/bodies, bytes}, printed in the run's output.
    tally: dict[str, Scanned]

    def allowed(self, host: str) -> frozenset[str]:
        roles = self.lab.hosts[host].roles
        return frozenset(key_name(key) for role in roles for key in role_secret_keys(ENV, role))

    def part(self, name: str) -> Scanned:
        return self.tally.setdefault(name, Scanned())


def api_answers(lab: Lab) -> bool:
    try:
        api(lab, "jobs?limit=1")
    except OSError:  # not listening yet (URLError is an OSError)
        return False
    return True


@pytest.fixture(scope="module")
def staging_after_drills(staging_deployed: Deployed) -> Deployed:
    """staging once its drills have completed: those test_drills.py ran in this session, else
    run here (this module run on its own)."""
    lab = staging_deployed.lab
    assert staging_deployed.first.returncode == 0, staging_deployed.first.stdout[-3000:]
    wait_until(lambda: api_answers(lab), 120, f"the daemon's API on {OPS}")
    for schedule, runbook in DRILLS:
        if not api(lab, f"jobs?runbook={runbook}&status=completed&limit=1"):
            assert_completed(run_schedule(lab, schedule, timeout=600))
    return staging_deployed


@pytest.fixture(scope="module")
def scan(staging_after_drills: Deployed, test_pillar: SecretPillar) -> Iterator[Scan]:
    started = time.monotonic()
    secrets = test_pillar.values[ENV]
    keys = sorted(map(key_name, secrets))  # never the values: an assertion prints its operands
    assert len(keys) == 7, keys  # the six secrets of the roles, the webhook's
    result = Scan(staging_after_drills.lab, SecretScanner(secrets), staging_after_drills, {})
    yield result
    shown = ", ".join(f"{k} {v.files} files {v.bytes} bytes" for k, v in result.tally.items())
    print(f"\nsecret scan of staging ({len(secrets)} secrets): {shown}")
    print(f"secret scan took {time.monotonic() - started:.1f} s (tests included)")


def is_log(path: Path, root: Path) -> bool:
    """A log file: under /var/log, named *.log, or in a directory named log (PostgreSQL's)."""
    relative = path.relative_to(root)
    return (
        relative.parts[:2] == ("var", "log")
        or ".log" in path.suffixes
        or any(part in ("log", "pg_log", "logs") for part in relative.parts[:-1])
    )


def test_no_secret_in_any_log_of_the_run(scan: Scan) -> None:
    tally = scan.part("logs")
    found: list[Finding] = []
    for name, host in scan.lab.hosts.items():
        found += scan.scanner.scan_tree(
            host.root, f"{name}:", tally=tally, include=lambda p, r=host.root: is_log(p, r)
        )
    daemons = {"salt-master": scan.lab.master, **scan.lab.minions}
    for name, daemon in daemons.items():
        log = Path(daemon.config["log_file"])
        found += scan.scanner.scan_file(log, f"{name} log {log}", tally=tally)
    found += scan.scanner.scan_file(scan.lab.workdir / "moto.log", "moto.log", tally=tally)
    assert tally.files > len(scan.lab.hosts), tally  # the scan did read the hosts' logs
    assert not found, report(found)


def test_no_secret_in_what_salt_keeps_and_prints_of_the_deploy(scan: Scan) -> None:
    tally = scan.part("salt returns")
    output = scan.deployed.first.stdout.encode()
    tally.files += 1
    tally.bytes += len(output)
    found = scan.scanner.scan_bytes(output, "orch.deploy's salt-run output")
    jobs = Path(scan.lab.master.config["cachedir"]) / "jobs"
    found += scan.scanner.scan_tree(jobs, "salt-master job cache", tally=tally)
    assert tally.files > 1, tally
    assert not found, report(found)


def test_no_secret_in_the_orchestrators_store(scan: Scan) -> None:
    tally = scan.part("store")
    store = scan.lab.hosts[OPS].root / STORE
    databases = sorted(store.glob("*.sqlite"))
    assert databases, f"no SQLite store under {store}"
    found: list[Finding] = []
    for path in databases:
        where = f"{OPS}:/{STORE}/{path.name}"
        found += scan.scanner.scan_sqlite(path, where, tally=tally)
    # The files themselves too: freed pages and the WAL keep what the rows no longer show.
    found += scan.scanner.scan_tree(store, f"{OPS}:/{STORE}", tally=tally)
    assert not found, report(found)


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # nosec B310: http lab address
        body: bytes = response.read()
        return body


def test_no_secret_in_the_daemons_metrics_journals_and_events(scan: Scan) -> None:
    tally = scan.part("http")
    base = f"http://{scan.lab.hosts[OPS].lab_address}:{API_PORT}"
    jobs = api(scan.lab, "jobs?limit=1000")
    events = api(scan.lab, "events?limit=1000")
    assert {job["runbook"] for job in jobs} >= {runbook for _, runbook in DRILLS}, jobs
    paths = [
        "/metrics",
        "/api/jobs?limit=1000",
        "/api/events?limit=1000",
        *(f"/api/jobs/{job['id']}" for job in jobs),
        *(f"/api/events/{event['id']}" for event in events),
    ]
    found: list[Finding] = []
    for path in paths:
        body = http_get(base + path)
        tally.files += 1
        tally.bytes += len(body)
        found += scan.scanner.scan_bytes(body, path)
    assert not found, report(found)


def test_a_host_holds_only_the_secrets_of_its_own_roles(scan: Scan) -> None:
    tally = scan.part("host trees")
    found: list[Finding] = []
    for name, host in scan.lab.hosts.items():
        allowed = scan.allowed(name)
        for tree in HOST_TREES:
            root = host.root / tree
            if root.is_dir():
                found += scan.scanner.scan_tree(root, f"{name}:/{tree}", allowed, tally=tally)
        # What its salt-minion keeps (cached files, job data) lives outside the host's root.
        cache = Path(scan.lab.minions[name].config["cachedir"])
        found += scan.scanner.scan_tree(cache, f"{name} minion cache", allowed, tally=tally)
    assert scan.allowed("stg-cache-1") == {"redis:password", "redis:monitor_password"}
    assert not found, report(found)


def test_the_scan_finds_the_secrets_where_they_belong(scan: Scan) -> None:
    """The other tests' "nothing found" means something: the same scan finds the replication
    password in the primary's Patroni config, which must hold it."""
    config = scan.lab.hosts["stg-db-1"].root / "etc/patroni/main.yml"
    found = scan.scanner.scan_file(config, "stg-db-1:/etc/patroni/main.yml", tally=Scanned())
    assert "postgres:replication:password" in {finding.key for finding in found}, found
