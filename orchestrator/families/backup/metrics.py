"""Backup and restore-verify metrics (names from the catalogue in docs/ARCHITECTURE.md),
declared once per registry and updated from the actions' results. A failure is counted and
never moves a last-success timestamp."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from orchestrator.core.results import Result
from orchestrator.families.backup.manifest import Manifest, Verification

LABELS = ("env", "database", "kind")


def _labels(result: Result) -> dict[str, str]:
    return {name: str(result.data.get(name) or "unknown") for name in LABELS}


def _manifest_labels(manifest: Manifest) -> dict[str, str]:
    return {
        "env": manifest.source.env,
        "database": manifest.source.database,
        "kind": manifest.kind.value,
    }


class BackupMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, LABELS, registry=registry)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, LABELS, registry=registry)

        self.last_success = gauge(
            "fluxora_backup_last_success_timestamp_seconds", "End of the last successful backup."
        )
        self.duration = gauge(
            "fluxora_backup_duration_seconds", "Wall time of the last successful backup."
        )
        self.size = gauge("fluxora_backup_size_bytes", "Stored bytes, last successful backup.")
        self.failures = counter("fluxora_backup_failures", "Backups that failed.")
        self.interval = gauge(
            "fluxora_backup_interval_seconds", "Configured interval between scheduled backups."
        )
        self.verify_last_success = gauge(
            "fluxora_restore_verify_last_success_timestamp_seconds",
            "End of the last restore-verify that passed.",
        )
        self.restore_duration = gauge(
            "fluxora_restore_duration_seconds",
            "Restore wall time (RTO), last restore-verify.",
        )
        self.verify_failures = counter(
            "fluxora_restore_verify_failures", "Restore-verify runs that failed."
        )
        self.verify_interval = gauge(
            "fluxora_restore_verify_interval_seconds",
            "Configured interval between scheduled restore-verify runs.",
        )
        self.verify_last_status = gauge(
            "fluxora_restore_verify_last_status",
            "1 when the last restore-verify passed, 0 when it failed.",
        )

    def observe_backup(self, result: Result) -> None:
        """Update from a `postgres.backup` result (its data carries env, database and kind)."""
        labels = _labels(result)
        if not result.ok:
            self.failures.labels(**labels).inc()
            return
        if "finished_at" not in result.data:  # a dry run changes nothing
            return
        self.last_success.labels(**labels).set(float(result.data["finished_at"]))
        self.duration.labels(**labels).set(float(result.data["duration_seconds"]))
        self.size.labels(**labels).set(float(result.data["stored_bytes"]))

    def observe_restore_verify(self, result: Result) -> None:
        """Update from a `postgres.verify` result."""
        labels = _labels(result)
        if "rto_seconds" in result.data:
            self.restore_duration.labels(**labels).set(float(result.data["rto_seconds"]))
        if not result.ok:
            self.verify_failures.labels(**labels).inc()
            if not result.data.get("refused"):  # a refused run tested no backup
                self.verify_last_status.labels(**labels).set(0)
        elif "finished_at" in result.data:
            self.verify_last_success.labels(**labels).set(float(result.data["finished_at"]))
            self.verify_last_status.labels(**labels).set(1)

    def set_interval(self, env: str, database: str, kind: str, seconds: float) -> None:
        """Export the configured backup schedule (staleness alerts compare against it) and
        start its failure counter at 0."""
        self.interval.labels(env=env, database=database, kind=kind).set(seconds)
        self.failures.labels(env=env, database=database, kind=kind)

    def set_verify_interval(self, env: str, database: str, kind: str, seconds: float) -> None:
        """The same for a configured restore-verify schedule."""
        self.verify_interval.labels(env=env, database=database, kind=kind).set(seconds)
        self.verify_failures.labels(env=env, database=database, kind=kind)

    def restore_backup(self, manifest: Manifest) -> None:
        """At daemon start: the last-success gauges from the newest stored backup."""
        labels = _manifest_labels(manifest)
        seconds = (manifest.finished_at - manifest.started_at).total_seconds()
        self.last_success.labels(**labels).set(manifest.finished_at.timestamp())
        self.duration.labels(**labels).set(seconds)
        self.size.labels(**labels).set(float(manifest.stored_size))

    def restore_verification(
        self, manifest: Manifest, last: Verification, last_passed: Verification | None
    ) -> None:
        """At daemon start: from the newest verification record of a database's backups and
        the newest one that passed."""
        labels = _manifest_labels(manifest)
        self.verify_last_status.labels(**labels).set(1 if last.ok else 0)
        if last.rto_seconds > 0:  # a run that failed before restoring measured nothing
            self.restore_duration.labels(**labels).set(last.rto_seconds)
        if last_passed is not None:
            self.verify_last_success.labels(**labels).set(last_passed.verified_at.timestamp())
