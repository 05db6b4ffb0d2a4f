"""The shipped alert rules, their promtool tests and the Alertmanager config agree.

promtool itself runs in tests/integration/test_monitoring_config.py; this checks the shape: every
alert is labelled and annotated for an operator, links to a page that exists, and has at least one
promtool case where it fires and one where it stays quiet.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import monitoring_inventory as inventory
from tests.harness.monitoring import ALERTMANAGER_CONFIG, MONITORING_DIR, REPO_ROOT

TESTS_DIR = MONITORING_DIR / "prometheus" / "tests"
ALERTS = inventory.alert_rules()
ALERT_NAMES = sorted({rule["alert"] for _, rule in ALERTS})
SEVERITIES = {"critical", "warning"}


def _test_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(TESTS_DIR.glob("*.test.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            cases += test.get("alert_rule_test", [])
    return cases


CASES = _test_cases()


@pytest.mark.parametrize(("path", "rule"), ALERTS, ids=[r["alert"] for _, r in ALERTS])
def test_alert_is_labelled_and_annotated_for_an_operator(path: Path, rule: dict[str, Any]) -> None:
    labels = rule.get("labels", {})
    assert labels.get("severity") in SEVERITIES, f"{path.name}: {rule['alert']} severity"
    assert labels.get("component"), f"{path.name}: {rule['alert']} needs a component label"
    annotations = rule.get("annotations", {})
    assert set(annotations) == {"summary", "runbook_url"}, f"{path.name}: {rule['alert']}"
    assert "$labels.env" in annotations["summary"], "the summary names the environment"


@pytest.mark.parametrize(("path", "rule"), ALERTS, ids=[r["alert"] for _, r in ALERTS])
def test_runbook_url_points_at_a_page_in_the_repository(path: Path, rule: dict[str, Any]) -> None:
    url = rule["annotations"]["runbook_url"]
    assert url.startswith("dr_runbooks/docs/"), f"{path.name}: {rule['alert']}: {url}"
    assert (REPO_ROOT / url).is_file(), f"{url} is missing"


def test_hand_kept_alert_pages_are_named_after_their_alert() -> None:
    pages = {p.stem for p in (REPO_ROOT / "dr_runbooks" / "docs" / "alerts").glob("*.md")}
    linked = {
        Path(rule["annotations"]["runbook_url"]).stem
        for _, rule in ALERTS
        if "/alerts/" in rule["annotations"]["runbook_url"]
    }
    assert pages == linked, "a page without its alert, or an alert linking another's page"
    for _, rule in ALERTS:
        url = rule["annotations"]["runbook_url"]
        assert "/alerts/" not in url or url.endswith(f"/{rule['alert']}.md")


def test_every_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    outcomes: dict[str, set[str]] = defaultdict(set)
    for case in CASES:
        outcomes[case["alertname"]].add("fires" if case.get("exp_alerts") else "quiet")
    incomplete = {name: sorted(outcomes[name]) for name in ALERT_NAMES}
    incomplete = {name: seen for name, seen in incomplete.items() if seen != ["fires", "quiet"]}
    assert not incomplete, f"alerts without a firing and a quiet case: {incomplete}"
    assert set(outcomes) <= set(ALERT_NAMES), "a promtool case tests an alert that is not defined"


def test_every_firing_case_expects_env_severity_and_both_annotations() -> None:
    for case in CASES:
        for expected in case.get("exp_alerts") or []:
            where = f"{case['alertname']} at {case['eval_time']}"
            assert {"env", "severity"} <= set(expected["exp_labels"]), where
            assert set(expected["exp_annotations"]) == {"summary", "runbook_url"}, where


def test_every_rule_file_has_its_promtool_tests() -> None:
    for path in inventory.rule_files():
        test_file = TESTS_DIR / path.name.replace(".rules.yml", ".test.yml")
        doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        assert doc["rule_files"] == [f"../rules/{path.name}"], test_file.name


def _alertmanager() -> dict[str, Any]:
    return dict(yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8")))


def _matchers(config: dict[str, Any]) -> list[str]:
    routes = config["route"].get("routes", [])
    inhibits = config.get("inhibit_rules", [])
    found = [m for route in routes for m in route.get("matchers", [])]
    for rule in inhibits:
        found += rule.get("source_matchers", []) + rule.get("target_matchers", [])
    return found


def test_alertmanager_matchers_name_alerts_and_components_that_exist() -> None:
    components = {rule["labels"]["component"] for _, rule in ALERTS}
    for matcher in _matchers(_alertmanager()):
        parsed = re.fullmatch(r'(\w+)\s*(=~|!=|=)\s*"(.*)"', matcher)
        assert parsed, f"unexpected matcher syntax: {matcher}"
        label, op, value = parsed.groups()
        if label == "alertname" and op != "!=":
            assert any(re.fullmatch(value, name) for name in ALERT_NAMES), matcher
        if label == "component":
            assert set(value.split("|")) <= components, matcher
        if label == "severity":
            assert value in SEVERITIES, matcher


def test_alertmanager_reads_the_token_from_a_file() -> None:
    for receiver in _alertmanager()["receivers"]:
        for webhook in receiver["webhook_configs"]:
            assert webhook["send_resolved"] is True
            authorization = webhook["http_config"]["authorization"]
            assert authorization == {
                "type": "Bearer",
                "credentials_file": "/etc/prometheus/secrets/orchestrator-token",
            }
            assert webhook["url"].endswith("/alertmanager")


def test_operations_guide_lists_every_alert() -> None:
    guide = (REPO_ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    missing = [name for name in ALERT_NAMES if f"| `{name}` |" not in guide]
    assert not missing, f"docs/OPERATIONS.md has no row for {missing}"


@pytest.mark.parametrize("path", sorted(TESTS_DIR.glob("*.test.yml")), ids=lambda p: p.name)
def test_promtool_tests_evaluate_every_rule_group_in_file_order(path: Path) -> None:
    """promtool evaluates a file's groups in a random order unless told: an alert on a recorded
    series then sees the previous minute's value now and then, and the test flakes."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups = []
    for rule_file in doc["rule_files"]:
        rules = yaml.safe_load((path.parent / rule_file).read_text(encoding="utf-8"))
        groups += [group["name"] for group in rules["groups"]]
    assert doc.get("group_eval_order") == groups, f"{path.name}: group_eval_order"
