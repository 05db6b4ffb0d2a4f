"""Every rule the documentation names is a shipped rule (the embedded dev defaults or pillar's
`fluxora:rules`): an operator who looks a rule up with `explain` finds it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import yaml

from orchestrator.app.config import EMBEDDED_DEFAULTS
from orchestrator.core.decisions import Outcome
from orchestrator.core.jobs import JobStatus
from orchestrator.families.security.policy import RULES as SECURITY_RULES

REPO = Path(__file__).resolve().parents[2]
PILLAR = REPO / "salt" / "pillar" / "fluxora"
DOCUMENTS = [
    *sorted(REPO.glob("docs/*.md")),
    REPO / "README.md",
    *sorted(REPO.glob("dr_runbooks/**/*.md")),
    *sorted(REPO.glob("dr_runbooks/*.yaml")),
    *sorted(REPO.glob("monitoring/**/*.md")),
    *sorted(REPO.glob("salt/states/**/pillar.example")),
    EMBEDDED_DEFAULTS,
]
# Named near the word "rule" and no rule: each with what it is.
NOT_RULES = {
    "backup-password": "a file the orchestrator state writes",
    "fluxora-orch": "the command",
    "replica-lag-rebuild": "a rule ARCHITECTURE.md records as dropped",
}
KEBAB = re.compile(r"`([a-z0-9]+(?:-[a-z0-9]+)+)`")
SENTENCE = re.compile(r"(?<=[.;:])\s+|\n\s*\n")


def _pillar(name: str) -> dict[str, Any]:
    text = jinja2.Environment(autoescape=False).from_string((PILLAR / name).read_text()).render()
    return dict((yaml.safe_load(text) or {}).get("fluxora") or {})


def shipped(section: str) -> set[str]:
    """Names of the shipped rules (or schedules): embedded defaults and every pillar file."""
    embedded = yaml.safe_load(EMBEDDED_DEFAULTS.read_text())
    names = {item["name"] for item in embedded.get(section) or []}
    for path in sorted(PILLAR.glob("*.sls")):
        if path.name != "identity.sls":  # a minion's roles by its id (needs Salt): no rules
            names |= set(_pillar(path.name).get(section) or {})
    return names


def other_names() -> set[str]:
    """Kebab-case names of things that are not rules: runbooks, schedules, decisions, job
    statuses, the security check's rules."""
    runbooks = {path.stem for path in (REPO / "dr_runbooks").glob("*.yaml")}
    statuses = {o.value for o in Outcome} | {s.value for s in JobStatus}
    return runbooks | shipped("schedules") | statuses | set(SECURITY_RULES) | set(NOT_RULES)


def named_as_rules(path: Path) -> list[str]:
    """Kebab-case names in backticks in a sentence that speaks of rules."""
    found = []
    for sentence in SENTENCE.split(path.read_text(encoding="utf-8")):
        if re.search(r"\brules?\b", sentence):
            found += KEBAB.findall(sentence)
    return found


def test_every_rule_the_docs_name_is_shipped() -> None:
    rules, others = shipped("rules"), other_names()
    assert {"runbook-request", "backup-on-schedule", "scale-request-in"} <= rules
    unknown = {
        f"{path.relative_to(REPO)}: {name}"
        for path in DOCUMENTS
        for name in named_as_rules(path)
        if name not in rules and name not in others
    }
    assert sorted(unknown) == []
