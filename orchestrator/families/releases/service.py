"""The `releases` resource: what the deploy runbook's actions do, on the releases root and the
Salt master. Gates answer with the refusal a person reads (None: pass); Salt's answers are
turned into plans and lists of failures here, so that the actions only report them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.core.resources import ResourceKey
from orchestrator.families.releases import history, pins, plan
from orchestrator.families.releases.build import Manifest, ReleaseError
from orchestrator.families.releases.config import ReleasesConfig
from orchestrator.families.releases.saltcli import SaltCli

VERIFY_SLS = "fluxora.verify"


@dataclass(frozen=True, kw_only=True)
class Deployer:
    config: ReleasesConfig
    salt: SaltCli

    @property
    def root(self) -> Path:
        if self.config.root is None:
            raise ReleaseError("releases.root is not set: this daemon deploys nothing")
        return self.config.root

    def release(self, version: str) -> Manifest:
        path = self.root / version
        if not path.is_dir():
            raise ReleaseError(f"no release {version!r} in {self.root} (fluxora-orch release list)")
        return Manifest.read(path)

    def pinned(self, env: str) -> Manifest:
        found = pins.pinned(self.root, env)
        if found is None:
            raise ReleaseError(f"{env} is pinned to no release in {self.root}")
        return found

    def order_refusal(self, env: str, release: Manifest) -> str | None:
        order = self.config.order
        if env not in order:
            return f"env {env!r} is not in releases.order ({', '.join(order)})"
        position = order.index(env)
        if position == 0:
            return None
        before = order[position - 1]
        if history.verified_in(self.root, before, release.digest):
            return None
        return (
            f"release {release.version} has not deployed and verified in {before}: deploy it "
            f"to {before} first ({' -> '.join(order)})"
        )

    def window_refusal(self, env: str, now: datetime | None = None) -> str | None:
        now = now or datetime.now(UTC)
        freeze = self.config.freeze_at(env, now)
        if freeze is None and self.config.window_open(env, now):
            return None
        ready = self.config.next_apply_time(env, now)
        when = _moment(ready) if ready else "never"
        if freeze is not None:
            return (
                f"{env} is in a change freeze until {_moment(freeze.end)} ({freeze.reason}): "
                f"the next deploy can apply {when}"
            )
        windows = ", ".join(self.config.windows[env])
        return f"{env} is outside its maintenance windows ({windows}): the next opens {when}"

    def plan(self, env: str, release: Manifest) -> plan.Plan:
        """`state.apply test=True` of `release` on the environment's hosts (in its plan
        saltenv), summarised and stored under its digest."""
        pins.pin(self.root, pins.plan_env(env), release.version)
        self.salt.refresh()
        found = self.salt.apply(env, saltenv=pins.plan_env(env), test=True)
        made = plan.summarise(env, release.version, release.digest, found)
        plan.store(made, self.root)
        return made

    def pin(self, env: str, release: Manifest) -> Manifest | None:
        before = pins.pin(self.root, env, release.version)
        self.salt.refresh()
        return before

    def apply(self, env: str) -> list[str]:
        """The highstate of the environment's pinned release; its failures."""
        return failures(self.salt.apply(env))

    def verify(self, env: str) -> list[str]:
        """Every host's health checks (fluxora.verify in the pinned release); the failures."""
        return failures(self.salt.apply(env, VERIFY_SLS))

    def record(self, env: str, release: Manifest, outcome: history.Outcome, detail: str) -> None:
        history.append(self.root, history.Record(
            env=env, release=release.version, digest=release.digest, outcome=outcome,
            at=time.time(), detail=detail,
        ))  # fmt: skip


def failures(results: Mapping[str, Any]) -> list[str]:
    """`host: resource: comment` of every state that failed (a render error counts)."""
    summary = plan.summarise("", "", "", results)
    return [
        f"{item.host}: {item.resource}: {item.comment}"
        for item in summary.items
        if item.action == plan.Action.ERROR
    ]


RELEASES = ResourceKey[Deployer]("releases")


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M UTC")
