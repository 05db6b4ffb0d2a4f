"""Chaos: a burst of signed events while the daemon and its job worker are SIGKILLed at random
points (one seed per run: where, and which first). Senders behave as real ones do: each event
has its id and is sent again (re-signed) until acknowledged. At the end, read from the store:
every acknowledged event is there once, decided once, with exactly one job: 0 lost, 0
duplicated. `FLUXORA_CHAOS_SEEDS` (default `1,2,3`) and `FLUXORA_CHAOS_EVENTS` (default 400)
size it."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select, true

from orchestrator.store import open_store
from tests.harness.fluxora import Daemon, start_daemon
from tests.harness.processes import wait_until

pytestmark = pytest.mark.integration

SEEDS = [int(s) for s in os.environ.get("FLUXORA_CHAOS_SEEDS", "1,2,3").split(",")]
EVENTS = int(os.environ.get("FLUXORA_CHAOS_EVENTS", "400"))
SENDERS = 8


class Target:
    """The daemon as the senders see it: replaced when it is killed and started again."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.acknowledged = 0
        self.lock = threading.Lock()

    def ack(self) -> int:
        with self.lock:
            self.acknowledged += 1
            return self.acknowledged


def send_until_acknowledged(target: Target, event_id: str, n: int) -> None:
    for attempt in range(600):
        # Each attempt signed for another second: a retry is never a replayed signature.
        stamp = int(time.time()) - attempt % 240
        try:
            answer = target.daemon.client.post_event(
                "fluxora/test/noop-chaos", {"n": n}, event_id, stamp
            )
        except OSError:  # killed, or restarting on another port
            time.sleep(0.05)
            continue
        if answer.status == 202:
            target.ack()
            return
        assert answer.status in {401, 503}, (answer.status, answer.body)
        time.sleep(0.05)
    pytest.fail(f"event {event_id} was never acknowledged")


def chaos(target: Target, rng: random.Random, stop: threading.Event) -> list[str]:
    """Two kills, of the daemon and of the worker in an order and at points the seed picks."""
    victims = rng.sample(["daemon", "worker"], 2)
    points = sorted(rng.sample(range(EVENTS // 8, EVENTS * 7 // 8), 2))
    done = []
    for victim, point in zip(victims, points, strict=True):
        while target.acknowledged < point and not stop.is_set():
            time.sleep(0.005)
        if stop.is_set():
            break
        if victim == "worker":
            os.kill(target.daemon.job_worker_pid(), signal.SIGKILL)
        else:
            target.daemon.server.popen.send_signal(signal.SIGKILL)
            target.daemon.server.popen.wait(10)
            target.daemon = target.daemon.restart()
        done.append(f"{victim}@{point}")
    return done


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    held = Target(start_daemon(tmp_path))
    yield held
    if held.daemon.server.popen.poll() is None:
        held.daemon.stop()


@pytest.mark.parametrize("seed", SEEDS)
def test_kills_during_a_burst_lose_and_duplicate_nothing(target: Target, seed: int) -> None:
    rng = random.Random(seed)
    ids = [f"chaos-{seed}-{n}" for n in range(EVENTS)]
    stop = threading.Event()
    with ThreadPoolExecutor(SENDERS + 1) as pool:
        kills = pool.submit(chaos, target, rng, stop)
        sent = [pool.submit(send_until_acknowledged, target, i, n) for n, i in enumerate(ids)]
        for future in sent:
            future.result()
        stop.set()
        assert len(kills.result()) == 2, kills.result()
    client = target.daemon.client
    wait_until(lambda: client.sample("fluxora_inbox_depth") == 0, 30, "every event decided")
    assert target.daemon.stop() == 0
    counts = _per_event(target.daemon.data_dir, ids)
    assert counts["events"] == dict.fromkeys(ids, 1), "lost events"
    assert counts["decisions"] == dict.fromkeys(ids, 1), "events decided other than once"
    assert counts["jobs"] == dict.fromkeys(ids, 1), "events with other than one job"


def _per_event(data_dir: Path, ids: list[str]) -> dict[str, dict[str, int]]:
    store = open_store(None, data_dir)
    try:
        tables = store.metadata.tables
        found: dict[str, dict[str, int]] = {}
        with store.engine.connect() as conn:
            decisions = tables["decisions"]
            for name, column, where in (
                ("events", tables["events"].c.id, true()),
                ("decisions", decisions.c.event_id, decisions.c.rule == "noop-on-request"),
                ("jobs", tables["jobs"].c.event_id, true()),
            ):
                query = select(column, func.count()).where(column.in_(ids), where)
                found[name] = {row[0]: row[1] for row in conn.execute(query.group_by(column))}
        return found
    finally:
        store.close()
