"""The daemon on a real salt-master's event bus: events in, job completions out."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.harness.fluxora import Daemon
from tests.harness.salt_bus import fire_on_master, listening

pytestmark = pytest.mark.integration


def test_salt_event_runs_a_job_and_its_completion_is_fired_on_the_bus(
    orch_daemon: Daemon, salt_master: Any
) -> None:
    event_id = f"salt-{uuid.uuid4().hex[:8]}"
    with listening(salt_master) as bus:
        fire_on_master(salt_master, "fluxora/test/noop-salt", {"event_id": event_id, "x": 1})
        job_id = orch_daemon.client.fired_job(event_id, "noop-on-request")
        done = bus.wait_for(f"fluxora/job/{job_id}/*")
    assert done["tag"] == f"fluxora/job/{job_id}/completed"
    assert done["data"]["runbook"] == "noop"
    assert done["data"]["event_id"] == event_id
    explained = orch_daemon.client.explain(event_id)
    assert explained["source"] == "salt"
    assert explained["data"]["x"] == 1
    assert orch_daemon.client.job(job_id)["params"] == {"source": "salt"}


def test_excluded_and_unselected_tags_are_not_taken_in(
    orch_daemon: Daemon, salt_master: Any
) -> None:
    ignored = f"ignored-{uuid.uuid4().hex[:8]}"
    fire_on_master(salt_master, "fluxora/job/x/completed", {"event_id": ignored})
    fire_on_master(salt_master, "salt/custom/thing", {"event_id": ignored})
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    fire_on_master(salt_master, "fluxora/test/marker", {"event_id": marker})
    orch_daemon.client.decided(marker)  # the bus is read in order: the others came before
    events = orch_daemon.client.get("/api/events?limit=1000")
    assert ignored not in {e["id"] for e in events}
