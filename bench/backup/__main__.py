"""Benchmark: our backup and restore-verify against raw pg_dump -Fc and pg_restore.

Creates a throwaway PostgreSQL cluster, fills it with meter readings (>= 1 GiB), then in the
same run times raw `pg_dump -Fc` to a file, `fluxora-orch backup` to the local store and to S3
(a moto server), raw `pg_restore -j N`, and `fluxora-orch restore-verify`, and prints the
ratios and our peak RSS. Everything it creates is removed at the end.

    .venv/bin/python -m bench.backup [--meters 2000] [--days 64] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml

from bench.backup import dataset
from tests.harness import moto
from tests.harness.orchestrator import fluxora_orch
from tests.harness.postgres import SOCKET_DIR, PgCluster, create_primary
from tests.harness.processes import ServerProcess

MiB = 1 << 20
DBNAME = "meters"


@dataclass
class Run:
    seconds: float
    peak_rss_bytes: int  # of the process (and the largest child it reaped)
    output: str


def measure(argv: list[str], env: dict[str, str] | None = None) -> Run:
    started = time.monotonic()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None
    assert stderr is not None
    output, errors = stdout.read(), stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({process.returncode}): {errors.decode()[-3000:]}")
    return Run(seconds, usage.ru_maxrss * 1024, output.decode())


def generate(cluster: PgCluster, meters: int, days: int) -> int:
    """Fill the database; return its size in bytes."""
    cluster.psql(f"CREATE DATABASE {DBNAME}")
    cluster.psql(dataset.SCHEMA + dataset.METERS.format(meters=meters), dbname=DBNAME)
    start = date(2025, 1, 1)
    months = sorted({(start + timedelta(d)).replace(day=1) for d in range(days)})
    for month in months:
        end = (month + timedelta(days=32)).replace(day=1)
        cluster.psql(
            dataset.PARTITION.format(suffix=f"{month:%Y%m}", start=month, end=end), dbname=DBNAME
        )
    for offset in range(days):
        day = start + timedelta(offset)
        cluster.psql(dataset.READINGS_DAY.format(meters=meters, day=day), dbname=DBNAME)
        print(f"\r  generating: day {offset + 1}/{days}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    cluster.psql(dataset.INDEXES, dbname=DBNAME)
    cluster.psql("CHECKPOINT")
    return int(cluster.psql(f"SELECT pg_database_size('{DBNAME}')"))


def write_config(path: Path, cluster: PgCluster, objectstore: dict[str, Any], jobs: int) -> Path:
    document = {
        "data_dir": str(path.parent / "data"),
        "databases": {"dev": {"app": {"host": SOCKET_DIR, "port": cluster.port,
                                      "dbname": DBNAME, "user": "postgres"}}},
        "objectstore": objectstore,
        "backup": {"restore_jobs": jobs},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document))
    return path


@contextmanager
def moto_bucket(workdir: Path) -> Iterator[tuple[ServerProcess, str, dict[str, str]]]:
    server = moto.start_moto(workdir)
    env = moto.aws_environment(server.url)
    try:
        bucket = f"bench-{secrets.token_hex(4)}"
        boto3.client(
            "s3", endpoint_url=server.url, region_name=moto.REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket, CreateBucketConfiguration={
            "LocationConstraint": moto.REGION})  # fmt: skip
        yield server, bucket, env
    finally:
        server.stop()


def ours(command: list[str], config: Path, env: dict[str, str] | None = None) -> Run:
    return measure([fluxora_orch(), *command, "--config", str(config), "--json"], env)


def raw_restore(cluster: PgCluster, archive: Path, jobs: int) -> Run:
    cluster.psql("DROP DATABASE IF EXISTS raw_restore")
    cluster.psql("CREATE DATABASE raw_restore")
    try:
        return measure([
            "pg_restore", "-h", SOCKET_DIR, "-p", str(cluster.port), "-U", "postgres",
            "--no-owner", "--no-acl", "-j", str(jobs), "-d", "raw_restore", str(archive),
        ])  # fmt: skip
    finally:
        cluster.psql("DROP DATABASE IF EXISTS raw_restore")


def row(name: str, seconds: float, baseline: float | None, extra: str = "") -> str:
    ratio = f"{seconds / baseline:5.2f}x" if baseline else "  base"
    return f"| {name:<44} | {seconds:8.1f} s | {ratio} | {extra} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--days", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2, help="pg_restore -j, ours and raw")
    args = parser.parse_args()
    name = f"fxt_bench{secrets.token_hex(3)}_{os.getpid()}_1_primary"
    with tempfile.TemporaryDirectory(prefix="fluxora-bench-") as tmp:
        workdir = Path(tmp)
        cluster = create_primary(name)
        try:
            return run(args, cluster, workdir)
        finally:
            cluster.drop()


def run(args: argparse.Namespace, cluster: PgCluster, workdir: Path) -> int:
    size = generate(cluster, args.meters, args.days)
    rows = int(cluster.psql("SELECT count(*) FROM readings", dbname=DBNAME))
    print(
        f"dataset: {rows:,} readings of {args.meters} meters, {size / MiB:,.0f} MiB in the database"
    )
    archive = workdir / "raw.dump"
    base = measure([
        "pg_dump", "-h", SOCKET_DIR, "-p", str(cluster.port), "-U", "postgres", "-Fc",
        "-f", str(archive), DBNAME,
    ])  # fmt: skip
    local = write_config(workdir / "local.yaml", cluster, {"kind": "local"}, args.jobs)
    backup_local = ours(["backup", "--database", "app"], local)
    stored = json.loads(backup_local.output)[0]
    with moto_bucket(workdir) as (_, bucket, env):
        store = {"kind": "s3", "bucket": bucket, "region": moto.REGION}
        s3 = write_config(workdir / "s3.yaml", cluster, store, args.jobs)
        backup_s3 = ours(["backup", "--database", "app"], s3, env)
    base_restore = raw_restore(cluster, archive, args.jobs)
    verify_local = ours(["restore-verify", "--database", "app"], local)
    checked = json.loads(verify_local.output)[0]
    rss = max(r.peak_rss_bytes for r in (backup_local, backup_s3, verify_local))
    stored_mib, raw_mib = stored["stored_bytes"] / MiB, stored["raw_bytes"] / MiB
    print(f"raw pg_dump -Fc archive: {archive.stat().st_size / MiB:,.0f} MiB; ours (zstd): "
          f"{stored_mib:,.0f} MiB of {raw_mib:,.0f} MiB raw")  # fmt: skip
    print(f"restore-verify: RTO {checked['rto_seconds']:.1f} s + checks "
          f"{checked['verify_seconds']:.1f} s, {checked['tables_checked']} tables")  # fmt: skip
    print("| measurement | wall time | ratio | notes |")
    print("| --- | ---: | ---: | --- |")
    print(row("raw pg_dump -Fc to a local file", base.seconds, None))
    print(
        row(
            "fluxora-orch backup, local store",
            backup_local.seconds,
            base.seconds,
            f"target <= 1.10x; peak RSS {backup_local.peak_rss_bytes / MiB:.0f} MiB",
        )
    )
    print(
        row(
            "fluxora-orch backup, S3 (moto)",
            backup_s3.seconds,
            base.seconds,
            f"peak RSS {backup_s3.peak_rss_bytes / MiB:.0f} MiB",
        )
    )
    print(row(f"raw pg_restore -j {args.jobs}", base_restore.seconds, None))
    print(row("fluxora-orch restore-verify, local store", verify_local.seconds,
              base_restore.seconds,
              f"target <= 1.5x; peak RSS {verify_local.peak_rss_bytes / MiB:.0f} MiB"))  # fmt: skip
    print(f"peak RSS of our process: {rss / MiB:.0f} MiB (target < 256 MiB)")
    met = (
        backup_local.seconds <= 1.10 * base.seconds
        and verify_local.seconds <= 1.5 * base_restore.seconds
        and rss < 256 * MiB
    )
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
