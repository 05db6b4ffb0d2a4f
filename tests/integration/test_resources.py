"""The resources a job's actions get in an environment: the process's object stores and what
each family builds, found by the keys declared beside their builders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.app import wiring
from orchestrator.app.config import Config, load_config
from orchestrator.app.families import FAMILIES
from orchestrator.app.resources import ResourceClashError, ResourceProvider
from orchestrator.core.actions import ActionContext
from orchestrator.core.errors import FluxoraError
from orchestrator.core.resources import Resources
from orchestrator.families.aws.clients import AWS, AwsClients
from orchestrator.families.backup.resources import BACKUP, DATABASES, BackupSettings, Databases
from orchestrator.families.base import Family, ResourceDeps
from orchestrator.families.postgres.actions import CLUSTERS, PROBES, Clusters, Probes
from orchestrator.families.scaling.service import SCALING, Scaler
from orchestrator.objectstore.config import DR_OBJECTSTORE, OBJECTSTORE
from orchestrator.objectstore.local import LocalObjectStore

pytestmark = pytest.mark.integration


class Clashing(Family[Config]):
    name = "clashing"

    def build_resources(self, deps: ResourceDeps[Config], env: str) -> Resources:
        return Resources().add(AWS, AwsClients(deps.config.aws))


class Broken(Family[Config]):
    name = "broken"

    def build_resources(self, deps: ResourceDeps[Config], env: str) -> Resources:
        raise FluxoraError("cannot reach it")


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[ResourceDeps[Config]]:
    config = load_config(data_dir=tmp_path, environ={})
    store = wiring.open_configured_store(config)
    yield wiring.resource_deps(config, store, wiring.object_stores(config))
    store.close()


def test_every_declared_key_finds_its_resource(deps: ResourceDeps[Config]) -> None:
    ctx = ActionContext(env="dev", resources=ResourceProvider(FAMILIES, deps).for_env("dev"))
    found = {
        OBJECTSTORE: LocalObjectStore,
        AWS: AwsClients,
        SCALING: Scaler,
        DATABASES: Databases,
        BACKUP: BackupSettings,
        CLUSTERS: Clusters,
        PROBES: Probes,
    }
    assert {key: type(ctx.resource(key)) for key in found} == found
    assert set(ctx.resources) == set(found)  # no DR bucket configured: no DR_OBJECTSTORE
    assert DR_OBJECTSTORE not in ctx.resources


def test_two_families_offering_one_key_is_an_error_naming_it(deps: ResourceDeps[Config]) -> None:
    provider = ResourceProvider([*FAMILIES, Clashing()], deps)
    with pytest.raises(
        ResourceClashError, match="two families provide resource 'aws' for env 'dev'"
    ):
        provider.for_env("dev")


def test_a_failing_builder_leaves_the_other_resources(deps: ResourceDeps[Config]) -> None:
    with_broken = ResourceProvider([Broken(), *FAMILIES], deps).for_env("dev")
    assert set(with_broken) == set(ResourceProvider(FAMILIES, deps).for_env("dev"))
    assert len(with_broken) == 7
