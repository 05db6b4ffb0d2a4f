"""Staging and prod are one shape (fleet.sls) at two sizes: they define the same roles and
resources, their own files hold only identity, size, count and window keys, and the backups
bucket keeps objects at least as long as retention keeps backups."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import pytest

from orchestrator.families.backup.config import RetentionConfig
from tests.harness.pillar import merged_pillar, pillar_file

pytestmark = [pytest.mark.integration, pytest.mark.validate]

# What may differ between staging and prod (`:`-joined pillar paths; `*` spans levels).
IDENTITY = [
    "env", "tags:Environment", "topology:hosts:*", "postgres:hba:*", "monitoring:targets:*",
    "aws:network:*", "aws:dr_network:*", "aws:buckets:*:name", "aws:buckets:*:dr_name",
    "aws:dns:zone", "aws:dns:records:*:name", "aws:dns:records:*:ip",
]  # fmt: skip
SIZES_AND_COUNTS = [
    "postgres:wal:wal_keep_size", "redis:maxmemory", "aws:groups:*:instance_type",
    "aws:dr_groups:*:instance_type", "scaling:groups:*", "schedules:*:data:capacity",
]  # fmt: skip
WINDOWS = [
    "monitoring:prometheus:retention", "aws:buckets:*:lifecycle:*_days", "schedules:*:cron",
    "orchestrator:config:shutdown_grace_seconds", "deploy:health_timeout_seconds",
]  # fmt: skip
# Prod never lets restore-verify create scratch databases on its primary (it has a restore host).
POLICY = ["postgres:backup:createdb"]
MAY_DIFFER = IDENTITY + SIZES_AND_COUNTS + WINDOWS + POLICY


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{path}:{key}" if path else str(key))
    else:
        yield path, node


def _declared(path: str) -> bool:
    return any(fnmatchcase(path, pattern) for pattern in MAY_DIFFER)


def _roles(pillar: dict[str, Any]) -> set[str]:
    return {role for spec in pillar["topology"]["hosts"].values() for role in spec["roles"]}


# Staging restore-verifies on its primary's server; prod never does (POLICY), so it has a
# scratch restore host.
PROD_ONLY_ROLES = {"postgres-restore"}


def test_staging_and_prod_have_the_same_roles() -> None:
    assert _roles(merged_pillar("staging")) == _roles(merged_pillar("prod")) - PROD_ONLY_ROLES


def test_staging_and_prod_differ_only_in_declared_keys() -> None:
    staging, prod = (dict(_leaves(merged_pillar(env))) for env in ("staging", "prod"))
    differing = sorted(p for p in staging.keys() | prod.keys() if staging.get(p) != prod.get(p))
    assert differing, "the environments differ at least in name"
    assert [p for p in differing if not _declared(p)] == []


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_environment_file_holds_only_identity_sizes_counts_and_windows(env: str) -> None:
    undeclared = [path for path, _ in _leaves(pillar_file(f"{env}.sls")) if not _declared(path)]
    assert undeclared == [], f"move these to fleet.sls (shared) or declare them: {undeclared}"


def _longest_keep_days(pillar: dict[str, Any]) -> int:
    """The age of the oldest backup retention keeps (a month counted as 31 days)."""
    config = pillar.get("orchestrator", {}).get("config", {}).get("backup", {})
    retention = RetentionConfig.model_validate(config.get("retention", {}))
    return max(retention.daily, retention.weekly * 7, retention.monthly * 31)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_backups_outlive_the_longest_retention_keep(env: str) -> None:
    pillar = merged_pillar(env)
    keep = _longest_keep_days(pillar)
    expire = pillar["aws"]["buckets"]["backups"]["lifecycle"]["expire_days"]
    assert expire >= keep, (
        f"{env}: the backups bucket expires objects after {expire} days but retention keeps "
        f"backups for {keep} days"
    )
