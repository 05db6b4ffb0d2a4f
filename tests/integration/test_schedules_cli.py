"""`fluxora-orch schedules list|run` against a real daemon: when each schedule fires next and
what it starts; a schedule run now takes the normal event path (rules, job, journal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.harness.fluxora import Daemon, cli, secret_env, start_daemon

pytestmark = pytest.mark.integration

SCHEDULES = [
    {"name": "nightly-noop", "cron": "30 4 * * *", "data": {"source": "schedule"}},
    {"name": "often-noop", "interval": "1h", "data": {}},
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    started = start_daemon(tmp_path_factory.mktemp("schedules"), schedules=SCHEDULES,
                           shutdown_grace_seconds=1)  # fmt: skip
    yield started
    started.stop()


def schedules(daemon: Daemon, *args: str) -> tuple[int, str, str]:
    result = cli("schedules", *args, *daemon.settings(), env=secret_env())
    return result.returncode, result.stdout, result.stderr


def test_list_shows_next_fire_and_what_each_schedule_starts(daemon: Daemon) -> None:
    code, out, err = schedules(daemon, "list", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    nightly = rows["nightly-noop"]
    fire = datetime.fromisoformat(nightly["next_fire"])
    assert (fire.hour, fire.minute) == (4, 30)
    assert nightly["starts"] == [{"runbook": "noop", "env": "dev", "params": {}}]
    assert rows["often-noop"]["trigger"] == "every 3600s"

    code, out, err = schedules(daemon, "list")
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("nightly-noop")]
    assert "30 4 * * *" in line
    assert "noop@dev" in line


def test_run_fires_the_schedule_through_the_rules_now(daemon: Daemon) -> None:
    code, out, err = schedules(daemon, "run", "nightly-noop", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["tag"] == "fluxora/schedule/nightly-noop"
    job = daemon.client.finished_job(answer["job_id"])
    assert (job["runbook"], job["status"]) == ("noop", "completed")
    event = daemon.client.explain(job["event_id"])
    assert event["tag"] == "fluxora/schedule/nightly-noop"
    assert event["data"]["schedule"] == "nightly-noop"
    assert [d["rule"] for d in event["decisions"] if d["decision"] == "fired"] == ["scheduled"]


def test_run_of_an_unknown_schedule_names_the_known_ones(daemon: Daemon) -> None:
    code, _, err = schedules(daemon, "run", "weekly-noop")
    assert code == 1
    assert "no schedule named 'weekly-noop' (schedules: nightly-noop, often-noop)" in err
