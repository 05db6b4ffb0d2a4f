"""The catalog of backups in an object store: a backup is listed only when its manifest is.

Layout: `backups/<env>/<database>/<backup id>/` holds the data object(s), then `manifest.json`
(written last) and, once restore-verify ran, `verification.json`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from orchestrator.core.errors import FluxoraError
from orchestrator.core.logs import get_logger
from orchestrator.families.backup.manifest import BackupKind, Manifest, Verification
from orchestrator.objectstore.base import ObjectInfo, ObjectNotFoundError, ObjectStore

log = get_logger(__name__)
ROOT = "backups"
MANIFEST = "manifest.json"
VERIFICATION = "verification.json"


class BackupNotFoundError(FluxoraError, LookupError):
    pass


def backup_prefix(env: str, database: str, backup_id: str) -> str:
    return f"{ROOT}/{env}/{database}/{backup_id}/"


def env_prefix(env: str) -> str:
    return f"{ROOT}/{env}/"


@dataclass(frozen=True)
class BackupDir:
    """Everything stored under one backup's prefix; `complete` once the manifest is there."""

    prefix: str
    objects: tuple[ObjectInfo, ...]

    @property
    def complete(self) -> bool:
        return any(obj.key == self.prefix + MANIFEST for obj in self.objects)

    @property
    def verified_key(self) -> str | None:
        key = self.prefix + VERIFICATION
        return key if any(obj.key == key for obj in self.objects) else None

    @property
    def newest_change(self) -> datetime:
        return max(obj.modified for obj in self.objects)


def backup_dirs(store: ObjectStore, env: str) -> list[BackupDir]:
    grouped: dict[str, list[ObjectInfo]] = defaultdict(list)
    for obj in store.list_objects(env_prefix(env)):
        parts = obj.key.split("/")
        if len(parts) >= 5:
            grouped["/".join(parts[:4]) + "/"].append(obj)
    return [BackupDir(prefix, tuple(objs)) for prefix, objs in sorted(grouped.items())]


def read_manifest(store: ObjectStore, key: str) -> Manifest | None:
    try:
        return Manifest.model_validate_json(store.read_bytes(key))
    except ValidationError as exc:
        log.exception("unreadable manifest, backup not listed", key=key, error=str(exc))
        return None


def list_backups(
    store: ObjectStore,
    env: str,
    database: str | None = None,
    kind: BackupKind | None = None,
) -> list[Manifest]:
    """Complete backups of `env`, newest first."""
    manifests = []
    for directory in backup_dirs(store, env):
        if not directory.complete:
            continue
        manifest = read_manifest(store, directory.prefix + MANIFEST)
        if manifest is None:
            continue
        if (database is None or manifest.source.database == database) and (
            kind is None or manifest.kind == kind
        ):
            manifests.append(manifest)
    return sorted(manifests, key=lambda m: (m.started_at, m.backup_id), reverse=True)


def find_backup(
    store: ObjectStore,
    env: str,
    backup_id: str | None = None,
    database: str | None = None,
    kind: BackupKind | None = None,
) -> Manifest:
    """The backup `backup_id`, or else the newest one matching `database` and `kind`."""
    for manifest in list_backups(store, env, database, kind):
        if backup_id is None or manifest.backup_id == backup_id:
            return manifest
    what = f"backup {backup_id!r}" if backup_id else "no backup"
    scope = f"environment {env!r}" + (f", database {database!r}" if database else "")
    raise BackupNotFoundError(
        f"{what} not found in {store.name} for {scope}"
        if backup_id
        else f"{what} in {store.name} for {scope}"
    )


def manifest_key(manifest: Manifest) -> str:
    return backup_prefix(manifest.source.env, manifest.source.database, manifest.backup_id) + (
        MANIFEST
    )


def verification_key(manifest: Manifest) -> str:
    return backup_prefix(manifest.source.env, manifest.source.database, manifest.backup_id) + (
        VERIFICATION
    )


def read_verification(store: ObjectStore, manifest: Manifest) -> Verification | None:
    try:
        return Verification.model_validate_json(store.read_bytes(verification_key(manifest)))
    except ObjectNotFoundError:
        return None
    except ValidationError as exc:
        log.exception(
            "unreadable verification record", backup_id=manifest.backup_id, error=str(exc)
        )
        return None


def write_verification(store: ObjectStore, manifest: Manifest, result: Verification) -> None:
    store.put_bytes(verification_key(manifest), result.model_dump_json(indent=2).encode())
