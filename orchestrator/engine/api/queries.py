"""The read queries behind /api/ and the CLI's offline mode, on a store."""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import FluxoraError
from orchestrator.core.jobs import JobStatus
from orchestrator.engine.api.views import event_view, explain_view, job_detail_view, job_view
from orchestrator.store.base import Store


class NotFoundError(FluxoraError, LookupError):
    pass


def list_events(store: Store, limit: int = 50, tag: str | None = None) -> list[dict[str, Any]]:
    return [event_view(r) for r in store.list_events(limit=limit, tag=tag)]


def explain(store: Store, event_id: str) -> dict[str, Any]:
    record = store.get_event(event_id)
    if record is None:
        raise NotFoundError(f"no event {event_id!r}")
    return explain_view(record, store.decisions_for(event_id))


def list_jobs(
    store: Store, limit: int = 50, status: str | None = None, runbook: str | None = None
) -> list[dict[str, Any]]:
    wanted = JobStatus(status) if status else None
    return [job_view(j) for j in store.list_jobs(limit=limit, status=wanted, runbook=runbook)]


def job_detail(store: Store, job_id: str) -> dict[str, Any]:
    job = store.get_job(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r}")
    return job_detail_view(job, store.get_journal(job_id), store.get_approval(job_id))
