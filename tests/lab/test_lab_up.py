"""The lab itself: one salt-minion per topology host, each in its own namespaces."""

from __future__ import annotations

import pytest

from tests.harness.lab import Lab, topology

# The first lab test carries the session lab's up and deploy (3-8 min on 2 busy cores).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]


def test_every_topology_host_answers_with_its_own_name_and_address(staging_lab: Lab) -> None:
    result = staging_lab.salt_cli().run("grains.item", "host", "ipv4", "fluxora", minion_tgt="*")
    assert result.returncode == 0, result.stdout
    assert set(result.data) == set(topology("staging"))
    for name, grains in result.data.items():
        assert grains["host"] == name
        assert staging_lab.hosts[name].address in grains["ipv4"]
        assert grains["fluxora"]["env"] == "staging"
