"""`Scaler`: one scaling request from start to end: policy, what AWS and the store say now, the
decision, the AWS call, and the history row. The `aws.asg.*` actions call it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from orchestrator.core.events import utcnow
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.resources import ResourceKey
from orchestrator.families.aws.asg import AWS_ERRORS, Groups, GroupState
from orchestrator.families.scaling.config import GroupPolicy, ScalingConfig, ScalingError
from orchestrator.families.scaling.decide import (
    Observed,
    Request,
    ScalingDecision,
    Suppression,
    decide,
)
from orchestrator.families.scaling.history import Entry, History, LastAction, ScalingResult
from orchestrator.store.base import Store
from orchestrator.store.schema import FamilyTables


def dr_lock_key(env: str) -> str:
    """The lock a DR drill or failover of `env` holds (the contract with the DR rules)."""
    return f"dr/{env}"


@dataclass(frozen=True, kw_only=True)
class Call:
    """Who asks: the environment, the job (None when run outside a job) and whether to plan."""

    env: str
    job_id: str | None
    dry_run: bool = False


@dataclass(frozen=True, kw_only=True)
class _Ask:
    call: Call
    groups: Groups
    group: str
    policy: GroupPolicy
    request: Request


CLAIM_ATTEMPTS = 3


class Scaler:
    def __init__(
        self,
        config: ScalingConfig,
        store: Store,
        tables: FamilyTables,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.history = History(tables)
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def policy(self, group: str, env: str) -> GroupPolicy:
        return self.config.policy(group, env)

    def read(self, groups: Groups, group: str, env: str) -> dict[str, Any]:
        policy = self.policy(group, env)
        state = groups.read(group, policy.region, policy.warmup_seconds, self.clock())
        return {"group": group, "env": env, "desired": state.desired, **_state(state)}

    def scale(self, call: Call, groups: Groups, group: str, request: Request) -> dict[str, Any]:
        """Decide and (unless suppressed or a dry run) apply; return the result's data.
        One request per group at a time in this process; across daemons, the generation in
        the history lets only one of two requests decided on the same history act."""
        ask = _Ask(
            call=call,
            groups=groups,
            group=group,
            policy=self.policy(group, call.env),
            request=replace(request, approved=self._approved(call)),
        )
        with self._lock(group):
            for _ in range(CLAIM_ATTEMPTS):
                outcome = self._attempt(ask)
                if outcome is not None:
                    return outcome
        raise ScalingError(f"group {group}: other requests acted first {CLAIM_ATTEMPTS} times")

    def _attempt(self, ask: _Ask) -> dict[str, Any] | None:
        """The request's outcome; None when another request acted since we looked."""
        seen, last = self._observe(ask)
        verdict = decide(ask.policy, ask.request, seen)
        data = _data(ask.group, ask.call.env, verdict)
        if ask.call.dry_run:
            return {**data, "result": ScalingResult.PLANNED.value}
        if not verdict.applies:
            return self._record(ask, verdict, data)
        return self._apply(ask, verdict, data, (last.generation if last else 0) + 1)

    def _apply(
        self, ask: _Ask, verdict: ScalingDecision, data: dict[str, Any], generation: int
    ) -> dict[str, Any] | None:
        applied = {**data, "desired": verdict.target, "result": ScalingResult.APPLIED.value}
        row = self.history.record(self._entry(ask, verdict, applied), generation)
        if row is None:
            return None
        try:
            ask.groups.set_desired(ask.group, ask.policy.region, verdict.target)
        except AWS_ERRORS as exc:
            reason = (
                f"setting the desired capacity of {ask.group} to {verdict.target} failed: {exc}"
            )
            self.history.mark_failed(row, reason)
            return {**data, "result": ScalingResult.FAILED.value, "reason": reason}
        return applied

    def _record(self, ask: _Ask, verdict: ScalingDecision, data: dict[str, Any]) -> dict[str, Any]:
        gated = None
        if verdict.suppressed is Suppression.APPROVAL:
            gated = self._ask_approval(ask.call.job_id)
        if gated is not None:
            reason = f"{data['reason']}; job {gated} awaits approval"
            data = {**data, "approval_job": gated, "reason": reason}
        self.history.record(self._entry(ask, verdict, data))
        return data

    def _entry(self, ask: _Ask, verdict: ScalingDecision, data: dict[str, Any]) -> Entry:
        return Entry(
            group=ask.group,
            env=ask.call.env,
            at=self.clock(),
            direction=verdict.direction,
            current=verdict.current,
            requested=verdict.requested,
            target=verdict.target,
            result=ScalingResult(data["result"]),
            reason=data["reason"],
            suppressed=data["suppressed"],
            intent=not ask.request.follow,
            job_id=ask.call.job_id,
        )

    def _observe(self, ask: _Ask) -> tuple[Observed, LastAction | None]:
        # The store first: a request acting after this read takes the generation this one
        # would take, so this one looks again instead of acting on a stale view.
        last = self.history.last_action(ask.group)
        intent = self.history.last_intent(ask.group)
        holder = self.store.lock_holder(dr_lock_key(ask.call.env))
        now = self.clock()
        state = ask.groups.read(ask.group, ask.policy.region, ask.policy.warmup_seconds, now)
        job_id = ask.call.job_id
        seen = Observed(
            now=now,
            desired=state.desired,
            warming=state.warming,
            last_action_at=last.at if last else None,
            last_intent=intent,
            lock_holder=_holder(holder, job_id),
            own_last_action=job_id is not None and last is not None and last.job_id == job_id,
        )
        return seen, last

    def _approved(self, call: Call) -> bool:
        if call.job_id is None:
            return False
        approval = self.store.get_approval(call.job_id)
        return approval is not None and approval.approved

    def _ask_approval(self, job_id: str | None) -> str | None:
        """A copy of the asking job that waits for `fluxora-orch approve` (none outside a job)."""
        job = self.store.get_job(job_id) if job_id is not None else None
        if job is None:
            return None
        gated = Job(
            runbook=job.runbook,
            env=job.env,
            params=job.params,
            status=JobStatus.AWAITING_APPROVAL,
            rule=job.rule,
            event_id=job.event_id,
        )
        return self.store.add_job(gated).id

    def _lock(self, group: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(group, threading.Lock())


def _holder(job: Job | None, asking: str | None) -> str | None:
    """Who blocks a scale-in by holding the DR lock: not the asking job itself (an evacuation's
    rollback scales its own DR groups back in while it holds `dr/<env>`)."""
    if job is None or job.id == asking:
        return None
    return f"job {job.id} ({job.runbook}, {job.status})"


def _state(state: GroupState) -> dict[str, Any]:
    return {
        "min": state.min,
        "max": state.max,
        "instances": state.instances,
        "warming": state.warming,
    }


def _data(group: str, env: str, verdict: ScalingDecision) -> dict[str, Any]:
    result = ScalingResult.UNCHANGED if verdict.suppressed is None else ScalingResult.SUPPRESSED
    return {
        "group": group,
        "env": env,
        "direction": verdict.direction.value,
        "current": verdict.current,
        "requested": verdict.requested,
        "target": verdict.target,
        "desired": verdict.current,
        "clamp": verdict.clamp,
        "result": result.value,
        "suppressed": verdict.suppressed.value if verdict.suppressed else None,
        "reason": verdict.reason,
    }


SCALING = ResourceKey[Scaler]("scaling")
