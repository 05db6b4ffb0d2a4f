"""`fluxora-orch backups list|prune`: the catalog of backups, and retention."""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator.cli.common import command_group
from orchestrator.cli.inprocess import add_command, context, finish, human_bytes, run_action
from orchestrator.core.results import Result
from orchestrator.families.backup.catalog import list_backups, read_verification
from orchestrator.objectstore.config import OBJECTSTORE


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    sub = command_group(
        commands, "backups", help="list or prune backups", description="The catalog of backups."
    )
    listing = add_command(
        sub, "list", parent, _list, dry_run=False,
        help="list complete backups, newest first",
        description="List backups that have a manifest (complete ones), newest first, with "
        "their last restore-verify result.",
    )  # fmt: skip
    listing.add_argument("--database", help="only this database")
    add_command(
        sub, "prune", parent, _prune,
        help="apply retention; clean failed uploads",
        description="Delete backups that retention does not keep (never the newest verified "
        "one), abort incomplete uploads and remove manifest-less objects older than "
        "backup.orphan_grace_seconds. With --dry-run, show what would go.",
    )  # fmt: skip


def _list(args: argparse.Namespace) -> int:
    with context(args) as ctx:
        store = ctx.resource(OBJECTSTORE)
        env = ctx.env
    rows = []
    for manifest in list_backups(store, env, args.database):
        verification = read_verification(store, manifest)
        rows.append(
            {
                **manifest.model_dump(mode="json", exclude={"tables", "tools"}),
                "stored_size": manifest.stored_size,
                "verified": None if verification is None else verification.ok,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    verified_text = {True: "verified", False: "FAILED verify", None: "not verified"}
    for row in rows:
        print(
            f"{row['backup_id']}  {row['source']['database']:<12} {row['kind']:<9} "
            f"consistent {row['consistent_at']}  {human_bytes(row['stored_size']):>10}  "
            f"{verified_text[row['verified']]}"
        )
    if not rows:
        print(f"no backups for {env} in {store.name}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    with context(args, dry_run=args.dry_run) as ctx:
        result = run_action(args, ctx, "postgres.prune", {})
    return finish(args, [result], _summary)


def _summary(result: Result) -> str:
    data = result.data
    verb = "would delete" if data["dry_run"] else "deleted"
    lines = [f"{verb} {len(data['delete'])} backup(s) of {data['env']}"]
    lines += [f"  {verb}: {backup_id}" for backup_id in data["delete"]]
    lines += [f"  keep: {bid} ({', '.join(why)})" for bid, why in data["keep"].items()]
    lines += [f"  {verb} orphan object: {key}" for key in data["orphan_objects"]]
    verb_abort = "would abort" if data["dry_run"] else "aborted"
    lines += [f"  {verb_abort} incomplete upload: {key}" for key in data["incomplete_uploads"]]
    return "\n".join(lines)
