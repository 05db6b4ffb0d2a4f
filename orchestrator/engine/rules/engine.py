"""Deciding: every rule looks at every event, and each says what it did and why.

Checks run in this order, the first that applies decides: tag glob, `when`, templates (job
parameters, env, keys), the runbook's environments, dedup window, cooldown, lock, approval.
One rule's failure is that rule's `error` decision; the other rules still decide.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from orchestrator.core.decisions import NO_RULES, DecisionView, Outcome, Proposal
from orchestrator.core.events import Event, utcnow
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.logs import get_logger
from orchestrator.core.templates import (
    Renderer,
    TemplateCompileError,
    TemplateRenderError,
    compile_condition,
    compile_value,
    is_templated,
)
from orchestrator.engine.rules.model import RuleError, RuleSpec, parse_rule

log = get_logger(__name__)


class RunbookPolicy(Protocol):
    """What the rules need to know about runbooks (the runbook catalog provides it)."""

    def __contains__(self, name: object) -> bool: ...

    def allows(self, runbook: str, env: str) -> bool: ...

    def environments(self, runbook: str) -> Sequence[str]: ...

    def requires_approval(self, runbook: str, env: str) -> bool: ...


@dataclass(frozen=True)
class _Keys:
    runbook: str
    dry_run: bool
    params: dict[str, Any]
    env: str
    dedup: str | None
    cooldown: str | None
    lock: str | None


class CompiledRule:
    """A rule with its templates compiled (compile errors are load errors)."""

    def __init__(self, spec: RuleSpec, source: str) -> None:
        self.spec = spec
        self.name = spec.name
        try:
            self.when = compile_condition(spec.when) if spec.when else None
        except TemplateCompileError as exc:
            raise RuleError(source, spec.name, "when", str(exc)) from None
        templates: dict[str, Any] = {
            "run": spec.run,
            "dry_run": spec.dry_run,
            "with": spec.with_,
            "env": spec.env,
            "dedup.key": spec.dedup.key if spec.dedup else None,
            "cooldown.key": spec.cooldown.key if spec.cooldown else None,
            "lock": spec.lock,
        }
        self._renderers: dict[str, Renderer | None] = {}
        for key, template in templates.items():
            try:
                self._renderers[key] = None if template is None else compile_value(template)
            except TemplateCompileError as exc:
                raise RuleError(source, spec.name, key, str(exc)) from None

    def matches(self, tag: str) -> bool:
        return fnmatch.fnmatchcase(tag, self.spec.match)

    def render(self, context: Mapping[str, Any], default_env: str) -> _Keys:
        values: dict[str, Any] = {}
        for key, renderer in self._renderers.items():
            try:
                values[key] = renderer(context) if renderer else None
            except TemplateRenderError as exc:
                raise TemplateRenderError(f"{key}: {exc}") from None
        params = values["with"]
        if not isinstance(params, dict):
            raise TemplateRenderError("with: must render to a mapping")
        if not isinstance(values["dry_run"], bool):
            raise TemplateRenderError("dry_run: must render to true or false")
        return _Keys(
            runbook=str(values["run"]),
            dry_run=values["dry_run"],
            params=params,
            env=str(values["env"] or default_env),
            dedup=_text(values["dedup.key"]),
            cooldown=_text(values["cooldown.key"]),
            lock=_text(values["lock"]),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def compile_rules(
    raw_rules: Sequence[Any], source: str, runbooks: RunbookPolicy
) -> list[CompiledRule]:
    """Validate and compile every rule; the first invalid one raises RuleError."""
    rules: list[CompiledRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        spec = parse_rule(raw, index, source)
        if spec.name in seen:
            raise RuleError(source, spec.name, "name", "another rule has this name")
        seen.add(spec.name)
        rule = CompiledRule(spec, source)
        if not is_templated(spec.run) and spec.run not in runbooks:
            raise RuleError(source, spec.name, "run", f"no runbook named {spec.run!r}")
        rules.append(rule)
    return rules


class RuleEngine:
    """`decide(event, view)` is the `Decide` callback of `Store.process_events`."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        runbooks: RunbookPolicy,
        env: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.rules = list(rules)
        self._runbooks = runbooks
        self._env = env
        self._clock = clock

    def decide(self, event: Event, view: DecisionView) -> list[Proposal]:
        if not self.rules:
            return [Proposal(rule=NO_RULES, outcome=Outcome.NO_MATCH, reason="no rules")]
        return [self._isolated(rule, event, view) for rule in self.rules]

    def _isolated(self, rule: CompiledRule, event: Event, view: DecisionView) -> Proposal:
        try:
            return self._decide(rule, event, view)
        except TemplateRenderError as exc:
            return Proposal(rule=rule.name, outcome=Outcome.ERROR, reason=str(exc))
        except Exception as exc:  # one bad rule cannot stop the bus
            log.exception("rule failed", rule=rule.name, event_id=event.id)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            return Proposal(rule=rule.name, outcome=Outcome.ERROR, reason=reason)

    def _decide(self, rule: CompiledRule, event: Event, view: DecisionView) -> Proposal:
        if not rule.matches(event.tag):
            reason = f"tag {event.tag!r} does not match {rule.spec.match!r}"
            return Proposal(rule=rule.name, outcome=Outcome.NO_MATCH, reason=reason)
        context = {"event": event_context(event), "env": self._env}
        if rule.when is not None:
            try:
                passed = rule.when(context)
            except TemplateRenderError as exc:
                raise TemplateRenderError(f"when: {exc}") from None
            if not passed:
                reason = f"when is false: {rule.spec.when}"
                return Proposal(rule=rule.name, outcome=Outcome.NO_MATCH, reason=reason)
        keys = rule.render(context, self._env)
        return self._limits(rule, event, keys, view)

    def _limits(
        self, rule: CompiledRule, event: Event, keys: _Keys, view: DecisionView
    ) -> Proposal:
        spec, now = rule.spec, self._clock()
        runbook = keys.runbook
        if runbook not in self._runbooks:
            reason = f"no runbook named {runbook!r}"
            return Proposal(rule=rule.name, outcome=Outcome.REJECTED, reason=reason)
        if not self._runbooks.allows(runbook, keys.env):
            allowed = ", ".join(self._runbooks.environments(runbook))
            reason = f"runbook {runbook!r} does not run in env {keys.env!r} (runs in: {allowed})"
            return Proposal(rule=rule.name, outcome=Outcome.REJECTED, reason=reason)
        if spec.dedup is not None:
            since = now - timedelta(seconds=spec.dedup.window)
            earlier = view.last_job(rule=rule.name, since=since, dedup_key=keys.dedup)
            if earlier is not None:
                reason = (
                    f"job {earlier.id} has the same dedup key {keys.dedup!r}, created "
                    f"{_ago(now, earlier)} ago (window {spec.dedup.window:g}s)"
                )
                return Proposal(rule=rule.name, outcome=Outcome.SUPPRESSED_DEDUP, reason=reason)
        if spec.cooldown is not None:
            since = now - timedelta(seconds=spec.cooldown.window)
            earlier = view.last_job(rule=rule.name, since=since, cooldown_key=keys.cooldown)
            if earlier is not None:
                reason = (
                    f"rule fired {_ago(now, earlier)} ago (job {earlier.id}), inside its "
                    f"{spec.cooldown.window:g}s cooldown"
                )
                outcome = Outcome.SUPPRESSED_COOLDOWN
                return Proposal(rule=rule.name, outcome=outcome, reason=reason)
        if keys.lock is not None:
            holder = view.lock_holder(keys.lock)
            if holder is not None:
                reason = f"lock {keys.lock!r} is held by job {holder.id} ({holder.status})"
                return Proposal(rule=rule.name, outcome=Outcome.BLOCKED_LOCK, reason=reason)
        return self._job(rule, event, keys, now)

    def _job(self, rule: CompiledRule, event: Event, keys: _Keys, now: datetime) -> Proposal:
        runbook = keys.runbook
        gated = self._runbooks.requires_approval(runbook, keys.env) or rule.spec.approval.get(
            keys.env, False
        )
        job = Job(
            runbook=runbook,
            env=keys.env,
            params=keys.params,
            status=JobStatus.AWAITING_APPROVAL if gated else JobStatus.PENDING,
            rule=rule.name,
            event_id=event.id,
            dedup_key=keys.dedup,
            cooldown_key=keys.cooldown,
            lock_key=keys.lock,
            dry_run=keys.dry_run,
            created_at=now,
        )
        if gated:
            reason = (
                f"job {job.id} for runbook {runbook!r} needs approval in env {keys.env!r}: "
                f"fluxora-orch approve {job.id}"
            )
            return Proposal(
                rule=rule.name, outcome=Outcome.AWAITING_APPROVAL, reason=reason, job=job
            )
        reason = f"job {job.id} created for runbook {runbook!r} in env {keys.env!r}"
        return Proposal(rule=rule.name, outcome=Outcome.FIRED, reason=reason, job=job)


def _ago(now: datetime, job: Job) -> str:
    return f"{max(0.0, (now - job.created_at).total_seconds()):.1f}s"


def event_context(event: Event) -> dict[str, Any]:
    """What rule templates see as `event`."""
    return {
        "id": event.id,
        "tag": event.tag,
        "source": event.source.value,
        "data": dict(event.data),
        "received_at": event.received_at.isoformat(),
    }
