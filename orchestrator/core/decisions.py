"""Decisions: what each rule decided about each event, and why (`fluxora-orch explain`); and
the rules' contract with the store that records them (`Decide`, `DecisionView`, `Proposal`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import Event
from orchestrator.core.jobs import Job


class Outcome(StrEnum):
    """The outcome of one rule for one event (the `decision` label of
    `fluxora_rule_decisions_total`)."""

    FIRED = "fired"
    """The rule matched and a job was created (pending, or running soon)."""
    NO_MATCH = "no-match"
    """The tag did not match the rule's glob, or its `when` expression was false."""
    SUPPRESSED_DEDUP = "suppressed:dedup"
    """A job of this rule with the same dedup key was created inside the dedup window."""
    SUPPRESSED_COOLDOWN = "suppressed:cooldown"
    """The rule fired less than its cooldown ago (per cooldown key when the rule has one)."""
    BLOCKED_LOCK = "blocked:lock"
    """A job holding the same lock key is still pending, awaiting approval or running."""
    AWAITING_APPROVAL = "awaiting-approval"
    """A job was created but waits for `fluxora-orch approve` in this environment."""
    REJECTED = "rejected"
    """The rule matched but its runbook may not run in the target environment."""
    ERROR = "error"
    """Evaluating the rule failed (a `when` or template raised); the reason holds the error.
    Other rules still decide: one bad rule cannot stop the bus."""

    @property
    def created_job(self) -> bool:
        return self in (Outcome.FIRED, Outcome.AWAITING_APPROVAL)


NO_RULES = "(no rules)"
"""The rule name of the single decision recorded for an event when no rule is configured, so
that every processed event has at least one decision to explain."""


@dataclass(frozen=True, kw_only=True)
class Decision:
    event_id: str
    rule: str
    outcome: Outcome
    reason: str
    decided_at: datetime
    job_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """A rule's decision about one event, with the job to create when it created one."""

    rule: str
    outcome: Outcome
    reason: str
    job: Job | None = None


@dataclass(frozen=True, kw_only=True)
class Processed:
    event: Event
    decisions: tuple[Decision, ...]
    jobs: tuple[Job, ...]


class DecisionView(ABC):
    """What the rules may read while deciding, inside the transaction that records the
    decisions (so a job created for an earlier event of the batch is already visible)."""

    @abstractmethod
    def last_job(
        self,
        *,
        rule: str,
        since: datetime,
        dedup_key: str | None = None,
        cooldown_key: str | None = None,
    ) -> Job | None:
        """The newest job of `rule` created at or after `since`, restricted to the given key."""

    @abstractmethod
    def lock_holder(self, lock_key: str) -> Job | None:
        """The job holding `lock_key` (pending, awaiting approval or running), if any."""


Decide = Callable[[Event, DecisionView], Sequence[Proposal]]


@dataclass(frozen=True, kw_only=True)
class DecisionLine:
    """One rule's decision as a refusal shows it."""

    rule: str
    outcome: str
    reason: str

    @property
    def decisive(self) -> bool:
        """A rule that matched (and refused, was suppressed, blocked...) explains the outcome;
        a `no-match` only says the event was not for that rule."""
        return self.outcome != Outcome.NO_MATCH.value


class NoJobError(FluxoraError):
    """No rule made a job of a request. The message leads with the decisions that mattered;
    `verbose_text` adds every rule that did not match."""

    def __init__(self, what: str, lines: Sequence[DecisionLine]) -> None:
        decisive = [line for line in lines if line.decisive]
        quiet = [line for line in lines if not line.decisive]
        head = f"no job for {what}:"
        hint = []
        if quiet and decisive:
            hint = [f"  ({len(quiet)} other rules did not match; --verbose lists them)"]
        elif quiet:
            hint = [f"  none of the {len(quiet)} rules matched (--verbose gives each one's reason)"]
        super().__init__("\n".join([head, *_lines(decisive), *hint]))
        self.verbose_text = "\n".join([head, *_lines(decisive), *_lines(quiet)])


def _lines(lines: Sequence[DecisionLine]) -> list[str]:
    return [f"  {line.rule}: {line.outcome}: {line.reason}" for line in lines]
