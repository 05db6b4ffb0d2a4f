from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS
from orchestrator.app.families import builtin_registry
from orchestrator.core.decisions import NO_RULES, DecisionView, Outcome
from orchestrator.core.events import Event, EventSource, utcnow
from orchestrator.core.jobs import Job, JobStatus
from orchestrator.engine.rules.engine import RuleEngine, compile_rules
from orchestrator.engine.rules.model import RuleError
from orchestrator.engine.runbooks.catalog import default_runbooks_dir, load_catalog


class Runbooks:
    """A RunbookPolicy: `noop` runs in dev and prod (prod gated), `drill` only in staging and
    declares its lock."""

    envs: ClassVar[dict[str, list[str]]] = {"noop": ["dev", "prod"], "drill": ["staging"]}

    def __contains__(self, name: object) -> bool:
        return name in self.envs

    def allows(self, runbook: str, env: str) -> bool:
        return env in self.envs[runbook]

    def environments(self, runbook: str) -> list[str]:
        return self.envs[runbook]

    def requires_approval(self, runbook: str, env: str) -> bool:
        return env == "prod"

    def bind(self, runbook: str, params: Any, configured: Any = None) -> dict[str, Any]:
        return dict(params)

    def lock_key(self, runbook: str, params: Any, env: str) -> str | None:
        return "drills" if runbook == "drill" else None

    def declares_lock(self, runbook: str) -> bool:
        return runbook == "drill"


class View(DecisionView):
    def __init__(self, jobs: list[Job] | None = None) -> None:
        self.jobs = jobs or []

    def last_job(self, *, rule: str, since: datetime, dedup_key: str | None = None,
                 cooldown_key: str | None = None) -> Job | None:  # fmt: skip
        found = [j for j in self.jobs if j.rule == rule and j.created_at >= since
                 and dedup_key in (None, j.dedup_key)
                 and cooldown_key in (None, j.cooldown_key)]  # fmt: skip
        return found[-1] if found else None

    def lock_holder(self, lock_key: str) -> Job | None:
        return next((j for j in self.jobs if j.lock_key == lock_key), None)


def engine(*rules: dict[str, Any], env: str = "dev") -> RuleEngine:
    return RuleEngine(compile_rules(list(rules), "rules.yaml", Runbooks()), Runbooks(), env)


def ev(tag: str = "fluxora/alert/PgDown/firing", **data: Any) -> Event:
    return Event(tag=tag, source=EventSource.ALERTMANAGER, data=data)


RULE = {"name": "restore", "match": "fluxora/alert/*/firing", "run": "noop"}


def test_fired_rule_creates_a_job_with_templated_parameters() -> None:
    rule = {**RULE, "with": {"db": "{{ event.data.labels.db }}", "n": "{{ event.data.n }}",
                             "label": "db-{{ event.data.labels.db }}"}}  # fmt: skip
    (proposal,) = engine(rule).decide(ev(labels={"db": "forecasts"}, n=3), View())
    assert proposal.outcome is Outcome.FIRED
    assert proposal.job is not None
    assert proposal.job.params == {"db": "forecasts", "n": 3, "label": "db-forecasts"}
    assert proposal.job.status is JobStatus.PENDING
    assert proposal.reason == f"job {proposal.job.id} created for runbook 'noop' in env 'dev'"


def test_glob_and_when_decide_no_match_with_the_reason() -> None:
    rules = engine({**RULE, "when": "event.data.severity == 'critical'"})
    (other_tag,) = rules.decide(ev("fluxora/schedule/x"), View())
    assert other_tag.outcome is Outcome.NO_MATCH
    assert other_tag.reason == "tag 'fluxora/schedule/x' does not match 'fluxora/alert/*/firing'"
    (falsy,) = rules.decide(ev(severity="warning"), View())
    assert (falsy.outcome, falsy.reason) == (
        Outcome.NO_MATCH,
        "when is false: event.data.severity == 'critical'",
    )
    (missing,) = rules.decide(ev(), View())  # a missing field in `when` is just false
    assert missing.outcome is Outcome.NO_MATCH


def test_a_failing_template_is_that_rules_error_and_other_rules_still_decide() -> None:
    bad = {**RULE, "name": "bad", "with": {"db": "{{ event.data.labels.db }}"}}
    good = {**RULE, "name": "good"}
    first, second = engine(bad, good).decide(ev(), View())
    assert first.outcome is Outcome.ERROR
    assert first.reason.startswith("with: UndefinedError: ")
    assert second.outcome is Outcome.FIRED


def test_sandbox_refuses_unsafe_expressions() -> None:
    rule = {**RULE, "when": "event.__class__.__mro__[1].__subclasses__()"}
    (proposal,) = engine(rule).decide(ev(), View())
    assert proposal.outcome is Outcome.ERROR
    assert "SecurityError" in proposal.reason or "UndefinedError" in proposal.reason


