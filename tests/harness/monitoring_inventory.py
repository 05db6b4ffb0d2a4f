"""What the shipped monitoring uses, and the metric names that exist to be used.

Every PromQL expression of the rules (`monitoring/prometheus/rules/`) and of the dashboards
(`monitoring/grafana/dashboards/`, panel targets and query variables), the metric names each one
selects (parsed with promql-parser, a real PromQL parser), and the names on the other side: the
metrics catalogue of docs/ARCHITECTURE.md, the recording rules, and the exporter metrics listed
in `monitoring/exporter-metrics.yml`. The static test and the live-scrape test both start here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from tests.harness.monitoring import MONITORING_DIR, REPO_ROOT, RULES_DIR

ARCHITECTURE = REPO_ROOT / "docs" / "ARCHITECTURE.md"
EXPORTER_METRICS = MONITORING_DIR / "exporter-metrics.yml"
DASHBOARDS_DIR = MONITORING_DIR / "grafana" / "dashboards"

_CATALOGUE_ROW = re.compile(r"^\|\s*(`fluxora_[^|]*)\|\s*([a-z]+)\s*\|")
_NAME_IN_CELL = re.compile(r"`(fluxora_[a-z0-9_]+)`")
# Grafana's interval variables stand where PromQL wants a duration; the others sit in strings.
_GRAFANA_DURATION = re.compile(r"\$(__rate_interval|__interval|__range)\b")
_GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_LABEL_VALUES = re.compile(r"^label_values\((.*),\s*\w+\s*\)$", re.DOTALL)


@dataclass(frozen=True)
class Expression:
    origin: str  # where it is written, for error messages: file and rule or panel
    promql: str


class UnnamedSelector(ValueError):
    """A selector with no metric name (`{job="x"}`, `{__name__=~"..."}`) cannot be checked."""


# --- rules -----------------------------------------------------------------------------------


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.rules.yml"))


def rules() -> list[tuple[Path, dict[str, Any]]]:
    """(file, rule) for every rule of every group, in file order."""
    found = []
    for path in rule_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        found += [(path, rule) for group in doc["groups"] for rule in group["rules"]]
    return found


def alert_rules() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, rule) for path, rule in rules() if "alert" in rule]


def recording_rule_names() -> set[str]:
    return {rule["record"] for _, rule in rules() if "record" in rule}


def rule_expressions() -> list[Expression]:
    return [
        Expression(f"{path.name}: {rule.get('alert') or rule['record']}", rule["expr"])
        for path, rule in rules()
    ]


# --- dashboards ------------------------------------------------------------------------------


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    nested = [inner for panel in panels for inner in _panels(panel.get("panels", []))]
    return [*panels, *nested]


def _variable_query(variable: dict[str, Any]) -> str | None:
    query = variable.get("query")
    if variable.get("type") != "query":
        return None
    text = query.get("query", "") if isinstance(query, dict) else str(query)
    match = _LABEL_VALUES.match(text.strip())
    return match.group(1) if match else text  # label_values(selector, label) is Grafana's


def dashboard_expressions() -> list[Expression]:
    """Every panel target's expr and every query variable's PromQL, in every dashboard."""
    found = []
    for path in dashboard_files():
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                origin = f"{path.name}: panel {panel['title']!r} ({target.get('refId')})"
                found.append(Expression(origin, target["expr"]))
        for variable in dashboard.get("templating", {}).get("list", []):
            query = _variable_query(variable)
            if query is not None:
                found.append(Expression(f"{path.name}: variable {variable['name']}", query))
    return found


# --- metric names ----------------------------------------------------------------------------


def as_promql(expr: str, variables: Mapping[str, str] | None = None) -> str:
    """A dashboard query with Grafana's variables replaced: interval variables by 5m, the others
    by their value in `variables` (e.g. {"env": ".*"} to evaluate it) or a placeholder to parse."""
    values = variables or {}

    def value(match: re.Match[str]) -> str:
        return values.get(match.group(1), "grafana_variable")

    return _GRAFANA_VARIABLE.sub(value, _GRAFANA_DURATION.sub("5m", expr))


def _selector_name(node: Any) -> str:
    if node.name:
        return str(node.name)
    for matcher in node.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
            return str(matcher.value)
    raise UnnamedSelector(f"a selector without a metric name: {node}")


def selected_metric_names(expr: str) -> set[str]:
    """Metric names of every selector in `expr` (a parse error raises promql-parser's error)."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(_selector_name(node))
        return True

    promql_parser.walk(promql_parser.parse(as_promql(expr)), visit)
    return names


def catalogue() -> dict[str, str]:
    """Metric name -> type, from the metrics catalogue table in docs/ARCHITECTURE.md."""
    found = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        row = _CATALOGUE_ROW.match(line)
        if row:
            found |= dict.fromkeys(_NAME_IN_CELL.findall(row.group(1)), row.group(2))
    return found


def exposed_names(name: str, kind: str) -> set[str]:
    """The series names a catalogue metric appears as in a scrape (a histogram's three)."""
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


def catalogue_series_names() -> set[str]:
    return {series for name, kind in catalogue().items() for series in exposed_names(name, kind)}


def exporter_metrics() -> dict[str, dict[str, str]]:
    """Name -> {source, meaning} for the metrics that come from Prometheus or the exporters."""
    doc = yaml.safe_load(EXPORTER_METRICS.read_text(encoding="utf-8"))
    return dict(doc["metrics"])


def known_metric_names() -> set[str]:
    """Every name a rule or panel may select: catalogue series, recording rules, exporters."""
    return catalogue_series_names() | recording_rule_names() | set(exporter_metrics())
