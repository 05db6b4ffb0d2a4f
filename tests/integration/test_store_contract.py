"""One contract, every store: SQLite (a file, WAL) and PostgreSQL (the machine's server)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

from orchestrator.core.decisions import DecisionView, Outcome, Proposal
from orchestrator.core.events import Event, EventSource, utcnow
from orchestrator.core.inbox import Admission, Signature, Submission
from orchestrator.core.jobs import Approval, Job, JobStatus
from orchestrator.core.journal import Completion, Phase, RunStatus, StepRecord, StepStatus
from orchestrator.engine.inbox import Inbox, Processor
from orchestrator.engine.metrics import Metrics
from orchestrator.store import open_store
from orchestrator.store.base import JobNotFoundError, JobStateError, ScheduleRun, Store
from orchestrator.store.runner import StoreRunner

pytestmark = pytest.mark.integration


def define_family_table(metadata: MetaData) -> None:
    Table(
        "scaling_actions",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("group_name", String(100)),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    environ: dict[str, str] = {}
    if request.param == "postgres":
        environ["FLUXORA_STORE_URL"] = request.getfixturevalue("pg_store_url")
    url = environ.get("FLUXORA_STORE_URL")
    opened = open_store(url, tmp_path, [define_family_table])
    opened.metadata.drop_all(opened.engine)  # a clean database
    opened.migrate()
    yield opened
    opened.close()


def event(tag: str = "fluxora/test/x", **kwargs: Any) -> Event:
    return Event(tag=tag, source=EventSource.WEBHOOK, **kwargs)


def job(**kwargs: Any) -> Job:
    return Job(runbook=kwargs.pop("runbook", "noop"), env=kwargs.pop("env", "dev"), **kwargs)


def fire_every_event(ev: Event, view: DecisionView) -> list[Proposal]:
    new = job(rule="r", event_id=ev.id, lock_key=ev.data.get("lock"), dedup_key=ev.data.get("key"))
    return [Proposal(rule="r", outcome=Outcome.FIRED, reason="fired", job=new)]


def signed(value: str, seconds_ahead: float = 0) -> Signature:
    return Signature(value=value, signed_at=utcnow() + timedelta(seconds=seconds_ahead))


def test_inbox_accepts_once_per_id_and_refuses_a_reused_signature(store: Store) -> None:
    first, second = event(id="e-1"), event(id="e-2")
    admissions = store.add_events([
        Submission(event=first, signature=signed("sig-1")),
        Submission(event=first, signature=signed("sig-2")),  # the same id, freshly signed
        Submission(event=second, signature=signed("sig-1")),  # a replayed signature
    ])  # fmt: skip
    assert admissions == [Admission.ACCEPTED, Admission.DUPLICATE, Admission.REPLAYED]
    assert store.add_events([Submission(event=first)]) == [Admission.DUPLICATE]
    assert store.unprocessed_count() == 1
    assert store.forget_signatures(utcnow() + timedelta(seconds=1)) == 2
    assert store.add_events([Submission(event=second, signature=signed("sig-1"))]) == [
        Admission.ACCEPTED
    ]


def test_an_id_reused_for_another_event_is_a_conflict(store: Store) -> None:
    original = event(id="c-1", data={"n": 1, "x": [1.5, "é"]})
    assert store.add_events([Submission(event=original)]) == [Admission.ACCEPTED]
    again = event(id="c-1", data={"x": [1.5, "é"], "n": 1})
    other_data = event(id="c-1", data={"n": 2})
    other_tag = event(tag="fluxora/test/y", id="c-1", data={"n": 1, "x": [1.5, "é"]})
    in_batch = [event(id="c-2", data={"n": 1}), event(id="c-2", data={"n": 2})]
    admissions = store.add_events([Submission(event=e) for e in (again, other_data, other_tag)])
    assert admissions == [Admission.DUPLICATE, Admission.CONFLICT, Admission.CONFLICT]
    assert store.add_events([Submission(event=e) for e in in_batch]) == [
        Admission.ACCEPTED,
        Admission.CONFLICT,
    ]
    stored = store.get_event("c-1")
    assert stored is not None
    assert stored.event.data == {"n": 1, "x": [1.5, "é"]}


def test_a_signature_is_remembered_until_its_timestamp_leaves_the_window(store: Store) -> None:
    window = timedelta(seconds=300)
    assert store.use_signature(signed("ahead", seconds_ahead=290))
    assert store.use_signature(signed("now"))
    assert not store.use_signature(signed("ahead"))
    # 364 s after arrival (when the arrival-based memory had forgotten it), a request stamped
    # 290 s ahead is still acceptable and still remembered; the one stamped at arrival is not.
    later = utcnow() + timedelta(seconds=364)
    assert store.forget_signatures(later - window) == 1
    assert not store.use_signature(signed("ahead"))
    assert store.add_events([Submission(event=event(), signature=signed("ahead"))]) == [
        Admission.REPLAYED
    ]
    assert store.forget_signatures(utcnow() + timedelta(seconds=591) - window) == 1


def test_a_store_error_carries_no_payload(store: Store) -> None:
    payload = {"password": "hunter2-payload"}
    first = store.add_job(job(params=payload))
    with pytest.raises(Exception) as error:  # noqa: PT011 - the driver's own error class
        store.add_job(job(id=first.id, params=payload))
    assert "hunter2-payload" not in str(error.value)
    assert "hidden due to hide_parameters" in str(error.value)


def test_values_json_lacks_are_stored_as_strings(store: Store) -> None:
    odd = {"rpo": float("nan"), "limits": [float("inf"), -float("inf"), 1.5]}
    stored = store.get_job(store.add_job(job(params=odd)).id)
    assert stored is not None
    assert dict(stored.params) == {"rpo": "nan", "limits": ["inf", "-inf", 1.5]}


def test_processing_records_decisions_and_jobs_oldest_first_once(store: Store) -> None:
    events = [event(data={"n": n}) for n in range(5)]
    store.add_events([Submission(event=e) for e in events])
    seen: list[str] = []

    def decide(ev: Event, view: DecisionView) -> list[Proposal]:
        seen.append(ev.id)
        return [*fire_every_event(ev, view),
                Proposal(rule="other", outcome=Outcome.NO_MATCH, reason="nope")]  # fmt: skip

    processed = store.process_events(3, decide) + store.process_events(10, decide)
    assert seen == [e.id for e in events]
    assert store.process_events(10, decide) == []
    assert store.unprocessed_count() == 0
    decisions = store.decisions_for(events[0].id)
    assert [(d.rule, d.outcome) for d in decisions] == [
        ("r", Outcome.FIRED),
        ("other", Outcome.NO_MATCH),
    ]
    job_id = processed[0].jobs[0].id
    assert decisions[0].job_id == job_id
    stored = store.get_job(job_id)
    assert stored is not None
    assert (stored.status, stored.event_id) == (JobStatus.PENDING, events[0].id)
    record = store.get_event(events[0].id)
    assert record is not None
    assert record.processed_at is not None


def test_the_view_sees_jobs_of_earlier_events_in_the_same_batch(store: Store) -> None:
    events = [event(data={"key": "same", "lock": "L"}) for _ in range(3)]
    store.add_events([Submission(event=e) for e in events])
    since = utcnow() - timedelta(minutes=1)

    def decide(ev: Event, view: DecisionView) -> list[Proposal]:
        if view.last_job(rule="r", since=since, dedup_key="same") is not None:
            return [Proposal(rule="r", outcome=Outcome.SUPPRESSED_DEDUP, reason="dup")]
        return fire_every_event(ev, view)

    processed = store.process_events(10, decide)
    assert [p.decisions[0].outcome for p in processed] == [
        Outcome.FIRED,
        Outcome.SUPPRESSED_DEDUP,
        Outcome.SUPPRESSED_DEDUP,
    ]
    store.add_events([Submission(event=event())])

    def check_view(ev: Event, view: DecisionView) -> list[Proposal]:
        holder = view.lock_holder("L")
        assert holder is not None
        assert holder.id == processed[0].jobs[0].id
        assert view.lock_holder("other") is None
        assert view.last_job(rule="r", since=since, cooldown_key="x") is None
        return []

    store.process_events(10, check_view)


def test_one_active_job_per_lock_key_is_enforced_by_the_database(store: Store) -> None:
    store.add_job(job(lock_key="postgres-main"))
    with pytest.raises(IntegrityError):
        store.add_job(job(lock_key="postgres-main"))
    store.add_job(job(lock_key="postgres-main", status=JobStatus.COMPLETED))  # finished: free


def test_each_pending_job_is_claimed_exactly_once_under_concurrency(store: Store) -> None:
    created = [store.add_job(job()) for _ in range(40)]
    claimed: dict[str, list[str]] = {"a": [], "b": []}

    def claim(owner: str) -> None:
        while batch := store.claim_jobs(owner, 3):
            claimed[owner].extend(j.id for j, _ in batch)

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == sorted(j.id for j in created)
    running = store.list_jobs(status=JobStatus.RUNNING, limit=100)
    assert {j.owner for j in running} <= {"a", "b"}
    assert len(running) == 40


def test_journal_and_final_status_round_trip(store: Store) -> None:
    store.add_job(job())
    ((claimed, journal),) = store.claim_jobs("node-1", 5)
    assert claimed.status is JobStatus.RUNNING
    assert claimed.started_at is not None
    now = utcnow()
    step = StepRecord(name="s", action="noop", phase=Phase.STEP, status=StepStatus.OK,
                      started_at=now, ended_at=now, output={"size": 3})  # fmt: skip
    journal = journal.with_step(step)
    store.save_journals([journal])
    assert store.get_journal(claimed.id) == journal
    final = journal.finish(RunStatus.COMPLETED)
    (done,) = store.finish_jobs([Completion(job_id=claimed.id, status=JobStatus.COMPLETED,
                                            journal=final)])  # fmt: skip
    assert done.status is JobStatus.COMPLETED
    assert done.finished_at is not None
    assert store.get_journal(claimed.id) == final
    assert store.count_jobs(JobStatus.COMPLETED) == {("noop", "dev"): 1}


def test_interrupting_marks_only_the_owners_running_jobs(store: Store) -> None:
    for _ in range(2):
        store.add_job(job())
    ((mine, _),) = store.claim_jobs("me", 1)
    ((theirs, _),) = store.claim_jobs("them", 1)
    ((interrupted, journal),) = store.interrupt_running("me")
    assert interrupted.id == mine.id
    assert journal.status is RunStatus.INTERRUPTED
    assert journal.rollbacks_pending
    found = store.get_job(theirs.id)
    assert found is not None
    assert found.status is JobStatus.RUNNING
    assert [j.id for j, _ in store.pending_rollbacks()] == [mine.id]
    rolled_back = replace(journal, rollbacks_pending=False)
    store.finish_jobs(
        [Completion(job_id=mine.id, status=JobStatus.INTERRUPTED, journal=rolled_back)]
    )
    assert store.pending_rollbacks() == []


def test_approval_moves_a_gated_job_once(store: Store) -> None:
    gated = store.add_job(job(status=JobStatus.AWAITING_APPROVAL))
    other = store.add_job(job(status=JobStatus.AWAITING_APPROVAL))
    approved = store.decide_approval(Approval(job_id=gated.id, approved=True, by="alice"))
    assert approved.status is JobStatus.PENDING
    rejected = store.decide_approval(Approval(job_id=other.id, approved=False, by="bob"))
    assert rejected.status is JobStatus.REJECTED
    with pytest.raises(JobStateError, match=f"job {gated.id} is pending, cannot approve"):
        store.decide_approval(Approval(job_id=gated.id, approved=True, by="alice"))
    with pytest.raises(JobNotFoundError, match="no job 'nope'"):
        store.decide_approval(Approval(job_id="nope", approved=True, by="alice"))
    approval = store.get_approval(gated.id)
    assert approval is not None
    assert (approval.approved, approval.by) == (True, "alice")


def test_schedule_runs_are_recorded_once(store: Store) -> None:
    at = utcnow().replace(microsecond=0)
    runs = [ScheduleRun(schedule="s", scheduled_at=at - timedelta(seconds=1), fired=False),
            ScheduleRun(schedule="s", scheduled_at=at, fired=True, event_id="e")]  # fmt: skip
    assert store.record_schedule_runs(runs) == runs
    assert store.record_schedule_runs(runs) == []
    assert store.last_schedule_run("s") == runs[1]
    assert store.last_schedule_run("other") is None


def test_lease_has_one_holder_and_a_fencing_token_that_grows(store: Store) -> None:
    first = store.acquire_lease("schedules", "a", ttl_seconds=60)
    assert first is not None
    assert first.token == 1
    assert store.acquire_lease("schedules", "b", ttl_seconds=60) is None
    renewed = store.acquire_lease("schedules", "a", ttl_seconds=60)
    assert renewed is not None
    assert renewed.token == 1
    store.release_lease(renewed)
    taken = store.acquire_lease("schedules", "b", ttl_seconds=60)
    assert taken is not None
    assert taken.token == 2


def test_events_are_listed_newest_first_and_filtered_by_glob(store: Store) -> None:
    now = utcnow()
    events = [
        event("fluxora/alert/a/firing", received_at=now - timedelta(seconds=2)),
        event("fluxora/schedule/x", received_at=now - timedelta(seconds=1)),
        event("fluxora/alert/b_c/firing", received_at=now),
    ]
    store.add_events([Submission(event=e) for e in events])
    assert [r.event.id for r in store.list_events(limit=2)] == [events[2].id, events[1].id]
    alerts = store.list_events(tag="fluxora/alert/*/firing")
    assert [r.event.id for r in alerts] == [events[2].id, events[0].id]
    assert store.get_event("missing") is None


def test_family_tables_live_in_the_same_store(store: Store) -> None:
    table = store.metadata.tables["scaling_actions"]
    with store.transaction() as conn:
        conn.execute(table.insert().values(group_name="forecast-workers"))
    with store.transaction() as conn:
        assert conn.execute(select(table.c.group_name)).scalar_one() == "forecast-workers"
    assert list(store.iter_family_tables()) == ["scaling_actions"]


def test_the_inbox_decides_in_the_transaction_that_accepts(store: Store) -> None:
    # No processor loop runs here: the decisions and jobs come with the intake's commit.
    accepted, woken = event(), []

    async def scenario() -> Admission:
        runner, metrics = StoreRunner(store), Metrics(CollectorRegistry())
        processor = Processor(runner, fire_every_event, metrics, lambda: woken.append(True))
        try:
            return await Inbox(runner, metrics, processor).submit(Submission(event=accepted))
        finally:
            runner.close()

    assert asyncio.run(scenario()) is Admission.ACCEPTED
    record = store.get_event(accepted.id)
    assert record is not None
    assert record.processed_at is not None
    (decision,) = store.decisions_for(accepted.id)
    assert decision.outcome is Outcome.FIRED
    assert decision.job_id is not None
    assert store.get_job(decision.job_id) is not None
    assert woken == [True]  # the executor is told about the new job


def test_a_failed_decision_keeps_the_accepted_event_for_the_processor(store: Store) -> None:
    # Deciding fails in the database (a job id already taken): rolled back to its savepoint,
    # the event still commits; the processor's loop decides it once deciding works again.
    taken = store.add_job(job())
    accepted, broken = event(), [True]

    def decide(ev: Event, view: DecisionView) -> list[Proposal]:
        proposals = fire_every_event(ev, view)
        if broken:
            clash = replace(proposals[0].job, id=taken.id)  # type: ignore[arg-type]
            return [replace(proposals[0], job=clash)]
        return proposals

    async def scenario() -> None:
        runner, metrics = StoreRunner(store), Metrics(CollectorRegistry())
        processor = Processor(runner, decide, metrics, lambda: None)
        try:
            inbox = Inbox(runner, metrics, processor)
            assert await inbox.submit(Submission(event=accepted)) is Admission.ACCEPTED
            assert store.decisions_for(accepted.id) == []
            broken.clear()
            await processor.start()
            while not store.decisions_for(accepted.id):
                await asyncio.sleep(0.01)  # polled; the deadline is wait_for's below
            await processor.stop()
        finally:
            runner.close()

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    record = store.get_event(accepted.id)
    assert record is not None
    assert record.processed_at is not None
    assert [d.outcome for d in store.decisions_for(accepted.id)] == [Outcome.FIRED]