def test_dedup_window_suppresses_a_job_with_the_same_key() -> None:
    rule = {**RULE, "dedup": {"key": "{{ event.data.fingerprint }}", "window": "10m"}}
    earlier = Job(runbook="noop", env="dev", rule="restore", dedup_key="fp1")
    (same,) = engine(rule).decide(ev(fingerprint="fp1"), View([earlier]))
    assert same.outcome is Outcome.SUPPRESSED_DEDUP
    assert f"job {earlier.id} has the same dedup key 'fp1'" in same.reason
    (other,) = engine(rule).decide(ev(fingerprint="fp2"), View([earlier]))
    assert other.outcome is Outcome.FIRED
    old = Job(runbook="noop", env="dev", rule="restore", dedup_key="fp1",
              created_at=utcnow() - timedelta(minutes=11))  # fmt: skip
    (expired,) = engine(rule).decide(ev(fingerprint="fp1"), View([old]))
    assert expired.outcome is Outcome.FIRED


def test_cooldown_and_lock() -> None:
    earlier = Job(runbook="noop", env="dev", rule="restore", lock_key="pg")
    (cool,) = engine({**RULE, "cooldown": "1h"}).decide(ev(), View([earlier]))
    assert cool.outcome is Outcome.SUPPRESSED_COOLDOWN
    assert "inside its 3600s cooldown" in cool.reason
    holder = Job(runbook="noop", env="dev", rule="elsewhere", lock_key="pg",
                 status=JobStatus.RUNNING)  # fmt: skip
    (locked,) = engine({**RULE, "lock": "pg"}).decide(ev(), View([holder]))
    assert locked.outcome is Outcome.BLOCKED_LOCK
    assert locked.reason == f"lock 'pg' is held by job {holder.id} (running)"


def test_approval_per_environment_and_runbook_environments() -> None:
    (gated,) = engine(RULE, env="prod").decide(ev(), View())
    assert gated.outcome is Outcome.AWAITING_APPROVAL
    assert gated.job is not None
    assert gated.job.status is JobStatus.AWAITING_APPROVAL
    (stricter,) = engine({**RULE, "approval": {"dev": True}}).decide(ev(), View())
    assert stricter.outcome is Outcome.AWAITING_APPROVAL
    (wrong_env,) = engine({**RULE, "run": "drill"}).decide(ev(), View())
    assert wrong_env.outcome is Outcome.REJECTED
    assert wrong_env.reason == "runbook 'drill' does not run in env 'dev' (runs in: staging)"
    (targeted,) = engine({**RULE, "run": "drill", "env": "staging"}).decide(ev(), View())
    assert targeted.outcome is Outcome.FIRED


def test_no_rules_still_records_a_decision() -> None:
    (proposal,) = RuleEngine([], Runbooks(), "dev").decide(ev(), View())
    assert (proposal.rule, proposal.outcome) == (NO_RULES, Outcome.NO_MATCH)


INVALID = {
    "unknown key": ({**RULE, "colour": "red"}, "rule 'restore': colour: unknown key"),
    "bad glob": ({**RULE, "match": "a/[b"}, "rule 'restore': match: bad glob 'a/[b': unclosed '['"),
    "empty segment": ({**RULE, "match": "a//b"},
                      "rule 'restore': match: bad glob 'a//b': empty tag segment"),
    "when": ({**RULE, "when": "x ==="}, "rule 'restore': when: does not compile: unexpected '='"),
    "with": ({**RULE, "with": {"a": "{{ x"}},
             "rule 'restore': with: does not compile: unexpected end of template, expected 'end of print statement'."),  # noqa: E501
    "no runbook": ({**RULE, "run": "nope"}, "rule 'restore': run: no runbook named 'nope'"),
    "bad duration": ({**RULE, "cooldown": "5 fortnights"},
                     "rule 'restore': cooldown.window: not a duration: '5 fortnights' (use seconds or e.g. 90s, 5m, 1h30m)"),  # noqa: E501
    "no name": ({"match": "a", "run": "noop"}, "rule '#1': name: Field required"),
    "dry_run text": ({**RULE, "dry_run": "maybe"},
                     "rule 'restore': dry_run: 'maybe' is neither a value of the right type nor a template"),  # noqa: E501
    "with text": ({**RULE, "with": "params"},
                  "rule 'restore': with: 'params' is neither a value of the right type nor a template"),  # noqa: E501
    "lock the runbook declares": ({**RULE, "run": "drill", "lock": "dr/{{ env }}"},
                                  "rule 'restore': lock: runbook 'drill' declares its lock (a rule's lock is for runbooks without)"),  # noqa: E501
    "run template": ({**RULE, "run": "{{ event.tag"},
                     "rule 'restore': run: does not compile: unexpected end of template, expected 'end of print statement'."),  # noqa: E501
}  # fmt: skip


