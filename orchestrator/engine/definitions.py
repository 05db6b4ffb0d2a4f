"""Runbooks, rules and schedules loaded and cross-checked: what the daemon starts with and
what `validate` checks offline. The first invalid item raises an error naming its file, its
name and the key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.actions import ActionRegistry
from orchestrator.engine.rules.engine import CompiledRule, compile_rules
from orchestrator.engine.runbooks.catalog import RunbookCatalog, load_catalog
from orchestrator.engine.sources.schedules import ScheduleSpec, parse_schedules


@dataclass(frozen=True, kw_only=True)
class Definitions:
    runbooks: RunbookCatalog
    rules: list[CompiledRule]
    schedules: list[ScheduleSpec]


def load_definitions(
    *,
    runbooks_dir: Path,
    rules: Sequence[Any],
    schedules: Sequence[Any],
    source: str,
    registry: ActionRegistry,
) -> Definitions:
    """`rules` and `schedules` as read from `source` (a file path, for the errors)."""
    catalog = load_catalog(runbooks_dir, registry)
    return Definitions(
        runbooks=catalog,
        rules=compile_rules(rules, source, catalog),
        schedules=parse_schedules(schedules, source),
    )
