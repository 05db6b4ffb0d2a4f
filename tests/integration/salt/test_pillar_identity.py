"""Pillar by identity, on the real test salt-master: a minion's environment, roles and secrets
come from the id its key was accepted under, never from the grains it claims."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.pillar import ROLE_SECRETS, SecretPillar, merged_pillar, pillar_file
from tests.harness.processes import wait_until
from tests.harness.salt import all_started

pytestmark = pytest.mark.integration

# Every minion here claims to be prod's primary database host in its own grains.
CLAIM = {"fluxora": {"env": "prod", "roles": ["postgres-primary", "etcd"]}}
INSTANCE = "fluxora-staging-worker-i-0123456789abcdef0"


@pytest.fixture(scope="module")
def claimants(salt_master: Any) -> Iterator[dict[str, Any]]:
    """Minions on the test master: staging's cache host, a staging worker instance and an id
    no topology has, each claiming prod's database role in its grains."""
    ids = ["stg-cache-1", INSTANCE, "intruder-1"]
    # An instance's id is long: the minions' files, sockets among them, go under a short root
    # (AF_UNIX paths are short).
    short_root = Path(tempfile.mkdtemp(prefix="fx-sock-", dir="/tmp"))
    factories = {
        minion_id: salt_master.salt_minion_daemon(
            minion_id,
            overrides={
                "disable_modules": ["systemd_service"],
                "grains": CLAIM,
                "root_dir": str(short_root / str(index)),
            },
        )
        for index, minion_id in enumerate(ids)
    }
    try:
        with all_started(factories):
            yield factories
    finally:
        shutil.rmtree(short_root)
        keys = salt_master.salt_key_cli()
        for minion_id in ids:  # the session master's other tests target '*'
            keys.run("--delete", minion_id, "--yes")


def pillar_of(salt_cli: Any, minion_id: str) -> dict[str, Any]:
    result = salt_cli.run("pillar.items", minion_tgt=minion_id)
    assert result.returncode == 0, result.stdout
    assert "_errors" not in result.data, result.data["_errors"]
    return dict(result.data)


def secret_values(test_pillar: SecretPillar, env: str, keys: Any = None) -> set[str]:
    values = test_pillar.values[env]
    return {values[key] for key in (keys if keys is not None else values)}


def database_secrets(test_pillar: SecretPillar, env: str) -> set[str]:
    return secret_values(test_pillar, env, ROLE_SECRETS["postgres-primary"])


@pytest.mark.usefixtures("claimants")
def test_a_host_claiming_prod_gets_its_own_environment_and_none_of_prods_pillar(
    salt_cli: Any, test_pillar: SecretPillar
) -> None:
    pillar = pillar_of(salt_cli, "stg-cache-1")
    text = json.dumps(pillar)
    assert (pillar["fluxora"]["env"], pillar["fluxora"]["roles"]) == ("staging", ["redis"])
    assert "prd-db-1" not in text
    assert "fluxora-prod-backups" not in text
    assert not secret_values(test_pillar, "prod") & {*_strings(pillar)}
    # Its own role's secrets, and no database password (nor the orchestrator's token).
    redis = pillar["fluxora"]["redis"]
    assert redis["password"] == test_pillar.values["staging"][("redis", "password")]
    assert not database_secrets(test_pillar, "staging") & {*_strings(pillar)}
    assert "password" not in pillar["fluxora"]["postgres"]["replication"]
    assert "orchestrator_token" not in pillar["fluxora"]["monitoring"]


@pytest.mark.usefixtures("claimants")
def test_an_auto_scaling_instance_gets_the_environment_and_role_its_id_names(
    salt_cli: Any, test_pillar: SecretPillar
) -> None:
    pillar = pillar_of(salt_cli, INSTANCE)
    assert (pillar["fluxora"]["env"], pillar["fluxora"]["roles"]) == ("staging", ["worker"])
    strings = {*_strings(pillar)}
    assert test_pillar.values["staging"][("redis", "password")] in strings
    assert not database_secrets(test_pillar, "staging") & strings
    assert not secret_values(test_pillar, "prod") & strings


@pytest.mark.usefixtures("claimants")
def test_an_unknown_minion_id_gets_the_defaults_only_and_the_master_logs_it(
    salt_cli: Any, salt_master: Any, test_pillar: SecretPillar
) -> None:
    pillar = pillar_of(salt_cli, "intruder-1")
    assert pillar == {"fluxora": pillar_file("defaults.sls")}
    strings = {*_strings(pillar)}
    for env in ("dev", "staging", "prod"):
        assert not secret_values(test_pillar, env) & strings
    log = Path(salt_master.config["log_file"])
    line = "minion id intruder-1 is in no environment's topology"
    wait_until(lambda: line in log.read_text(), 10, f"{line!r} in {log}")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def test_every_id_names_one_host_and_every_group_can_be_named_in_an_instance_id() -> None:
    """identity.jinja takes the first environment whose topology lists an id, and reads an
    instance's group as the [a-z0-9]+ word after fluxora-<env>-: both must be unambiguous."""
    seen: dict[str, str] = {}
    for env in ("dev", "staging", "prod"):
        pillar = merged_pillar(env)
        for host in pillar["topology"]["hosts"]:
            assert host not in seen, f"{host} is in the topology of {seen.get(host)} and {env}"
            seen[host] = env
        aws = pillar.get("aws", {})
        for group in [*aws.get("groups", {}), *aws.get("dr_groups", {})]:
            assert re.fullmatch("[a-z0-9]+", group), f"{env} group {group!r}"
