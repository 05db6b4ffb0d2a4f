"""The inbox's group commit when the store refuses: one event it cannot save fails only its
own submission; a store that cannot write at all fails every one alike and says so. A real
SQLite store; the refusal is a trigger in the database, the disk a tmpfs of a few hundred KiB."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.core.decisions import DecisionView, Proposal
from orchestrator.core.events import Event, EventSource
from orchestrator.core.inbox import Admission, Submission
from orchestrator.engine.inbox import EventNotStoredError, Inbox, Processor
from orchestrator.engine.metrics import Metrics
from orchestrator.store import open_store
from orchestrator.store.base import StoreUnwritableError
from orchestrator.store.runner import StoreRunner
from orchestrator.store.sql import SqlStore
from tests.harness import disk

pytestmark = pytest.mark.integration


def no_rules(event: Event, view: DecisionView) -> list[Proposal]:
    return []


def event(event_id: str, **data: object) -> Submission:
    return Submission(event=Event(tag="fluxora/test/x", source=EventSource.WEBHOOK, id=event_id, data=data))  # fmt: skip  # noqa: E501


async def submit_together(store: SqlStore, submissions: list[Submission]) -> list[object]:
    """Everything in one group commit: all are queued before the batcher's first flush."""
    metrics = Metrics(CollectorRegistry())
    runner = StoreRunner(store, metrics.store_write_failures.inc)
    inbox = Inbox(runner, metrics, Processor(runner, no_rules, metrics, lambda: None))
    try:
        return list(
            await asyncio.gather(*(inbox.submit(s) for s in submissions), return_exceptions=True)
        )
    finally:
        runner.stop()


POISON = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.id LIKE 'poison%' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    ],
    # PostgreSQL aborts the whole transaction on an error: only a savepoint saves the rest.
    "postgres": [
        "CREATE OR REPLACE FUNCTION fx_poison() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF starts_with(NEW.id, 'poison') THEN RAISE EXCEPTION 'poisoned'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fx_poison()",
    ],
}


@pytest.fixture(params=["sqlite", "postgres"])
def poisoned_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A store whose database refuses events with ids starting `poison` (a trigger)."""
    url = request.getfixturevalue("pg_store_url") if request.param == "postgres" else None
    store = open_store(url, tmp_path)
    store.metadata.drop_all(store.engine)
    store.migrate()
    with store.engine.begin() as conn:
        for statement in POISON[request.param]:
            conn.exec_driver_sql(statement)
    yield store
    store.metadata.drop_all(store.engine)
    store.close()


def test_an_event_the_store_refuses_fails_only_its_own_submission(
    poisoned_store: SqlStore,
) -> None:
    submissions = [event(f"ok-{n}") for n in range(50)]
    submissions.insert(25, event("poison-1"))
    answers = asyncio.run(submit_together(poisoned_store, submissions))
    assert answers.count(Admission.ACCEPTED) == 50
    (refused,) = [a for a in answers if not isinstance(a, Admission)]
    assert isinstance(refused, EventNotStoredError)
    assert str(refused) == "the store could not save event 'poison-1'"
    stored = {r.event.id for r in poisoned_store.list_events(limit=100)}
    assert stored == {f"ok-{n}" for n in range(50)}


@pytest.fixture
def small_disk(tmp_path: Path, run_id: str) -> Iterator[Path]:
    with disk.tmpfs(tmp_path, run_id, "512k") as mount:
        yield mount


def test_a_store_that_cannot_write_fails_every_submission_alike(small_disk: Path) -> None:
    store = open_store(None, small_disk / "data")
    store.migrate()
    filler = disk.fill(small_disk)
    big = "x" * 20_000  # more than the space left, whatever the WAL still holds
    answers = asyncio.run(submit_together(store, [event(f"full-{n}", blob=big) for n in range(40)]))
    assert answers
    assert all(isinstance(a, StoreUnwritableError) for a in answers), answers[:3]
    assert "cannot write: database or disk is full" in str(answers[0])
    with pytest.raises(StoreUnwritableError):
        store.probe_write(100_000)
    filler.unlink()
    store.probe_write(100_000)
    assert asyncio.run(submit_together(store, [event("after")])) == [Admission.ACCEPTED]
    store.close()
