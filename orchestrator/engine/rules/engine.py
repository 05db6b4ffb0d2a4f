"""Deciding: every rule looks at every event, and each says what it did and why.

Checks run in this order, the first that applies decides: tag glob, `when`, templates (job
parameters, env, keys), the runbook's environments, the job's parameters against the runbook's
(defaults applied), dedup window, cooldown, lock (the runbook's, else the rule's), approval.
One rule's failure is that rule's `error` decision; the other rules still decide.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from orchestrator.core.decisions import NO_RULES, DecisionView, Outcome, Proposal
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import Event, utcnow
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.core.logs import get_logger
from orchestrator.core.runbooks import ConfiguredNames, ParameterError
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

    def bind(
        self, runbook: str, params: Mapping[str, Any], configured: ConfiguredNames | None = None
    ) -> dict[str, Any]: ...

    def lock_key(self, runbook: str, params: Mapping[str, Any], env: str) -> str | None: ...

    def declares_lock(self, runbook: str) -> bool: ...


class Rejected(FluxoraError):
    """The rule matched but its job may not be created (the reason of a `rejected` decision)."""


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

    def keys_for(self, context: Mapping[str, Any], default_env: str) -> _Keys | None:
        """What this rule would do with the event in `context`: its keys when the tag matches
        and `when` holds, None otherwise or when a template raises (an `error` decision)."""
        if not self.matches(context["event"]["tag"]):
            return None
        try:
            if self.when is not None and not self.when(context):
                return None
            return self.render(context, default_env)
        except TemplateRenderError:
            return None

    def start_without_event(self, env: str) -> tuple[str, str, dict[str, Any]] | None:
        """The runbook, env and parameters this rule starts whatever its event says: `run`
        and `env` must render from `env` alone (else None), and only the `with` keys that do
        are returned (`when` is not evaluated: it depends on the event)."""
        context = {"env": env, "event": {}}
        try:
            runbook, target = (self._render_key(key, context) for key in ("run", "env"))
        except TemplateRenderError:
            return None
        if not isinstance(self.spec.with_, Mapping):
            return str(runbook), str(target or env), {}
        return str(runbook), str(target or env), renderable(self.spec.with_, context)

    def _render_key(self, key: str, context: Mapping[str, Any]) -> Any:
        renderer = self._renderers[key]
        return renderer(context) if renderer else None

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


def renderable(templates: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Each key of `templates` rendered with `context`, leaving out the keys that cannot be
    rendered from it (they depend on an event or on earlier steps)."""
    rendered = {}
    for key, template in templates.items():
        try:
            rendered[str(key)] = compile_value(template)(context)
        except (TemplateRenderError, TemplateCompileError):
            continue
    return rendered


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
        if not is_templated(spec.run):
            _check_runbook(spec, source, runbooks)
        rules.append(rule)
    return rules


def _check_runbook(spec: RuleSpec, source: str, runbooks: RunbookPolicy) -> None:
    """A literal `run` names a runbook; a rule's lock would never apply to one with its own."""
    if spec.run not in runbooks:
        raise RuleError(source, spec.name, "run", f"no runbook named {spec.run!r}")
    if spec.lock is not None and runbooks.declares_lock(spec.run):
        reason = f"runbook {spec.run!r} declares its lock (a rule's lock is for runbooks without)"
        raise RuleError(source, spec.name, "lock", reason)


class RuleEngine:
    """`decide(event, view)` is the `Decide` callback of `Store.process_events`."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        runbooks: RunbookPolicy,
        env: str,
        clock: Callable[[], datetime] = utcnow,
        configured: Mapping[str, Mapping[str, Collection[str]]] | None = None,
    ) -> None:
        """`configured`: kind -> env -> the names configured there (`databases`): what a
        parameter declared `configured: <kind>` may name."""
        self.rules = list(rules)
        self._runbooks = runbooks
        self._env = env
        self._clock = clock
        self._configured = configured or {}

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
        try:
            keys = self._for_runbook(keys)
        except Rejected as exc:
            return Proposal(rule=rule.name, outcome=Outcome.REJECTED, reason=str(exc))
        spec, now = rule.spec, self._clock()
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

    def _for_runbook(self, keys: _Keys) -> _Keys:
        """The keys checked against the runbook: it exists, runs in the env, takes these
        parameters (defaults applied); its lock. Rejected says why not."""
        runbook = keys.runbook
        if runbook not in self._runbooks:
            raise Rejected(f"no runbook named {runbook!r}")
        if not self._runbooks.allows(runbook, keys.env):
            allowed = ", ".join(self._runbooks.environments(runbook))
            raise Rejected(
                f"runbook {runbook!r} does not run in env {keys.env!r} (runs in: {allowed})"
            )
        try:
            names = {kind: envs.get(keys.env, ()) for kind, envs in self._configured.items()}
            keys = replace(keys, params=self._runbooks.bind(runbook, keys.params, names))
        except ParameterError as exc:
            raise Rejected(str(exc)) from None
        return replace(keys, lock=self._lock(keys))

    def _lock(self, keys: _Keys) -> str | None:
        """The runbook's own lock when it declares one, else the rule's."""
        try:
            declared = self._runbooks.lock_key(keys.runbook, keys.params, keys.env)
        except TemplateRenderError as exc:
            raise TemplateRenderError(f"runbook {keys.runbook!r} lock: {exc}") from None
        return keys.lock if declared is None else declared

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
