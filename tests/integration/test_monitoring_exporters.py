"""The shipped PostgreSQL rules against Debian's real exporter on a real primary/replica pair."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from tests.harness import monitoring_inventory as inventory
from tests.harness.monitoring import MonitoringStack, PrometheusAPI, wait_for_scrape
from tests.harness.postgres import PgPair
from tests.harness.processes import ServerProcess, wait_until

pytestmark = pytest.mark.integration


def _address(server: ServerProcess) -> str:
    return urllib.parse.urlsplit(server.url).netloc


def _values(api: PrometheusAPI, expr: str) -> list[dict[str, Any]]:
    return [sample["metric"] | {"value": sample["value"][1]} for sample in api.query(expr)]


def test_replica_lost_raises_not_streaming_and_down_from_the_real_exporter(
    pg_pair_factory: Callable[[], PgPair],
    exporter_servers: dict[str, Callable[..., ServerProcess]],
    monitoring_stack: Callable[..., MonitoringStack],
) -> None:
    pair = pg_pair_factory()  # its own pair: this test stops the replica
    on_primary = exporter_servers["postgres"](pair.primary)
    on_replica = exporter_servers["postgres"](pair.replica)
    node = exporter_servers["node"]()
    stack = monitoring_stack(
        targets={
            "postgres": [_address(on_primary), _address(on_replica)],
            "node": [_address(node)],
        },
        labels={"env": "dev"},
        alert_for={"FluxoraPostgresReplicaNotStreaming": "0s", "FluxoraPostgresDown": "0s"},
    )
    api = stack.prometheus_api
    for server in (on_primary, on_replica, node):
        wait_for_scrape(api, server.url)

    # Streaming: the primary's exporter shows the standby and its active slot, nothing fires.
    (standby,) = _values(api, 'pg_stat_replication_pg_wal_lsn_diff{state="streaming"}')
    assert standby["instance"] == _address(on_primary)
    (slot,) = _values(api, "pg_replication_slots_active")
    assert (slot["slot_name"], slot["value"]) == (pair.slot, "1")
    recorded = "env_instance_replica:pg_replication_lag_bytes:max"
    wait_until(lambda: bool(api.query(recorded)), 30, "the lag recording rule to evaluate")
    (lag,) = _values(api, recorded)
    assert lag["replica"] == standby["application_name"]
    # (No orchestrator target here, so only FluxoraOrchestratorDown may be pending: as designed.)
    assert not [a for a in api.alerts() if a["labels"]["component"] == "postgres"]

    listed = set(inventory.exporter_metrics())
    scraped = {name for name in listed if api.query(f"count({name})")}
    pair.replica.ctl("stop")
    (not_streaming,) = api.wait_for_firing("FluxoraPostgresReplicaNotStreaming")
    assert (not_streaming["labels"]["replica"], not_streaming["labels"]["env"]) == (
        pair.slot,
        "dev",
    )
    (down,) = api.wait_for_firing("FluxoraPostgresDown")
    assert down["labels"]["instance"] == _address(on_replica)

    # Every exporter metric the rules and dashboards name was in this live scrape (ALERTS once an
    # alert fires, pg_stat_replication while the standby streamed).
    scraped |= {name for name in listed if api.query(f"count({name})")}
    assert scraped == listed, f"in exporter-metrics.yml, never scraped: {sorted(listed - scraped)}"
