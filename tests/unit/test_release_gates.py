"""Maintenance windows, change freezes, and what a deploy's steps make of the release metrics
(no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from orchestrator.core.journal import Phase, StepRecord, StepStatus
from orchestrator.families.releases.config import Freeze, ReleasesConfig
from orchestrator.families.releases.history import Outcome, Record
from orchestrator.families.releases.metrics import ReleaseMetrics, deploy_result
from orchestrator.families.releases.saltcli import SaltCli
from orchestrator.families.releases.service import Deployer

SATURDAY_0300 = datetime(2026, 12, 12, 3, 0, tzinfo=UTC)
MONDAY_1200 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_prod_applies_inside_its_window_and_says_when_the_next_opens_outside_it() -> None:
    config = ReleasesConfig(windows={"prod": ["sat 02:00-04:00", "wed 22:00-01:00"]})
    assert config.window_open("prod", SATURDAY_0300)
    assert config.window_open("dev", MONDAY_1200)  # no window: any time
    assert not config.window_open("prod", MONDAY_1200)
    assert config.next_opening("prod", MONDAY_1200) == datetime(2026, 12, 9, 22, 0, tzinfo=UTC)
    thursday_0030 = datetime(2026, 12, 10, 0, 30, tzinfo=UTC)
    assert config.window_open("prod", thursday_0030)  # wraps midnight


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        ("sun 25:00-26:00", "hour must be in 0..23"),
        ("someday 01:00-02:00", r"expected \[mon\.\.sun \]"),
    ],
)
def test_a_bad_window_names_itself(window: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        ReleasesConfig(windows={"prod": [window]})
    assert window in str(caught.value)


YEAR_END = {"start": "2026-12-19T00:00:00Z", "end": "2027-01-04T00:00:00Z", "reason": "year end"}


def test_a_freeze_closes_every_window_it_covers_and_the_next_apply_follows_it() -> None:
    config = ReleasesConfig(
        windows={"prod": ["sat 02:00-04:00", "wed 22:00-01:00"]},
        freezes={
            "prod": [Freeze.model_validate(YEAR_END)],
            "dev": [Freeze.model_validate(YEAR_END)],
        },
    )
    saturday_in_freeze = datetime(2026, 12, 26, 3, 0, tzinfo=UTC)
    assert config.window_open("prod", saturday_in_freeze)
    assert config.freeze_at("prod", saturday_in_freeze) is not None
    # The freeze ends on a Monday: the first window after it is Wednesday 22:00.
    assert config.next_apply_time("prod", saturday_in_freeze) == datetime(
        2027, 1, 6, 22, 0, tzinfo=UTC
    )
    # dev has no window: it applies the moment the freeze ends.
    assert config.next_apply_time("dev", saturday_in_freeze) == datetime(2027, 1, 4, tzinfo=UTC)
    assert config.freeze_at("prod", SATURDAY_0300) is None
    assert config.next_apply_time("prod", SATURDAY_0300) == SATURDAY_0300


def test_a_deploy_in_a_freeze_is_refused_naming_its_end_reason_and_the_next_chance() -> None:
    config = ReleasesConfig(
        windows={"prod": ["sat 02:00-04:00", "wed 22:00-01:00"]},
        freezes={"prod": [Freeze.model_validate(YEAR_END)]},
    )
    deployer = Deployer(config=config, salt=SaltCli(config_dir=Path("/nonexistent")))
    saturday_in_freeze = datetime(2026, 12, 26, 3, 0, tzinfo=UTC)
    assert deployer.window_refusal("prod", saturday_in_freeze) == (
        "prod is in a change freeze until Mon 2027-01-04 00:00 UTC (year end): "
        "the next deploy can apply Wed 2027-01-06 22:00 UTC"
    )
    assert deployer.window_refusal("prod", MONDAY_1200) == (
        "prod is outside its maintenance windows (sat 02:00-04:00, wed 22:00-01:00): "
        "the next opens Wed 2026-12-09 22:00 UTC"
    )
    assert deployer.window_refusal("prod", SATURDAY_0300) is None


@pytest.mark.parametrize(
    ("freeze", "reason"),
    [
        (
            {**YEAR_END, "end": "2026-12-18T00:00:00Z"},
            "freezes.prod.0\\n.*end 2026-12-18 00:00:00.00:00 is not after start",
        ),
        ({**YEAR_END, "start": "2026-12-19T00:00:00"}, "timezone"),
        ({**YEAR_END, "reason": ""}, "at least 1 character"),
    ],
)
def test_a_bad_freeze_names_its_key_and_reason(freeze: dict[str, str], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ReleasesConfig.model_validate({"freezes": {"prod": [freeze]}})


def _step(name: str, ok: bool, phase: Phase = Phase.STEP, **output: Any) -> StepRecord:
    return StepRecord(
        name=name, action=f"releases.{name}", phase=phase,
        status=StepStatus.OK if ok else StepStatus.FAILED,
        started_at=MONDAY_1200, ended_at=MONDAY_1200, output=output,
    )  # fmt: skip


def _steps(*records: StepRecord) -> dict[str, StepRecord]:
    return {record.name: record for record in records}


def test_a_deploy_result_is_what_its_steps_and_rollback_did() -> None:
    gate_refused = _steps(_step("gate", False))
    verified = _steps(_step("gate", True), _step("plan", True), _step("pin", True),
                      _step("apply", True), _step("verify", True, release="b"))  # fmt: skip
    rolled = _steps(_step("pin", True), _step("verify", False),
                    _step("rollback", True, Phase.ROLLBACK, release="b"))  # fmt: skip
    stuck = _steps(_step("pin", True), _step("apply", False),
                   _step("rollback", False, Phase.ROLLBACK, release="b"))  # fmt: skip
    assert [deploy_result(s) for s in (gate_refused, verified, rolled, stuck)] == [
        "refused", "success", "rolled-back", "rollback-failed",
    ]  # fmt: skip


def test_the_release_info_follows_the_release_an_environment_runs() -> None:
    registry = CollectorRegistry()
    metrics = ReleaseMetrics(registry)
    metrics.start("dev")
    success = _steps(_step("pin", True), _step("verify", True, release="b"))
    metrics.observe_deploy("dev", success, 1000.0)
    rolled = _steps(_step("pin", True), _step("verify", False),
                    _step("rollback", True, Phase.ROLLBACK, release="b"))  # fmt: skip
    metrics.observe_deploy("dev", rolled, 2000.0)
    metrics.observe_deploy("dev", _steps(_step("pin", True), _step("verify", True, release="c")),
                           3000.0)  # fmt: skip
    value = registry.get_sample_value
    assert value("fluxora_release_info", {"env": "dev", "version": "c"}) == 1
    assert value("fluxora_release_info", {"env": "dev", "version": "b"}) is None
    assert value("fluxora_deploys_total", {"env": "dev", "result": "success"}) == 2
    assert value("fluxora_deploys_total", {"env": "dev", "result": "rolled-back"}) == 1
    assert value("fluxora_deploys_total", {"env": "dev", "result": "rollback-failed"}) == 0
    assert value("fluxora_deploy_last_success_timestamp_seconds", {"env": "dev"}) == 3000.0
    metrics.observe_drift("dev", {"add": 0, "change": 2, "remove": 1, "error": 0})
    assert value("fluxora_release_drift_items", {"env": "dev", "action": "change"}) == 2


def test_a_restarted_daemon_recalls_each_environments_release_from_the_history() -> None:
    registry = CollectorRegistry()
    metrics = ReleaseMetrics(registry)

    def record(env: str, release: str, outcome: Outcome, at: float) -> Record:
        return Record(env=env, release=release, digest="d", outcome=outcome, at=at)

    metrics.recall([
        record("dev", "a", Outcome.VERIFIED, 100.0),
        record("dev", "b", Outcome.VERIFIED, 200.0),
        record("dev", "a", Outcome.ROLLED_BACK, 300.0),  # c failed: back on a
        record("staging", "a", Outcome.VERIFIED, 150.0),
        record("prod", "a", Outcome.ROLLBACK_FAILED, 400.0),
    ])  # fmt: skip
    value = registry.get_sample_value
    assert value("fluxora_release_info", {"env": "dev", "version": "a"}) == 1
    assert value("fluxora_release_info", {"env": "dev", "version": "b"}) is None
    assert value("fluxora_release_info", {"env": "staging", "version": "a"}) == 1
    assert value("fluxora_release_info", {"env": "prod", "version": "a"}) is None
    assert value("fluxora_deploy_last_success_timestamp_seconds", {"env": "dev"}) == 200.0
    assert value("fluxora_deploy_last_success_timestamp_seconds", {"env": "prod"}) is None
