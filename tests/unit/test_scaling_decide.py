"""The scaling decision (orchestrator/scaling/decide.py) and policies, without AWS or a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydantic
import pytest

from orchestrator.app.config import load_config
from orchestrator.core.errors import ConfigError
from orchestrator.families.scaling.config import (
    GroupPolicy,
    ScalingConfig,
    UnknownGroupError,
    WrongEnvironmentError,
)
from orchestrator.families.scaling.decide import Direction, Observed, Request, Suppression, decide

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = GroupPolicy(
    env="prod",
    min=2,
    max=10,
    desired=4,
    step_out=3,
    step_in=1,
    cooldown_seconds=300,
    warmup_seconds=120,
    scale_in_protection_windows=["08:30-11:30", "23:00-01:00"],
    approval_step=2,
)


def seen(desired: int = 4, **kwargs: object) -> Observed:
    return Observed(now=kwargs.pop("now", NOW), desired=desired, **kwargs)  # type: ignore[arg-type]


def test_scale_out_within_bounds_applies() -> None:
    verdict = decide(POLICY, Request(by=3), seen())
    assert (verdict.direction, verdict.target, verdict.clamp) == (Direction.OUT, 7, None)
    assert verdict.applies
    assert verdict.reason == "scale out from 4 to 7"


def test_requests_beyond_bounds_are_clamped_and_say_so() -> None:
    high = decide(POLICY, Request(to=50), seen())
    assert (high.target, high.clamp) == (10, "requested 50 clamped to max 10")
    assert high.reason.endswith("(requested 50 clamped to max 10)")
    low = decide(POLICY, Request(by=-9), seen(desired=5))
    assert (low.target, low.clamp) == (2, "requested -4 clamped to min 2")


def test_step_wise_scale_in_stops_at_the_baseline() -> None:
    verdict = decide(POLICY, Request(by=-1, floor=4), seen(desired=4))
    assert verdict.direction is Direction.NONE
    assert not verdict.applies
    assert "clamped to baseline 4" in verdict.reason


def test_no_second_action_inside_the_cooldown_in_either_direction() -> None:
    recent = seen(last_action_at=NOW - timedelta(seconds=100))
    for request in (Request(by=1), Request(by=-1)):
        verdict = decide(POLICY, request, recent)
        assert verdict.suppressed is Suppression.COOLDOWN
        assert "inside its 300s cooldown" in verdict.reason
    later = seen(last_action_at=NOW - timedelta(seconds=300))
    assert decide(POLICY, Request(by=1), later).applies


@pytest.mark.parametrize(
    ("observed", "reason"),
    [
        (seen(lock_holder="job abc (restore-drill, running)"), Suppression.DR_LOCK),
        (seen(warming=2), Suppression.WARMUP),
        (seen(now=NOW.replace(hour=9)), Suppression.PROTECTION_WINDOW),
        (seen(now=NOW.replace(hour=0, minute=30)), Suppression.PROTECTION_WINDOW),
    ],
)
def test_scale_in_is_held_back_but_not_scale_out(observed: Observed, reason: Suppression) -> None:
    assert decide(POLICY, Request(by=-1), observed).suppressed is reason
    assert decide(POLICY, Request(by=1), observed).applies


def test_scale_in_beyond_the_approval_step_waits_for_approval() -> None:
    verdict = decide(POLICY, Request(to=2), seen(desired=5))
    assert verdict.suppressed is Suppression.APPROVAL
    assert verdict.reason.startswith("scale-in by 3 exceeds the approval step 2")
    assert decide(POLICY, Request(to=2, approved=True), seen(desired=5)).applies
    assert decide(POLICY, Request(to=3), seen(desired=5)).applies


def test_a_follow_up_step_needs_a_scale_in_intent() -> None:
    request = Request(by=-1, floor=2, follow=True)
    verdict = decide(POLICY, request, seen(desired=6, last_intent=Direction.OUT))
    assert verdict.suppressed is Suppression.NO_INTENT
    assert decide(POLICY, request, seen(desired=6, last_intent=Direction.IN)).applies


def test_a_policy_knows_its_groups_environment() -> None:
    config = ScalingConfig(groups={"fluxora-prod-worker": POLICY})
    assert config.policy("fluxora-prod-worker", "prod") is POLICY
    with pytest.raises(WrongEnvironmentError, match="belongs to env 'prod', not 'staging'"):
        config.policy("fluxora-prod-worker", "staging")
    with pytest.raises(UnknownGroupError, match=r"groups of prod: fluxora-prod-worker"):
        config.policy("fluxora-prod-api", "prod")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min": 5, "max": 3}, "min 5 is above max 3"),
        ({"desired": 11}, "desired 11 is outside min..max"),
        ({"scale_in_protection_windows": ["8:30-11"]}, "expected HH:MM-HH:MM"),
        ({"scale_in_protection_windows": ["25:00-26:00"]}, "window '25:00-26:00'"),
        ({"step_in": 0}, "greater than 0"),
    ],
)
def test_bad_policies_are_refused_with_the_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        GroupPolicy.model_validate({**POLICY.model_dump(), **change})


def test_a_bad_policy_in_the_config_file_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("scaling: {groups: {fluxora-prod-worker: {env: prod, min: 1, max: x}}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file=path, data_dir=tmp_path, environ={})
    assert str(caught.value).startswith(f"{path}: scaling.groups.fluxora-prod-worker.max: ")


def test_a_job_undoing_its_own_scale_out_skips_cooldown_and_warmup_but_not_another_jobs() -> None:
    dr = GroupPolicy(env="prod", min=0, max=6, desired=3, cooldown_seconds=300, warmup_seconds=120)
    just_now = NOW - timedelta(seconds=5)
    own = decide(
        dr, Request(to=0), seen(3, last_action_at=just_now, warming=3, own_last_action=True)
    )
    assert own.applies
    assert own.reason == "scale in from 3 to 0"
    other = decide(dr, Request(to=0), seen(3, last_action_at=just_now, warming=3))
    assert other.suppressed is Suppression.COOLDOWN


def test_a_policy_names_its_region_and_the_dr_groups_are_found_by_it() -> None:
    config = ScalingConfig(
        groups={
            "fluxora-prod-api": GroupPolicy(env="prod", min=1, max=4),
            "fluxora-prod-api-dr": GroupPolicy(env="prod", min=0, max=4, region="eu-central-1"),
            "fluxora-staging-api-dr": GroupPolicy(
                env="staging", min=0, max=4, region="eu-central-1"
            ),
        }
    )
    assert config.policy("fluxora-prod-api", "prod").region is None
    assert config.in_region("prod", "eu-central-1") == ["fluxora-prod-api-dr"]
