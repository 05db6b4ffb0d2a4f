"""Runbooks, rules and schedules loaded and cross-checked from config: what `run` starts with
and what `validate` checks offline. The first invalid item raises an error naming its file,
its name and the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.config import Config
from orchestrator.core.actions import ActionRegistry
from orchestrator.rules.engine import CompiledRule, compile_rules
from orchestrator.runbooks.catalog import RunbookCatalog, default_runbooks_dir, load_catalog
from orchestrator.sources.schedules import ScheduleSpec, parse_schedules


@dataclass(frozen=True, kw_only=True)
class Definitions:
    runbooks: RunbookCatalog
    rules: list[CompiledRule]
    schedules: list[ScheduleSpec]


def runbooks_dir(config: Config) -> Path:
    return config.runbooks_dir or default_runbooks_dir()


def load_definitions(config: Config, registry: ActionRegistry) -> Definitions:
    catalog = load_catalog(runbooks_dir(config), registry)
    rules = compile_rules(config.rules, config.rules_source, catalog)
    schedules = parse_schedules(config.schedules, config.rules_source)
    return Definitions(runbooks=catalog, rules=rules, schedules=schedules)
