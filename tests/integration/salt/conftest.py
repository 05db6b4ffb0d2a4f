"""Masterless renders of every environment's hosts, as an operator's `salt-call --local`."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.pillar import SecretPillar
from tests.harness.salt import SALT_DIR
from tests.harness.saltlocal import LocalMinion

ENVIRONMENTS = ("dev", "staging", "prod")


def topology(env: str) -> dict[str, list[str]]:
    """host -> roles, as the committed pillar of `env` says."""
    data = yaml.safe_load((SALT_DIR / "pillar" / "fluxora" / f"{env}.sls").read_text())
    hosts = data["fluxora"]["topology"]["hosts"]
    return {host: sorted(spec["roles"]) for host, spec in sorted(hosts.items())}


HOSTS = [(env, host) for env in ENVIRONMENTS for host in topology(env)]


@pytest.fixture(scope="session")
def local_minion_factory(
    tmp_path_factory: pytest.TempPathFactory, test_pillar: SecretPillar
) -> Callable[..., LocalMinion]:
    """Make a masterless minion with env/roles grains; custom modules are synced once."""
    root = tmp_path_factory.mktemp("local-minions")
    extmods = root / "extmods"
    synced: list[bool] = []

    def make(
        env: str,
        host: str,
        roles: list[str],
        pillar_roots: list[Path] | None = None,
        file_roots: list[Path] | None = None,
    ) -> LocalMinion:
        roots = pillar_roots or [test_pillar.root, SALT_DIR / "pillar"]
        minion = LocalMinion.create(
            root / f"{env}-{host}-{len(list(root.iterdir()))}",
            minion_id=host,
            grains={"fluxora": {"env": env, "roles": roles}},
            pillar_roots=roots,
            gpg_keydir=test_pillar.gnupghome,
            extension_modules=extmods,
            file_roots=file_roots,
        )
        if not synced:
            minion.call("saltutil.sync_all")
            synced.append(True)
        return minion

    return make


def call_on_every_host(
    local_minion_factory: Callable[..., LocalMinion], *args: str
) -> dict[tuple[str, str], Any]:
    """(env, host) -> what `salt-call --local ARGS` answers on every host of every environment,
    each a masterless minion with its topology roles (a list means errors)."""
    minions = {
        (env, host): local_minion_factory(env, host, topology(env)[host]) for env, host in HOSTS
    }
    # Each salt-call mostly waits on its own start-up: three at a time halves the wall time.
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = pool.map(lambda m: m.call(*args, check=False), minions.values())
        return dict(zip(minions, answers, strict=True))


@pytest.fixture(scope="session")
def highstates(local_minion_factory: Callable[..., LocalMinion]) -> dict[tuple[str, str], Any]:
    """`state.show_highstate` of every host of every environment (a list means errors)."""
    return call_on_every_host(local_minion_factory, "state.show_highstate")


def states_of(highstate: dict[str, Any], module: str) -> dict[str, dict[str, Any]]:
    """{state id: {argument: value}} for every state of `module` (e.g. 'fluxora_iam')."""
    found = {}
    for state_id, body in highstate.items():
        if module in body:
            args: dict[str, Any] = {}
            for item in body[module]:
                if isinstance(item, dict):
                    args.update(item)
                elif isinstance(item, str):
                    args["__function__"] = item
            found[state_id] = args
    return found


def orchestrator_config_state(highstates: dict[tuple[str, str], Any], env: str) -> dict[str, Any]:
    """The state that writes the daemon's config on `env`'s orchestrator host (its `dataset`
    is the config)."""
    (host,) = [h for h, roles in topology(env).items() if "orchestrator" in roles]
    return states_of(highstates[(env, host)], "file")["fluxora-orchestrator-config-file-serialize"]


def config_file_of(highstates: dict[tuple[str, str], Any], env: str, directory: Path) -> Path:
    """`env`'s rendered daemon config, written to `directory`/orchestrator.yml."""
    path = directory / "orchestrator.yml"
    path.write_text(yaml.safe_dump(orchestrator_config_state(highstates, env)["dataset"]))
    return path
