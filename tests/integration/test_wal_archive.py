"""fluxora-wal-archive as a real PostgreSQL cluster's archive_command, archiving with
barman-cloud to the moto server: both destinations get every segment; an unreachable one costs
the archiver nothing (the segment waits in the spool, the failure is counted) and catches up;
a segment that can be neither archived nor spooled stays with PostgreSQL; a shutdown never
waits on the object store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import pitr, postgres
from tests.harness.processes import ServerProcess, free_port, wait_until

pytestmark = pytest.mark.integration

PRIMARY = 'destination="primary"'
DR = 'destination="dr"'


@pytest.fixture(scope="module")
def archiving(
    run_id: str, moto_server: ServerProcess
) -> Iterator[tuple[pitr.ArchiveLab, postgres.PgCluster]]:
    pitr.require_barman()
    name = f"{postgres.cluster_prefix(run_id)}_walarchive"
    lab = pitr.make_lab(Path("/tmp") / name, moto_server.url, name)
    cluster = pitr.create_archiving_cluster(name, lab)
    try:
        yield lab, cluster
    finally:
        cluster.drop()
        shutil.rmtree(lab.root, ignore_errors=True)


@pytest.fixture
def lab(archiving: tuple[pitr.ArchiveLab, postgres.PgCluster]) -> Iterator[pitr.ArchiveLab]:
    """The lab with both destinations reachable again after each test."""
    lab = archiving[0]
    yield lab
    lab.dr_endpoint, lab.options = lab.endpoint, {}
    lab.write()
    lab.flush()


@pytest.fixture
def cluster(archiving: tuple[pitr.ArchiveLab, postgres.PgCluster]) -> postgres.PgCluster:
    return archiving[1]


def test_every_segment_reaches_both_buckets(
    lab: pitr.ArchiveLab, cluster: postgres.PgCluster
) -> None:
    segment = pitr.switch_wal(cluster)
    pitr.wait_archived(cluster, segment)

    assert segment in lab.wal_keys()
    assert segment in lab.wal_keys(dr=True)
    metrics = lab.metrics()
    assert metrics[f"fluxora_wal_archive_last_success_timestamp_seconds{{{PRIMARY}}}"] > 0
    assert metrics[f"fluxora_wal_archive_last_success_timestamp_seconds{{{DR}}}"] > 0
    assert metrics[f"fluxora_wal_archive_spooled_segments{{{DR}}}"] == 0
    assert not (cluster.data_dir / "pg_wal/archive_status" / f"{segment}.ready").exists()


def test_unreachable_dr_region_spools_counts_and_catches_up(
    lab: pitr.ArchiveLab, cluster: postgres.PgCluster
) -> None:
    failures_before = lab.metrics().get(f"fluxora_wal_archive_failures_total{{{DR}}}", 0)
    pg_failures_before = pitr.failed_count(cluster)
    lab.dr_endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    lab.options = {"max_attempts": 1}
    lab.write()

    segments = [pitr.switch_wal(cluster), pitr.switch_wal(cluster)]
    pitr.wait_archived(cluster, segments[-1])

    assert pitr.failed_count(cluster) == pg_failures_before  # PostgreSQL never saw a failure
    assert set(segments) <= set(lab.wal_keys())
    assert not set(segments) & set(lab.wal_keys(dr=True))
    assert lab.spooled("dr") == segments
    metrics = lab.metrics()
    assert metrics[f"fluxora_wal_archive_failures_total{{{DR}}}"] > failures_before
    assert metrics[f"fluxora_wal_archive_spooled_segments{{{DR}}}"] == 2
    assert metrics[f"fluxora_wal_archive_spooled_bytes{{{DR}}}"] == 2 * 16 * 1024 * 1024

    lab.dr_endpoint = lab.endpoint  # the region is back
    lab.write()
    flushed = lab.flush()

    assert flushed.returncode == 0, flushed.stderr
    assert set(segments) <= set(lab.wal_keys(dr=True))
    assert lab.spooled("dr") == []
    assert lab.metrics()[f"fluxora_wal_archive_spooled_segments{{{DR}}}"] == 0


def test_segment_neither_archived_nor_spooled_stays_with_postgresql(
    lab: pitr.ArchiveLab, cluster: postgres.PgCluster
) -> None:
    pg_failures_before = pitr.failed_count(cluster)
    lab.dr_endpoint = f"http://127.0.0.1:{free_port()}"
    lab.options = {"max_attempts": 1, "max_spool_bytes": 1024}  # less than one segment
    lab.write()

    segment = pitr.switch_wal(cluster)
    wait_until(lambda: pitr.failed_count(cluster) > pg_failures_before, 60, "archive failure")

    assert (cluster.data_dir / "pg_wal" / segment).exists()
    assert (cluster.data_dir / "pg_wal/archive_status" / f"{segment}.ready").exists()
    assert pitr.archived_wal(cluster) < segment

    lab.dr_endpoint, lab.options = lab.endpoint, {}
    lab.write()
    later = pitr.switch_wal(cluster)  # wakes the archiver, which waits a minute after failures
    pitr.wait_archived(cluster, later)
    assert {segment, later} <= set(lab.wal_keys(dr=True))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"server_name": "x", "spool_dir": "/tmp", "metrics_file": "/tmp/m"},
         "key 'destinations' is required"),
        ({"server_name": "x", "spool_dir": "/tmp", "metrics_file": "/tmp/m",
          "destinations": [{"name": "primary"}]},
         "destinations[0]: key 'url' is required"),
        ({"server_name": "x", "spool_dir": "/tmp", "metrics_file": "/tmp/m", "destinations": []},
         "destinations: at least one is required"),
    ],
)  # fmt: skip
def test_bad_config_is_refused_naming_the_key(
    tmp_path: Path, config: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    wal = tmp_path / "000000010000000000000001"
    wal.write_bytes(b"\0")

    result = pitr.run_wal_archive(["--config", str(path), str(wal)])

    assert result.returncode == 2
    assert f"{path}: {message}" in result.stderr


def test_the_switch_service_closes_segments_while_the_server_writes(
    lab: pitr.ArchiveLab, cluster: postgres.PgCluster
) -> None:
    before = pitr.archived_wal(cluster)
    lab.options = {"switch_every_seconds": 1, "pg_port": cluster.port}
    lab.write()
    switcher = pitr.start_switcher(lab)
    try:
        cluster.psql(
            "CREATE TABLE IF NOT EXISTS pitr_switch (at timestamptz);"
            "INSERT INTO pitr_switch VALUES (now())"
        )  # a write, no explicit switch
        wait_until(lambda: pitr.archived_wal(cluster) > before, 60, "a segment closed by --switch")
    finally:
        switcher.terminate()
        switcher.wait(timeout=10)
    assert switcher.returncode is not None


def test_fast_shutdown_spools_its_backlog_instead_of_waiting_on_a_hung_store(
    lab: pitr.ArchiveLab, cluster: postgres.PgCluster
) -> None:
    """A fast shutdown waits for the archiver's backlog (Patroni's switchover demote waits for
    the shutdown): with the DR store hanging (it takes connections and never answers) and
    120 s per upload allowed, the shutdown still ends in seconds; every segment of the backlog
    waits in the DR spool, and reaches the bucket once the store is back."""
    hung = socket.create_server(("127.0.0.1", free_port()), backlog=64)  # never accept()s
    try:
        lab.dr_endpoint = f"http://127.0.0.1:{hung.getsockname()[1]}"
        lab.options = {"timeout_seconds": 120}
        lab.write()
        backlog = [pitr.switch_wal(cluster) for _ in range(3)]
        wait_until(lambda: _archiving(cluster), 60, "the archiver to start an upload")

        started = time.monotonic()
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGINT)  # fast shutdown, as Patroni's demote asks
        wait_until(lambda: not (cluster.data_dir / "postmaster.pid").exists(), 300, "shutdown")
        seconds = time.monotonic() - started
    finally:
        hung.close()
    print(f"\nfast shutdown with a hung DR store and {len(backlog)} segments: {seconds:.1f} s")

    assert seconds < 60, seconds  # each upload alone may take 120 s
    assert set(backlog) <= set(lab.spooled("dr"))
    assert set(backlog) <= set(lab.spooled("primary")) | set(lab.wal_keys())

    cluster.ctl("start")
    lab.dr_endpoint, lab.options = lab.endpoint, {}
    lab.write()
    flushed = lab.flush()
    assert flushed.returncode == 0, flushed.stderr
    assert set(backlog) <= set(lab.wal_keys(dr=True))
    assert lab.spooled("dr") == []


def _archiving(cluster: postgres.PgCluster) -> bool:
    """PostgreSQL's archiver is running its archive_command now (its process title)."""
    postmaster = (cluster.data_dir / "postmaster.pid").read_text().split()[0]
    titles = subprocess.run(
        ["ps", "--ppid", postmaster, "-o", "args="], capture_output=True, text=True, check=False
    ).stdout
    return "archiver archiving" in titles
