"""`postgres.prune` on a real local store: retention, dry run, orphans and failed uploads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.families.backup.catalog import backup_prefix, list_backups, write_verification
from orchestrator.families.backup.manifest import Manifest, StoredObject, Verification
from orchestrator.objectstore.base import ObjectStore
from orchestrator.objectstore.config import OBJECTSTORE
from tests.harness.backup import context_for, load, write_config
from tests.integration.test_backup import run
from tests.unit.test_backup_units import manifest as make_manifest

pytestmark = pytest.mark.integration


def store_backup(store: ObjectStore, days_ago: float) -> Manifest:
    """A backup as the pipeline leaves it: its data object, then its manifest."""
    template = make_manifest(days_ago)
    prefix = backup_prefix("dev", "app", template.backup_id)
    info = store.put_bytes(prefix + "data.dump.zst", b"data")
    assert info.sha256 is not None
    manifest = template.model_copy(
        update={"objects": [StoredObject(key=info.key, size=4, sha256=info.sha256, raw_size=4)]}
    )
    store.put_bytes(prefix + "manifest.json", manifest.to_json())
    return manifest


def test_prune_applies_retention_and_cleans_leftovers(tmp_path: Path) -> None:
    config = load(
        write_config(
            tmp_path / "c.yaml", tmp_path / "data", {},
            backup={"retention": {"daily": 2, "weekly": 0, "monthly": 0, "min_count": 1},
                    "orphan_grace_seconds": 0},
        )
    )  # fmt: skip
    ctx = context_for(config)
    store: ObjectStore = ctx.resource(OBJECTSTORE)
    backups = [store_backup(store, days) for days in (30, 20, 10, 1, 0)]
    write_verification(
        store,
        backups[1],
        Verification(backup_id=backups[1].backup_id, ok=True, verified_at=datetime.now(UTC),
                     rto_seconds=1, rpo_seconds=1),
    )  # fmt: skip
    store.put_bytes("backups/dev/app/20250101T000000Z-logical-dead00/data.dump.zst", b"orphan")
    writer = store.open_writer("backups/dev/app/20250102T000000Z-logical-dead01/data.dump.zst")
    writer.write(b"killed mid-way")

    dry = run(context_for(config, dry_run=True), "postgres.prune")
    assert dry.ok, dry.error
    assert not dry.changed
    assert dry.data["delete"] == [backups[2].backup_id, backups[0].backup_id]
    assert dry.data["keep"][backups[1].backup_id] == ["newest verified"]
    assert dry.data["orphan_objects"] == [
        "backups/dev/app/20250101T000000Z-logical-dead00/data.dump.zst"
    ]
    assert dry.data["incomplete_uploads"] == [writer.key]
    assert len(list_backups(store, "dev")) == 5  # nothing went
    assert len(store.incomplete_uploads()) == 1

    done = run(ctx, "postgres.prune")
    assert done.ok, done.error
    assert done.changed
    remaining = [m.backup_id for m in list_backups(store, "dev")]
    assert remaining == [backups[4].backup_id, backups[3].backup_id, backups[1].backup_id]
    gone = ("dead00", backups[0].backup_id, backups[2].backup_id)
    assert not [o.key for o in store.list_objects() if any(g in o.key for g in gone)]
    assert store.incomplete_uploads() == []


def test_grace_spares_leftovers_of_a_running_backup(tmp_path: Path) -> None:
    config = load(write_config(tmp_path / "c.yaml", tmp_path / "data", {}))
    ctx = context_for(config)
    store: ObjectStore = ctx.resource(OBJECTSTORE)
    writer = store.open_writer("backups/dev/app/x/data.dump.zst")
    writer.write(b"in progress")
    result = run(ctx, "postgres.prune")
    assert result.data["incomplete_uploads"] == []
    assert len(store.incomplete_uploads()) == 1
    assert datetime.now(UTC) - store.incomplete_uploads()[0].initiated < timedelta(hours=1)
