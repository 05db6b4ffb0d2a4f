"""`fluxora-orch validate`: config, runbooks, rules and schedules, offline."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.app import wiring
from orchestrator.app.config import EMBEDDED_DEFAULTS
from orchestrator.app.requirements import check_resources
from orchestrator.cli.common import config_from_args
from orchestrator.cli.output import print_json
from orchestrator.core.events import utcnow
from orchestrator.families.backup.hooks import scheduled_work


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "validate",
        parents=[parent],
        help="check config, runbooks, rules, schedules and the resources they need",
        description="Check the config, the runbooks (actions and their parameters), the rules "
        "(globs, templates, runbook names) and the schedules, without starting anything; "
        "then that every runbook a schedule or a rule can start finds its clusters, "
        "databases, groups, regions and stores in its environment. The first syntax error is "
        "printed with its file, name and key; every missing resource with the schedule or "
        "rule, the runbook and the key; exit 1. Prints what was checked and where each "
        "setting came from (embedded defaults, the config file, a variable or an option).",
    )
    parser.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    definitions = wiring.definitions(config)
    # A backup or restore-verify schedule must name its database.
    scheduled_work(wiring.scheduled_runs(config, definitions), config.rules_source)
    check_resources(config, definitions, utcnow())
    names = {
        "runbooks": [r.name for r in definitions.runbooks],
        "rules": [r.name for r in definitions.rules],
        "schedules": [s.name for s in definitions.schedules],
    }
    if args.json:
        print_json(
            {
                "ok": True,
                "env": config.env,
                "rules_source": config.rules_source,
                "runbooks_dir": str(wiring.runbooks_dir(config)),
                "provenance": config.provenance,
                **names,
            }
        )
        return 0
    print(f"ok: env {config.env}")
    for key, found in names.items():
        print(f"  {len(found)} {key}: {', '.join(found) if found else '-'}")
    print("where each setting came from (the rest are built-in defaults):")
    for key, source in config.provenance.items():
        print(f"  {key}: {_source_label(source)}")
    return 0


def _source_label(source: str) -> str:
    return f"embedded defaults ({source})" if source == str(EMBEDDED_DEFAULTS) else source
