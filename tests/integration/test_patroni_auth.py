"""Patroni's REST API on a real cluster configured as the fluxora.postgres state does it: a
change (switchover) needs the REST user's password; the orchestrator's client sends it from
its password file, and a request without it or with another password changes nothing."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orchestrator.families.postgres.patroni import PatroniApi, PatroniError
from orchestrator.families.postgres.topology import ClusterConfig
from tests.harness.patroni import PatroniCluster, cluster_entry

pytestmark = pytest.mark.integration


def api(cluster: PatroniCluster, tmp_path: Path, password_file: Path | None = None) -> PatroniApi:
    entry = cluster_entry(cluster, tmp_path / "pg_service.conf")
    if password_file is not None:
        entry["patroni"]["password_file"] = str(password_file)
    return PatroniApi(ClusterConfig.model_validate(entry))


def test_a_switchover_without_the_password_is_refused(
    patroni_cluster: PatroniCluster, tmp_path: Path
) -> None:
    leader = patroni_cluster.heal()
    (replica,) = patroni_cluster.replicas()
    request = urllib.request.Request(
        patroni_cluster.nodes[leader].rest_url + "/switchover",
        data=f'{{"leader": "{leader}", "candidate": "{replica}"}}'.encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    with pytest.raises(PatroniError, match="HTTP 401"):
        api(patroni_cluster, tmp_path, wrong).switchover(leader, replica)
    assert patroni_cluster.leader() == leader


def test_the_orchestrators_client_switches_over_with_the_password_from_its_file(
    patroni_cluster: PatroniCluster, tmp_path: Path
) -> None:
    leader = patroni_cluster.heal()
    (replica,) = patroni_cluster.replicas()
    client = api(patroni_cluster, tmp_path)
    answer = client.switchover(leader, replica)
    assert patroni_cluster.rest_password not in answer
    patroni_cluster.wait_leader(60, other_than=leader)
    assert patroni_cluster.leader() == replica
    patroni_cluster.heal()
