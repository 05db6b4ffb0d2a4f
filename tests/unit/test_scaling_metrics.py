"""Scaling metrics from the aws.asg.* step outputs, on a fresh registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from orchestrator.families.scaling.metrics import ScalingMetrics, group_outputs

GROUP = "fluxora-prod-worker"


def test_desired_capacity_is_absent_until_read_and_counters_start_at_zero() -> None:
    registry = CollectorRegistry()
    metrics = ScalingMetrics(registry)
    metrics.start([GROUP])
    labels = {"group": GROUP}
    assert registry.get_sample_value("fluxora_asg_desired_capacity", labels) is None
    assert (
        registry.get_sample_value(
            "fluxora_scaling_suppressed_total", {**labels, "reason": "dr-lock"}
        )
        == 0
    )
    metrics.observe({"group": GROUP, "desired": 3})  # aws.asg.describe
    assert registry.get_sample_value("fluxora_asg_desired_capacity", labels) == 3
    assert (
        registry.get_sample_value(
            "fluxora_scaling_actions_total", {**labels, "direction": "out", "result": "applied"}
        )
        == 0
    )


def _zeros(registry: CollectorRegistry, name: str, *labels: str) -> set[tuple[str, ...]]:
    """The label values (of `labels`) of the samples named `name` that are 0."""
    return {
        tuple(sample.labels[label] for label in labels)
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name and sample.value == 0
    }


def test_every_reachable_label_set_of_a_configured_group_starts_at_zero() -> None:
    registry = CollectorRegistry()
    ScalingMetrics(registry).start([GROUP])
    changes = {(d, r) for d in ("out", "in") for r in ("applied", "failed", "suppressed")}
    actions = _zeros(registry, "fluxora_scaling_actions_total", "group", "direction", "result")
    assert actions == {(GROUP, *labels) for labels in [*changes, ("none", "unchanged")]}
    reasons = {"cooldown", "dr-lock", "protection-window", "warmup"}
    reasons |= {"no-scale-in-intent", "approval-required"}
    suppressed = _zeros(registry, "fluxora_scaling_suppressed_total", "group", "reason")
    assert suppressed == {(GROUP, reason) for reason in reasons}


def test_an_applied_and_a_suppressed_request_are_counted_and_a_plan_is_not() -> None:
    registry = CollectorRegistry()
    metrics = ScalingMetrics(registry)
    base = {"group": GROUP, "direction": "in"}
    metrics.observe({**base, "desired": 4, "result": "applied", "suppressed": None})
    metrics.observe({**base, "desired": 4, "result": "suppressed", "suppressed": "warmup"})
    metrics.observe({**base, "desired": 1, "result": "planned", "suppressed": None})
    labels = {"group": GROUP}
    for result in ("applied", "suppressed"):
        sample = {**labels, "direction": "in", "result": result}
        assert registry.get_sample_value("fluxora_scaling_actions_total", sample) == 1
    reason = {**labels, "reason": "warmup"}
    assert registry.get_sample_value("fluxora_scaling_suppressed_total", reason) == 1
    assert registry.get_sample_value("fluxora_asg_desired_capacity", labels) == 4


def test_a_step_over_several_groups_gives_one_output_per_group() -> None:
    api = {"group": "fluxora-prod-api-dr", "desired": 3, "result": "applied"}
    worker = {"group": "fluxora-prod-worker-dr", "desired": 4, "result": "applied"}
    nested = {"env": "prod", "groups": {api["group"]: api, worker["group"]: worker}}
    assert group_outputs(nested) == [api, worker]
    assert group_outputs(api) == [api]
