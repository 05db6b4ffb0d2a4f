"""The offline rule tester (StackStorm's `st2-rule-tester`): every rule's decision about an
event, as if it had just arrived at a daemon with an empty history, stored nowhere
(`fluxora-orch explain --event FILE`)."""

from __future__ import annotations

from datetime import datetime

from orchestrator.core.decisions import Decision, DecisionView, Proposal
from orchestrator.core.events import Event, utcnow
from orchestrator.core.jobs import Job
from orchestrator.engine.rules.engine import RuleEngine


class NoHistory(DecisionView):
    """No earlier job: nothing is deduplicated, cooling down or holding a lock."""

    def last_job(
        self,
        *,
        rule: str,
        since: datetime,
        dedup_key: str | None = None,
        cooldown_key: str | None = None,
    ) -> Job | None:
        return None

    def lock_holder(self, lock_key: str) -> Job | None:
        return None


def decide(engine: RuleEngine, event: Event) -> list[Decision]:
    """Every rule's decision, with the id of the job it would create."""
    now = utcnow()
    return [_decision(event, proposal, now) for proposal in engine.decide(event, NoHistory())]


def _decision(event: Event, proposal: Proposal, now: datetime) -> Decision:
    return Decision(
        event_id=event.id,
        rule=proposal.rule,
        outcome=proposal.outcome,
        reason=proposal.reason,
        decided_at=now,
        job_id=proposal.job.id if proposal.job is not None else None,
    )
