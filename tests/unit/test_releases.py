"""Release names and the master's roots per environment (no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.families.releases.build import ReleaseError, check_version
from orchestrator.families.releases.pins import master_roots
from orchestrator.families.releases.plan import Action, summarise


@pytest.mark.parametrize("bad", ["", ".hidden", "a/b", "envs", "with space", "..", "."])
def test_a_version_must_be_a_plain_directory_name(bad: str) -> None:
    with pytest.raises(ReleaseError, match="not a directory name"):
        check_version(bad)


def test_each_environment_is_a_saltenv_of_its_own_on_its_pin() -> None:
    roots = master_roots(Path("/srv/releases"), ["dev", "prod"])
    assert roots["file_roots"]["dev"] == [
        "/srv/releases/envs/dev/salt/states",
        "/srv/releases/envs/dev/salt",
    ]
    assert roots["pillar_roots"]["prod"] == ["/srv/releases/envs/prod/salt/pillar"]
    assert roots["pillar_roots"]["plan-prod"] == ["/srv/releases/envs/plan-prod/salt/pillar"]
    assert list(roots["file_roots"]) == ["dev", "plan-dev", "prod", "plan-prod"]


def _state(result: bool | None, changes: dict[str, object], comment: str = "") -> dict[str, object]:
    return {"result": result, "changes": changes, "comment": comment}


TEST_RESULTS = {
    "web-1": {
        "file_|-conf_|-/etc/app.conf_|-managed": _state(None, {"diff": "-a\n+b"}),
        "file_|-new_|-/etc/new.conf_|-managed": _state(None, {"newfile": "/etc/new.conf"}),
        "file_|-old_|-/etc/old.conf_|-absent": _state(None, {"removed": "/etc/old.conf"}),
        "pkg_|-jq_|-jq_|-installed": _state(None, {}, "The following packages would be installed"),
        "file_|-same_|-/etc/same_|-managed": _state(True, {}, "is in the correct state"),
        "fluxora_orphans_|-aws-orphans_|-fluxora-dev_|-absent": _state(
            None, {"orphans": ["bucket old-a (eu-west-1)", "security group old-b (eu-west-1)"]}
        ),
    },
    "db-1": ["Rendering SLS 'dev:fluxora.postgres' failed: mapping values are not allowed"],
}


def test_a_plan_is_add_change_remove_per_host_and_resource() -> None:
    plan = summarise("dev", "r1", "d1", TEST_RESULTS)
    assert [(i.host, i.resource, i.action) for i in plan.items] == [
        ("db-1", "(render)", Action.ERROR),
        ("web-1", "file.managed /etc/app.conf", Action.CHANGE),
        ("web-1", "file.managed /etc/new.conf", Action.ADD),
        ("web-1", "file.absent /etc/old.conf", Action.REMOVE),
        ("web-1", "bucket old-a (eu-west-1)", Action.REMOVE),
        ("web-1", "security group old-b (eu-west-1)", Action.REMOVE),
        ("web-1", "pkg.installed jq", Action.ADD),
    ]
    assert plan.counts() == {"add": 2, "change": 1, "remove": 3, "error": 1}
    assert "mapping values" in plan.items[0].comment


def test_a_plan_digest_moves_with_its_items_and_only_with_them() -> None:
    converged = summarise("prod", "r1", "d1", {"web-1": {}})
    assert not converged.changes
    assert converged.digest == summarise("prod", "r1", "d1", {"web-1": {}}).digest
    pending = summarise("prod", "r1", "d1", TEST_RESULTS)
    assert pending.changes
    assert pending.digest != converged.digest
    assert pending.digest != summarise("prod", "r2", "d1", TEST_RESULTS).digest
