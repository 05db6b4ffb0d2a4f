"""`fluxora-orch validate`: config, runbooks, rules and schedules, offline."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.app import wiring
from orchestrator.cli.common import config_from_args
from orchestrator.cli.output import print_json
from orchestrator.families.backup.hooks import scheduled_work


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "validate",
        parents=[parent],
        help="check config, runbooks, rules and schedules",
        description="Check the config, the runbooks (actions and their parameters), the rules "
        "(globs, templates, runbook names) and the schedules, without starting anything. "
        "The first error is printed with its file, name and key; exit 1.",
    )
    parser.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    definitions = wiring.definitions(config)
    scheduled_work(config)  # a backup or restore-verify schedule must name its database
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
                **names,
            }
        )
        return 0
    print(f"ok: env {config.env}; rules and schedules from {config.rules_source}")
    for key, found in names.items():
        print(f"  {len(found)} {key}: {', '.join(found) if found else '-'}")
    return 0
