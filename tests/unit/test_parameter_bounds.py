"""Values that come from alerts and end in metric labels are bounded by the config: a request
naming an unknown database, kind or group is a `rejected` decision with the reason, not a job
that fails (and a new metric series for the made-up name)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS
from orchestrator.app.families import builtin_registry
from orchestrator.core.decisions import Outcome, Proposal
from orchestrator.core.events import Event, EventSource
from orchestrator.core.runbooks import ParameterSpec
from orchestrator.engine.rules.engine import RuleEngine, compile_rules
from orchestrator.engine.runbooks.catalog import default_runbooks_dir, load_catalog
from tests.unit.test_rules import View

CONFIGURED = {"databases": {"dev": ["fluxora"]}, "scaling_groups": {"dev": ["fluxora-dev-worker"]}}


def shipped(configured: Any = CONFIGURED) -> RuleEngine:
    catalog = load_catalog(default_runbooks_dir(), builtin_registry())
    rules = yaml.safe_load(EMBEDDED_DEFAULTS.read_text(encoding="utf-8"))["rules"]
    compiled = compile_rules(rules, str(EMBEDDED_DEFAULTS), catalog)
    return RuleEngine(compiled, catalog, "dev", configured=configured)


def stale(database: str, kind: str = "logical") -> Event:
    labels = {"alertname": "FluxoraBackupStale", "env": "dev", "database": database, "kind": kind}
    tag = "fluxora/alert/FluxoraBackupStale/firing"
    return Event(tag=tag, source=EventSource.ALERTMANAGER, data={"labels": labels})


def decision(proposals: list[Proposal], rule: str) -> Proposal:
    (found,) = [p for p in proposals if p.rule == rule]
    return found


def test_an_alert_naming_an_unknown_database_is_refused_with_the_reason() -> None:
    rules = shipped()
    known = decision(rules.decide(stale("fluxora"), View()), "backup-when-stale")
    assert known.outcome is Outcome.FIRED
    refused = decision(rules.decide(stale("made-up-7"), View()), "backup-when-stale")
    assert refused.outcome is Outcome.REJECTED
    assert refused.job is None
    assert refused.reason == (
        "runbook 'backup': parameter 'database': 'made-up-7' is not one of the configured "
        "databases (configured: fluxora)"
    )


def test_a_fifty_alert_group_of_unknown_databases_makes_no_job() -> None:
    rules = shipped()
    proposals = [rules.decide(stale(f"db{n}"), View()) for n in range(50)]
    outcomes = {decision(p, "backup-when-stale").outcome for p in proposals}
    assert outcomes == {Outcome.REJECTED}
    assert [p.job for found in proposals for p in found if p.job is not None] == []


def test_a_kind_outside_the_choices_is_refused() -> None:
    refused = decision(shipped().decide(stale("fluxora", "snapshot"), View()), "backup-when-stale")
    assert refused.outcome is Outcome.REJECTED
    assert refused.reason == (
        "runbook 'backup': parameter 'kind': must be one of logical, physical, got 'snapshot'"
    )


def test_a_scale_request_for_an_unknown_group_is_refused() -> None:
    asked = Event(tag="fluxora/request/runbook/scale-out", source=EventSource.WEBHOOK,
                  data={"env": "dev", "params": {"group": "other"}})  # fmt: skip
    refused = decision(shipped().decide(asked, View()), "runbook-request")
    assert refused.outcome is Outcome.REJECTED
    assert "'other' is not one of the configured scaling_groups" in refused.reason


def test_choices_and_configured_are_for_strings_and_the_default_is_a_choice() -> None:
    with pytest.raises(ValueError, match="choices and configured are for string parameters"):
        ParameterSpec(type="integer", description="n", choices=["1"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="default 'c' is not one of the choices"):
        ParameterSpec(type="string", description="k", choices=["a", "b"], default="c")  # type: ignore[arg-type]