@pytest.mark.parametrize(("raw", "message"), INVALID.values(), ids=INVALID.keys())
def test_invalid_rule_names_file_rule_and_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError) as error:
        compile_rules([raw], "rules.yaml", Runbooks())
    assert str(error.value) == f"rules.yaml: {message}"


def test_duplicate_rule_names_are_an_error() -> None:
    with pytest.raises(RuleError, match="rule 'restore': name: another rule has this name"):
        compile_rules([RULE, RULE], "rules.yaml", Runbooks())


REQUEST = {
    "name": "runbook-request",
    "match": "fluxora/request/runbook/*",
    "run": "{{ event.tag.split('/')[3] }}",
    "env": "{{ event.data.env | default(env) }}",
    "with": "{{ event.data.params | default({}) }}",
    "dry_run": "{{ event.data.dry_run | default(false) }}",
}


def test_the_request_rule_names_runbook_env_params_and_dry_run_from_the_event() -> None:
    request = ev("fluxora/request/runbook/noop", params={"seconds": 3}, dry_run=True)
    (fired,) = engine(REQUEST).decide(request, View())
    assert fired.outcome is Outcome.FIRED
    assert fired.job is not None
    assert (fired.job.runbook, fired.job.env, fired.job.dry_run) == ("noop", "dev", True)
    assert dict(fired.job.params) == {"seconds": 3}
    (gated,) = engine(REQUEST).decide(ev("fluxora/request/runbook/noop", env="prod"), View())
    assert gated.outcome is Outcome.AWAITING_APPROVAL


def test_a_request_for_an_unknown_runbook_is_rejected_with_its_name() -> None:
    (rejected,) = engine(REQUEST).decide(ev("fluxora/request/runbook/nope"), View())
    assert rejected.outcome is Outcome.REJECTED
    assert rejected.reason == "no runbook named 'nope'"
    (bad,) = engine(REQUEST).decide(ev("fluxora/request/runbook/noop", dry_run="x"), View())
    assert bad.outcome is Outcome.ERROR
    assert bad.reason == "dry_run: must render to true or false"


def shipped_engine() -> RuleEngine:
    """The embedded dev rules over the shipped runbooks."""
    catalog = load_catalog(default_runbooks_dir(), builtin_registry())
    rules = yaml.safe_load(EMBEDDED_DEFAULTS.read_text(encoding="utf-8"))["rules"]
    return RuleEngine(compile_rules(rules, str(EMBEDDED_DEFAULTS), catalog), catalog, "dev")


def job_of(proposals: list[Any]) -> Job:
    (job,) = [p.job for p in proposals if p.job is not None]
    return job


def test_a_requested_restore_verify_and_a_scheduled_one_take_the_runbooks_one_lock() -> None:
    rules = shipped_engine()
    schedule = ev("fluxora/schedule/restore-verify-fluxora", database="fluxora", kind="logical")
    scheduled = job_of(rules.decide(schedule, View()))
    asked = ev("fluxora/request/runbook/restore-verify", env="dev", params={"backup_id": "b1"})
    decisions = rules.decide(asked, View([scheduled]))
    (request,) = [d for d in decisions if d.rule == "runbook-request"]
    assert request.outcome is Outcome.BLOCKED_LOCK
    assert request.reason == f"lock 'restore-verify/dev' is held by job {scheduled.id} (pending)"


def test_a_request_with_an_unknown_or_mistyped_parameter_is_rejected_naming_it() -> None:
    rules = shipped_engine()

    def request(**params: Any) -> Any:
        asked = ev("fluxora/request/runbook/postgres-failover", env="dev", params=params)
        (decision,) = [d for d in rules.decide(asked, View()) if d.rule == "runbook-request"]
        return decision

    misspelt = request(clustr="main")
    assert misspelt.outcome is Outcome.REJECTED
    assert misspelt.reason == (
        "runbook 'postgres-failover': parameter 'clustr': unknown (known: cluster, "
        "inject_fault, mode)"
    )
    mistyped = request(inject_fault="yes")
    assert mistyped.outcome is Outcome.REJECTED
    assert mistyped.reason == (
        "runbook 'postgres-failover': parameter 'inject_fault': must be a boolean, got str 'yes'"
    )


def test_a_job_gets_the_runbooks_defaults_for_what_it_leaves_out() -> None:
    asked = ev("fluxora/request/runbook/postgres-failover", env="dev", params={"mode": "planned"})
    job = job_of(shipped_engine().decide(asked, View()))
    assert job.params == {"cluster": "main", "mode": "planned", "inject_fault": False}
