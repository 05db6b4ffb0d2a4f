"""Every metric name the rules and dashboards select exists somewhere we know of.

The PromQL is parsed with promql-parser; each selector's metric name must be in the metrics
catalogue (docs/ARCHITECTURE.md), be a recording rule of monitoring/prometheus/rules/, or be listed
with its source in monitoring/exporter-metrics.yml.
"""

from __future__ import annotations

import pytest

from tests.harness import monitoring_inventory as inventory

EXPRESSIONS = inventory.rule_expressions() + inventory.dashboard_expressions()


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=[e.origin for e in EXPRESSIONS])
def test_every_selected_metric_is_known(expression: inventory.Expression) -> None:
    names = inventory.selected_metric_names(expression.promql)
    unknown = names - inventory.known_metric_names()
    assert names, f"{expression.origin}: selects no metric"
    assert not unknown, f"{expression.origin}: unknown metric names {sorted(unknown)}"


def test_the_inventory_sees_both_rules_and_dashboards() -> None:
    origins = {e.origin.split(":")[0] for e in EXPRESSIONS}
    assert {"backups.rules.yml", "fluxora-overview.json", "fluxora-orchestrator.json"} <= origins
    variables = [e for e in EXPRESSIONS if "variable env" in e.origin]
    assert [v.promql for v in variables] == ['up{job="fluxora-orchestrator"}'] * 2


def test_catalogue_is_read_from_the_architecture_page() -> None:
    catalogue = inventory.catalogue()
    assert len(catalogue) >= 30
    # A row naming two metrics yields both; a histogram appears as its three series.
    assert catalogue["fluxora_drill_rpo_seconds"] == catalogue["fluxora_drill_rto_seconds"]
    assert catalogue["fluxora_event_decision_seconds"] == "histogram"
    assert "fluxora_event_decision_seconds_bucket" in inventory.catalogue_series_names()
    assert "fluxora_event_decision_seconds" not in inventory.catalogue_series_names()


def test_every_listed_exporter_metric_is_used() -> None:
    used = set().union(*(inventory.selected_metric_names(e.promql) for e in EXPRESSIONS))
    assert set(inventory.exporter_metrics()) <= used, "exporter-metrics.yml lists unused names"


def test_an_unknown_name_and_an_unnamed_selector_are_caught() -> None:
    expr = "sum(rate(fluxora_made_up_total[5m])) / on (env) group_left fluxora_inbox_depth"
    assert inventory.selected_metric_names(expr) - inventory.known_metric_names() == {
        "fluxora_made_up_total"
    }
    with pytest.raises(inventory.UnnamedSelector):
        inventory.selected_metric_names('{job="fluxora-orchestrator"}')
    assert inventory.selected_metric_names('{__name__="up"}') == {"up"}


def test_grafana_variables_are_replaced_before_parsing() -> None:
    expr = 'sum(increase(fluxora_jobs_total{env=~"$env"}[$__rate_interval])) by (${group})'
    assert inventory.as_promql(expr) == (
        'sum(increase(fluxora_jobs_total{env=~"grafana_variable"}[5m])) by (grafana_variable)'
    )
