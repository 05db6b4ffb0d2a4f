"""One JSON shape per object, whether the CLI reads it from the daemon or from the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.core.decisions import Decision
from orchestrator.core.events import EventRecord
from orchestrator.core.jobs import Approval, Job
from orchestrator.core.journal import Journal


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_view(record: EventRecord) -> dict[str, Any]:
    event = record.event
    return {
        "id": event.id,
        "tag": event.tag,
        "source": event.source.value,
        "received_at": _time(event.received_at),
        "processed_at": _time(record.processed_at),
        "data": dict(event.data),
    }


def decision_view(decision: Decision) -> dict[str, Any]:
    return {
        "rule": decision.rule,
        "decision": decision.outcome.value,
        "reason": decision.reason,
        "job_id": decision.job_id,
        "decided_at": _time(decision.decided_at),
    }


def explain_view(record: EventRecord, decisions: list[Decision]) -> dict[str, Any]:
    return {**event_view(record), "decisions": [decision_view(d) for d in decisions]}


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "runbook": job.runbook,
        "env": job.env,
        "status": job.status.value,
        "rule": job.rule,
        "event_id": job.event_id,
        "params": dict(job.params),
        "dry_run": job.dry_run,
        "lock_key": job.lock_key,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "owner": job.owner,
    }


def approval_view(approval: Approval | None) -> dict[str, Any] | None:
    if approval is None:
        return None
    return {
        "approved": approval.approved,
        "by": approval.by,
        "at": _time(approval.at),
        "comment": approval.comment,
    }


def job_detail_view(job: Job, journal: Journal | None, approval: Approval | None) -> dict[str, Any]:
    return {
        **job_view(job),
        "journal": journal.to_dict() if journal else None,
        "approval": approval_view(approval),
    }
