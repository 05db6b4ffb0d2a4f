"""`fluxora-orch release build|list|pin|master-roots`: immutable releases of this repository
and the pin of each environment to one (orchestrator/families/releases)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from orchestrator.app.config import Config
from orchestrator.cli.client import base_url, post_event
from orchestrator.cli.common import add_action, command_group, config_from_args
from orchestrator.cli.output import print_json, table
from orchestrator.cli.requests import daemon_answers
from orchestrator.families.releases import build, pins

ENVIRONMENTS = ("dev", "staging", "prod")
BUILT = "fluxora/release/built"
"""Sent after a new build; the shipped rule deploy-dev-on-release deploys it to dev."""


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    verbs = command_group(
        commands,
        "release",
        help="build, list and pin releases",
        description="Releases: immutable builds of this repository (Salt tree, runbooks, "
        "monitoring, orchestrator wheel) under a releases root, and the release each "
        "environment's saltenv serves.",
    )
    made = _verb(verbs, parent, "build", _build, ("build a release from a checkout",
        "Build <root>/<version>/ read-only from the checkout's tracked and new files, with a "
        "manifest (version, source commit, content digest). The same version built again from "
        "the same content is a no-op; from other content it is refused, naming both digests. "
        "A new release is announced to the daemon (fluxora/release/built), which deploys dev."),
    )  # fmt: skip
    made.add_argument("--source", type=Path, default=Path(), help="the checkout (default .)")
    made.add_argument("--version", help="the release's name (default the commit's short hash)")
    _verb(verbs, parent, "list", _list, ("the releases and which environments pin them",
          "List the releases under the root, oldest first, and the environments pinned to each."),
    )  # fmt: skip
    pinned = _verb(verbs, parent, "pin", _pin, ("point an environment at a release (no apply)",
        "Swap the environment's pin atomically; nothing is applied (deploy apply pins, applies "
        "and verifies). For a first pin when a master is set up, and by hand in an emergency."),
    )  # fmt: skip
    pinned.add_argument("env", choices=ENVIRONMENTS)
    pinned.add_argument("version")
    _verb(verbs, parent, "master-roots", _master_roots, ("the master's salt roots per env",
          "Print the salt-master settings (YAML) serving each environment from its pin."),
    )  # fmt: skip


def _verb(
    verbs: Any, parent: argparse.ArgumentParser, name: str, func: Any, texts: tuple[str, str]
) -> argparse.ArgumentParser:
    """A verb with the shared settings and --root; `texts`: its help and its description."""
    parser = add_action(verbs, parent, name, func, help=texts[0], description=texts[1])
    parser.add_argument("--root", type=Path, required=True, metavar="DIR", help="releases root")
    return parser


def _build(args: argparse.Namespace) -> int:
    manifest, new = build.build(args.source.resolve(), args.root, args.version)
    if new:
        _announce(config_from_args(args), manifest)
    if args.json:
        print_json({**asdict(manifest), "new": new})
        return 0
    what = "built" if new else "already built (same digest)"
    print(f"release {manifest.version} {what}: {args.root / manifest.version}")
    print(f"  commit {manifest.commit}{' (with uncommitted changes)' if manifest.dirty else ''}")
    print(f"  digest sha256:{manifest.digest}, {manifest.files} source files, {manifest.wheel}")
    return 0


def _announce(config: Config, manifest: build.Manifest) -> None:
    """`fluxora/release/built` to the daemon (its rule deploys dev), or why not."""
    if config.webhook.secret is None or not daemon_answers(config):
        print(f"note: no daemon at {base_url(config)} (or no webhook secret): dev is not "
              f"deployed by itself; fluxora-orch deploy apply dev --release {manifest.version}",
              file=sys.stderr)  # fmt: skip
        return
    data = {"version": manifest.version, "digest": manifest.digest}
    event = post_event(config, BUILT, data, None)
    print(
        f"announced {BUILT} (event {event['id']}): the daemon's rules deploy it to dev",
        file=sys.stderr,
    )


def _pins(root: Path) -> dict[str, str]:
    found = {env: pins.pinned(root, env) for env in ENVIRONMENTS}
    return {env: manifest.version for env, manifest in found.items() if manifest}


def _list(args: argparse.Namespace) -> int:
    pinned = _pins(args.root)
    found = [
        {**asdict(m), "pinned_by": [env for env, v in pinned.items() if v == m.version]}
        for m in build.releases(args.root)
    ]
    if args.json:
        print_json(found)
        return 0
    rows = [
        [r["version"], r["commit"][:12], r["digest"][:16], ",".join(r["pinned_by"]) or "-"]
        for r in found
    ]
    print(table(["VERSION", "COMMIT", "DIGEST", "PINNED BY"], rows) if rows else "no releases")
    return 0


def _pin(args: argparse.Namespace) -> int:
    before = pins.pin(args.root, args.env, args.version)
    was = before.version if before else "nothing"
    print(f"{args.env}: pinned to release {args.version} (was {was})")
    return 0


def _master_roots(args: argparse.Namespace) -> int:
    print(yaml.safe_dump(pins.master_roots(args.root.resolve(), ENVIRONMENTS), sort_keys=False))
    return 0
