"""`fluxora-orch runbook list|run|docs|report`.

`run` takes the path of every other event: it sends `fluxora/request/runbook/<name>` (signed,
to POST /events), the `runbook-request` rule turns it into a job (with the runbook's approval
policy), and the command waits for the job and prints its journal; the exit is 0 only for a
`completed` run."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from orchestrator.app.families import builtin_registry
from orchestrator.app.wiring import runbooks_dir
from orchestrator.cli.client import api_path, read
from orchestrator.cli.common import add_action, command_group, config_from_args
from orchestrator.cli.jobs import print_journal
from orchestrator.cli.output import print_json, table
from orchestrator.cli.requests import (
    add_local_argument,
    daemon_answers,
    follow,
    note_no_daemon,
    request_tag,
    run_here,
    submit,
)
from orchestrator.core.errors import FluxoraError
from orchestrator.engine.api import queries
from orchestrator.engine.runbooks.catalog import load_catalog
from orchestrator.engine.runbooks.docs import expected_pages, stale_pages, write_pages
from orchestrator.families.drills.report import write_report


class UsageError(FluxoraError, ValueError):
    pass


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    verbs = command_group(
        commands,
        "runbook",
        help="list, run, document and report runbooks",
        description="DR runbooks: list them, run one (and wait), generate their docs, "
        "write a drill report.",
    )
    add_action(
        verbs,
        parent,
        "list",
        _list,
        help="the runbooks and their targets",
        description="List the runbooks: environments, RTO and RPO targets, where a person "
        "approves each run, and the first sentence of the description.",
    )
    _register_run(verbs, parent)
    docs = add_action(
        verbs,
        parent,
        "docs",
        _docs,
        help="print a runbook's page (or write them all with --write)",
        description="Print the Markdown page of each runbook named (every runbook when none "
        "is), generated from its YAML: targets, approval, checks, steps, rollbacks, "
        "parameters, lock, how to run it. With --write, write the pages into "
        "<runbooks_dir>/docs/ instead (pages of removed runbooks are deleted); with --check, "
        "write nothing and fail when a page there is missing or out of date.",
    )
    docs.add_argument("names", metavar="NAME", nargs="*", help="runbooks to print")
    mode = docs.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the pages into the docs dir")
    mode.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    report = add_action(
        verbs,
        parent,
        "report",
        _report,
        help="write a drill report (Markdown + PNG timeline)",
        description="Write <runbook>-<job>.md and <runbook>-<job>-timeline.png into DIR.",
    )
    report.add_argument("job_id", metavar="JOB_ID")
    report.add_argument("--out", type=Path, required=True, metavar="DIR")


def _register_run(verbs: Any, parent: argparse.ArgumentParser) -> None:
    run = add_action(
        verbs,
        parent,
        "run",
        _run,
        help="run a runbook through the daemon (or here) and wait for it",
        description="Request a run (signed, like `fire`), wait for the job and print its "
        "journal (a dry run's plan too). Exit 0 only when the run completed. A job that needs "
        "approval waits for `fluxora-orch approve`. With no daemon answering (or --local), "
        "the request takes the same rules and runner in this process, on the same store.",
    )
    add_local_argument(run)
    run.add_argument("name", metavar="NAME")
    run.add_argument("--env", help="environment (default: the config's env)")
    run.add_argument("--dry-run", action="store_true", help="plan without acting")
    run.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a job parameter"
    )
    run.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; values are YAML scalars (`seconds=30` is a number)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
        params[key] = yaml.safe_load(value) if value else ""
    return params


def _list(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    catalog = load_catalog(runbooks_dir(config), builtin_registry())
    found: list[dict[str, Any]] = [
        {
            "name": r.name,
            "environments": r.environments,
            "rto_seconds": r.targets.rto,
            "rpo_seconds": r.targets.rpo,
            "approval": [env for env in r.environments if r.requires_approval(env)],
            "description": r.description.strip(),
        }
        for r in catalog
    ]
    if args.json:
        print_json(found)
        return 0
    rows = [
        [
            r["name"],
            ",".join(r["environments"]),
            _seconds(r["rto_seconds"]),
            _seconds(r["rpo_seconds"]),
            ",".join(r["approval"]) or "-",
            _first_sentence(r["description"]),
        ]
        for r in found
    ]
    headers = ["NAME", "ENVIRONMENTS", "RTO", "RPO", "APPROVAL", "DESCRIPTION"]
    print(table(headers, rows) if rows else "no runbooks")
    return 0


def _first_sentence(text: str) -> str:
    return text.split(". ", maxsplit=1)[0].rstrip(".") + "."


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    data = {
        "env": args.env or config.env,
        "params": parse_params(args.param),
        "dry_run": args.dry_run,
    }
    if args.local or not daemon_answers(config):
        if not args.local:
            note_no_daemon(config)
        job = run_here(config, request_tag(args.name), data, show=not args.json)
    else:
        deadline = time.monotonic() + args.timeout
        job_id = submit(config, args.name, data)
        job = follow(config, job_id, deadline=deadline, on_update=_say_status(job_id, args.json))
    if args.json:
        print_json(job)
    else:
        print(f"job {job['id']}: runbook {job['runbook']} in {job['env']}: {job['status']}")
        print_journal(job["journal"])
    return 0 if job["status"] == "completed" else 1


def _say_status(job_id: str, quiet: bool) -> Callable[[dict[str, Any]], None]:
    """Print each new status of the job (with how to approve one that waits)."""
    said: list[str] = []

    def say(job: dict[str, Any]) -> None:
        if quiet or said[-1:] == [job["status"]]:
            return
        said.append(job["status"])
        hint = f" (fluxora-orch approve {job_id})" if job["status"] == "awaiting-approval" else ""
        print(f"job {job_id}: {job['status']}{hint}", flush=True)

    return say


def _docs(args: argparse.Namespace) -> int:
    directory = runbooks_dir(config_from_args(args))
    expected = expected_pages(directory, builtin_registry())
    docs_dir = directory / "docs"
    if args.check:
        stale = stale_pages(docs_dir, expected)
        for name in stale:
            print(f"{docs_dir / name}: out of date (run `fluxora-orch runbook docs --write`)")
        return 1 if stale else 0
    if args.write:
        touched = write_pages(docs_dir, expected)
        for name in touched:
            print(f"wrote {docs_dir / name}" if name in expected else f"removed {docs_dir / name}")
        if not touched:
            print(f"{len(expected)} pages in {docs_dir} are up to date")
        return 0
    print("\n".join(_pages(expected, args.names)), end="")
    return 0


def _pages(expected: dict[str, str], names: list[str]) -> list[str]:
    """The pages of the runbooks named (all when none are), in the order asked."""
    unknown = [name for name in names if f"{name}.md" not in expected]
    if unknown:
        known = ", ".join(sorted(page.removesuffix(".md") for page in expected))
        raise UsageError(f"no runbook named {unknown[0]!r} (known: {known})")
    return [expected[f"{name}.md"] for name in names] or list(expected.values())


def _report(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    path = api_path("jobs", args.job_id)
    job = read(config, path, lambda s: queries.job_detail(s, args.job_id))
    if not job.get("journal") or job["journal"].get("status") is None:
        raise UsageError(f"job {args.job_id} has not finished: no report yet")
    files = write_report(job, args.out)
    if args.json:
        print_json({"markdown": str(files.markdown), "timeline": str(files.timeline)})
    else:
        print(f"wrote {files.markdown} and {files.timeline}")
    return 0
