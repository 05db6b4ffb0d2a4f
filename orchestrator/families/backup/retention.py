"""Retention: keep N daily, weekly and monthly backups plus a minimum count, per database and
kind, and never the newest backup that passed restore-verify; prune the rest, along with
uploads that never completed and objects of backups that never got a manifest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.families.backup.catalog import (
    backup_dirs,
    backup_prefix,
    env_prefix,
    list_backups,
    manifest_key,
    read_verification,
)
from orchestrator.families.backup.config import RetentionConfig
from orchestrator.families.backup.manifest import Manifest
from orchestrator.objectstore.base import IncompleteUpload, ObjectStore


@dataclass(frozen=True)
class Decision:
    manifest: Manifest
    reasons: tuple[str, ...]  # why it is kept; empty means it goes

    @property
    def keep(self) -> bool:
        return bool(self.reasons)


def plan_retention(
    manifests: list[Manifest], verified: set[str], policy: RetentionConfig
) -> list[Decision]:
    """A decision per backup, newest first within each (database, kind) series."""
    series: dict[tuple[str, str], list[Manifest]] = defaultdict(list)
    for manifest in manifests:
        series[(manifest.source.database, manifest.kind.value)].append(manifest)
    decisions = []
    for backups in series.values():
        backups.sort(key=lambda m: (m.started_at, m.backup_id), reverse=True)
        reasons = _reasons(backups, verified, policy)
        decisions += [Decision(m, tuple(reasons[m.backup_id])) for m in backups]
    return decisions


def _reasons(
    backups: list[Manifest], verified: set[str], policy: RetentionConfig
) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = defaultdict(list)
    for manifest in backups[: policy.min_count]:
        reasons[manifest.backup_id].append("minimum count")
    periods: list[tuple[str, int, Callable[[datetime], Hashable]]] = [
        ("daily", policy.daily, lambda t: t.date()),
        ("weekly", policy.weekly, lambda t: t.isocalendar()[:2]),
        ("monthly", policy.monthly, lambda t: (t.year, t.month)),
    ]
    for label, count, period_of in periods:
        seen: set[Hashable] = set()
        for manifest in backups:
            period = period_of(manifest.started_at)
            if period not in seen and len(seen) < count:
                seen.add(period)
                reasons[manifest.backup_id].append(label)
    newest_verified = next((m for m in backups if m.backup_id in verified), None)
    if newest_verified is not None:
        reasons[newest_verified.backup_id].append("newest verified")
    return reasons


@dataclass(frozen=True)
class PruneReport:
    decisions: list[Decision]
    orphan_objects: list[str]  # objects of backups that never got a manifest
    incomplete_uploads: list[IncompleteUpload]
    dry_run: bool

    @property
    def deleted(self) -> list[Manifest]:
        return [d.manifest for d in self.decisions if not d.keep]


def prune(
    store: ObjectStore,
    env: str,
    policy: RetentionConfig,
    *,
    grace: timedelta,
    now: datetime,
    dry_run: bool,
) -> PruneReport:
    """Apply retention to `env`'s backups; with `dry_run`, only report what would go.

    Leftovers (incomplete uploads, manifest-less objects) younger than `grace` are spared: they
    may belong to a backup still running."""
    manifests = list_backups(store, env)
    verified = {m.backup_id for m in manifests if (v := read_verification(store, m)) and v.ok}
    report = PruneReport(
        decisions=plan_retention(manifests, verified, policy),
        orphan_objects=[
            obj.key
            for directory in backup_dirs(store, env)
            if not directory.complete and directory.newest_change < now - grace
            for obj in directory.objects
        ],
        incomplete_uploads=[
            upload
            for upload in store.incomplete_uploads(env_prefix(env))
            if upload.initiated < now - grace
        ],
        dry_run=dry_run,
    )
    if not dry_run:
        _apply(store, report)
    return report


def _apply(store: ObjectStore, report: PruneReport) -> None:
    for manifest in report.deleted:
        store.delete(manifest_key(manifest))  # first: from here on it is no longer listed
        prefix = backup_prefix(manifest.source.env, manifest.source.database, manifest.backup_id)
        for obj in store.list_objects(prefix):
            store.delete(obj.key)
    for key in report.orphan_objects:
        store.delete(key)
    for upload in report.incomplete_uploads:
        store.abort_upload(upload)
