"""What `fluxora-orch validate` checks beyond syntax: every runbook a schedule or a rule can
start finds, in its environment, the resources its action calls name (clusters, databases,
groups, regions, stores); each family says which of its keys are missing."""

from __future__ import annotations

from datetime import datetime

from orchestrator.app.config import Config
from orchestrator.app.families import FAMILIES
from orchestrator.core.errors import FluxoraError
from orchestrator.engine.definitions import Definitions, PlannedCall, planned_calls, starts


class MissingResourcesError(FluxoraError, LookupError):
    """Runbooks that schedules or rules start lack resources in their environment."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n  ".join(problems)
        super().__init__(f"{len(problems)} missing resource(s):\n  {lines}")


def _missing_keys(config: Config, call: PlannedCall) -> list[str]:
    env, action = call.start.env, call.action
    return [key for f in FAMILIES for key in f.missing(config, env, action, call.params)]


def missing_resources(config: Config, definitions: Definitions, now: datetime) -> list[str]:
    """One line per missing key and start, naming the schedule or rule, the runbook, the
    first call that needs the key and the key."""
    problems: list[str] = []
    for start in starts(definitions, config.env, now):
        seen: set[str] = set()
        for call in planned_calls(definitions, start):
            for key in _missing_keys(config, call):
                if key not in seen:
                    seen.add(key)
                    problems.append(
                        f"{start.source} starts runbook {start.runbook!r} in env "
                        f"{start.env!r}: {call.key} ({call.action}) needs {key}, "
                        "which is not configured"
                    )
    return problems


def check_resources(config: Config, definitions: Definitions, now: datetime) -> None:
    """Raise MissingResourcesError listing every missing resource."""
    problems = missing_resources(config, definitions, now)
    if problems:
        raise MissingResourcesError(problems)
