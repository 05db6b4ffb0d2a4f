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
from orchestrator.scaling.config import GroupPolicy, ScalingConfig
from orchestrator.scaling.decide import Observed, Request, Suppression, Verdict, decide
from orchestrator.scaling.groups import AWS_ERRORS, Groups, GroupState
from orchestrator.scaling.history import Entry, History, Outcome
from orchestrator.store.base import Store


def dr_lock_key(env: str) -> str:
    """The lock a DR drill or failover of `env` holds (the contract with the DR rules)."""
    return f"dr/{env}"


@dataclass(frozen=True, kw_only=True)
class Call:
    """Who asks: the environment, the job (None when run outside a job) and whether to plan."""

    env: str
    job_id: str | None
    dry_run: bool = False


class Scaler:
    def __init__(
        self,
        config: ScalingConfig,
        store: Store,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.history = History(store)
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def policy(self, group: str, env: str) -> GroupPolicy:
        return self.config.policy(group, env)

    def read(self, groups: Groups, group: str, env: str) -> dict[str, Any]:
        policy = self.policy(group, env)
        state = groups.read(group, policy.warmup_seconds, self.clock())
        return {"group": group, "env": env, "desired": state.desired, **_state(state)}

    def scale(self, call: Call, groups: Groups, group: str, request: Request) -> dict[str, Any]:
        """Decide and (unless suppressed or a dry run) apply; return the result's data.
        One request per group at a time in this process."""
        policy = self.policy(group, call.env)
        with self._lock(group):
            request = replace(request, approved=self._approved(call))
            verdict = decide(policy, request, self._observe(groups, group, policy, call.env))
            data = _data(group, call.env, verdict)
            if call.dry_run:
                return {**data, "result": Outcome.PLANNED.value}
            if verdict.applies:
                data = _set_desired(groups, group, verdict.target, data)
            return self._record(call, group, request, verdict, data)

    def _record(
        self, call: Call, group: str, request: Request, verdict: Verdict, data: dict[str, Any]
    ) -> dict[str, Any]:
        gated = (
            self._ask_approval(call.job_id) if verdict.suppressed is Suppression.APPROVAL else None
        )
        if gated is not None:
            data = {
                **data,
                "approval_job": gated,
                "reason": f"{data['reason']}; job {gated} awaits approval",
            }
        entry = Entry(
            group=group,
            env=call.env,
            at=self.clock(),
            direction=verdict.direction,
            current=verdict.current,
            requested=verdict.requested,
            target=verdict.target,
            result=Outcome(data["result"]),
            reason=data["reason"],
            suppressed=data["suppressed"],
            intent=not request.follow,
            job_id=call.job_id,
        )
        self.history.record(entry)
        return data

    def _observe(self, groups: Groups, group: str, policy: GroupPolicy, env: str) -> Observed:
        now = self.clock()
        state = groups.read(group, policy.warmup_seconds, now)
        holder = self.store.lock_holder(dr_lock_key(env))
        return Observed(
            now=now,
            desired=state.desired,
            warming=state.warming,
            last_action_at=self.history.last_applied_at(group),
            last_intent=self.history.last_intent(group),
            lock_holder=_holder(holder),
        )

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


def _set_desired(groups: Groups, group: str, target: int, data: dict[str, Any]) -> dict[str, Any]:
    try:
        groups.set_desired(group, target)
    except AWS_ERRORS as exc:
        reason = f"setting the desired capacity of {group} to {target} failed: {exc}"
        return {**data, "result": Outcome.FAILED.value, "reason": reason}
    return {**data, "desired": target, "result": Outcome.APPLIED.value}


def _holder(job: Job | None) -> str | None:
    if job is None:
        return None
    return f"job {job.id} ({job.runbook}, {job.status})"


def _state(state: GroupState) -> dict[str, Any]:
    return {
        "min": state.min,
        "max": state.max,
        "instances": state.instances,
        "warming": state.warming,
    }


def _data(group: str, env: str, verdict: Verdict) -> dict[str, Any]:
    result = Outcome.UNCHANGED if verdict.suppressed is None else Outcome.SUPPRESSED
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
