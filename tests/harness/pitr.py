"""WAL archiving with barman-cloud against the moto server: a directory the postgres user owns
(the archiver's config, AWS credentials, spool and metrics), and a PostgreSQL cluster whose
archive_command is the shipped `fluxora-wal-archive`.

The lab directory and the clusters carry the run id (`fxt_<run>_<pid>_<n>`), so the leak check
finds them and parallel runs do not share buckets, spools or WAL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tests.harness import postgres
from tests.harness.moto import DR_REGION, REGION
from tests.harness.processes import HarnessError, wait_until

REPO = Path(__file__).resolve().parents[2]
WAL_ARCHIVE = REPO / "salt/states/fluxora/walarchive/files/fluxora-wal-archive"
# moto's documented dummy keys (the same as tests/harness/moto.py exports)
_CREDENTIALS = "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"


@dataclass
class ArchiveLab:
    """One archiving setup: config file, spool and metrics under `root` (owned by postgres)."""

    root: Path
    endpoint: str
    server_name: str
    bucket: str
    dr_bucket: str
    dr_endpoint: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.root / "wal-archive.json"

    @property
    def metrics_file(self) -> Path:
        return self.root / "fluxora_wal_archive.prom"

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool"

    @property
    def credentials_file(self) -> Path:
        return self.root / "aws-credentials"

    def archive_command(self) -> str:
        return f"{WAL_ARCHIVE} --config {self.config_path} %p"

    def config(self) -> dict[str, Any]:
        return {
            "server_name": self.server_name,
            "spool_dir": str(self.spool_dir),
            "metrics_file": str(self.metrics_file),
            "aws_credentials_file": str(self.credentials_file),
            "retry_seconds": 0,
            "compression": "gzip",  # as shipped; an idle segment shrinks to a few KiB
            "destinations": [
                {"name": "primary", "url": f"s3://{self.bucket}/wal", "region": REGION,
                 "endpoint_url": self.endpoint},
                {"name": "dr", "url": f"s3://{self.dr_bucket}/wal", "region": DR_REGION,
                 "endpoint_url": self.dr_endpoint},
            ],
            **self.options,
        }  # fmt: skip

    def write(self) -> None:
        """(Re)write the config the archiver reads on its next call."""
        self.config_path.write_text(json.dumps(self.config(), indent=2))
        _give_to_postgres(self.root)

    def metrics(self) -> dict[str, float]:
        """The textfile's samples, keyed `name{labels}`."""
        if not self.metrics_file.exists():
            return {}
        samples = {}
        for line in self.metrics_file.read_text().splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                samples[key] = float(value)
        return samples

    def spooled(self, destination: str) -> list[str]:
        directory = self.spool_dir / destination
        return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []

    def wal_keys(self, dr: bool = False) -> list[str]:
        """Names of the WAL files stored for this server in the (DR) bucket."""
        bucket, region = (self.dr_bucket, DR_REGION) if dr else (self.bucket, REGION)
        client = boto3.client("s3", region_name=region, endpoint_url=self.endpoint)
        prefix = f"wal/{self.server_name}/wals/"
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            return sorted(
                obj["Key"].rsplit("/", 1)[-1].removesuffix(".gz")
                for page in pages
                for obj in page.get("Contents", [])
            )
        except client.exceptions.NoSuchBucket:
            return []

    def flush(self) -> subprocess.CompletedProcess[str]:
        return run_as_postgres([str(WAL_ARCHIVE), "--config", str(self.config_path), "--flush"])


def _give_to_postgres(path: Path) -> None:
    shutil.chown(path, "postgres", "postgres")
    for child in path.rglob("*"):
        shutil.chown(child, "postgres", "postgres")


def run_as_postgres(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        postgres.as_postgres(argv), capture_output=True, text=True, check=False, cwd=cwd
    )


def make_lab(root: Path, endpoint: str, name: str, dr_endpoint: str | None = None) -> ArchiveLab:
    """A lab directory with credentials for the moto server; buckets named after `name`."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "aws-credentials").write_text(_CREDENTIALS)
    bucket = name.replace("_", "-").lower()
    lab = ArchiveLab(
        root=root, endpoint=endpoint, server_name=name, bucket=f"{bucket}-wal",
        dr_bucket=f"{bucket}-wal-dr", dr_endpoint=dr_endpoint or endpoint,
    )  # fmt: skip
    lab.write()
    return lab


def create_archiving_cluster(
    name: str, lab: ArchiveLab, archive_timeout: str = "60s"
) -> postgres.PgCluster:
    """A started primary whose archive_command is fluxora-wal-archive with the lab's config
    (the tests switch segments themselves; the bench uses the shipped timeout)."""
    settings = {
        "archive_mode": "on",
        "archive_command": lab.archive_command(),
        "archive_timeout": archive_timeout,
        "wal_level": "replica",
    }
    return postgres.create_primary(name, settings)


def archiving_source(
    run_id: str, endpoint: str, suffix: str
) -> tuple[ArchiveLab, postgres.PgCluster]:
    """A lab in /tmp and its archiving cluster, both named `<run prefix>_<suffix>`."""
    require_barman()
    name = f"{postgres.cluster_prefix(run_id)}_{suffix}"
    lab = make_lab(Path("/tmp") / name, endpoint, name)
    return lab, create_archiving_cluster(name, lab)


def archived_wal(cluster: postgres.PgCluster) -> str:
    """pg_stat_archiver's last archived WAL (empty before the first)."""
    return cluster.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")


def failed_count(cluster: postgres.PgCluster) -> int:
    return int(cluster.psql("SELECT failed_count FROM pg_stat_archiver"))


def switch_wal(cluster: postgres.PgCluster) -> str:
    """Close the current segment (after a write, so there is one) and return its name."""
    return cluster.psql(
        "CREATE TABLE IF NOT EXISTS pitr_switch (at timestamptz);"
        "INSERT INTO pitr_switch VALUES (now());"
        "SELECT pg_walfile_name(pg_switch_wal())"
    ).splitlines()[-1]


def wait_archived(cluster: postgres.PgCluster, segment: str, timeout: float = 60) -> float:
    """Wait until PostgreSQL reports `segment` archived; return the seconds it took."""
    started = time.monotonic()
    wait_until(lambda: archived_wal(cluster) >= segment, timeout, f"{segment} archived")
    return time.monotonic() - started


def require_barman() -> None:
    if shutil.which("barman-cloud-wal-archive") is None:
        raise HarnessError(
            "barman-cloud-wal-archive is not installed: apt-get install barman-cli-cloud"
        )


def run_wal_archive(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WAL_ARCHIVE), *args], capture_output=True, text=True, check=False)


def write_textfile(root: Path, endpoint: str) -> ArchiveLab:
    """The archiver's node-exporter textfile in `root`, as `fluxora-wal-archive --flush` writes
    it on a DB host with an empty spool (nothing is sent, so no bucket is touched)."""
    lab = make_lab(root, endpoint, "fluxora-textfile")
    flushed = run_wal_archive(["--config", str(lab.config_path), "--flush"])
    if flushed.returncode != 0 or not lab.metrics_file.is_file():
        raise HarnessError(f"fluxora-wal-archive --flush wrote no metrics: {flushed.stderr}")
    return lab


def start_switcher(lab: ArchiveLab) -> subprocess.Popen[str]:
    """`fluxora-wal-archive --switch` as postgres (the fluxora-wal-switch service)."""
    argv = [str(WAL_ARCHIVE), "--config", str(lab.config_path), "--switch"]
    return subprocess.Popen(postgres.as_postgres(argv), text=True)
