"""A deploy plan: what `state.apply test=True` of a release in an environment says it would
do, per host and resource, as add / change / remove (like a Terraform plan), plus the states
that could not be planned (`error`). Its digest is the sha256 of its canonical JSON (env,
release, release digest, items): the same pending work gives the same digest, so an approval
given to one digest holds exactly as long as the plan does not change.

Which of add, change, remove a pending state is: a state function that deletes (`absent`,
`removed`, `purged`, `dead`) removes; one whose test answer names a new file (`newfile`) or
says it would be created or installed adds; anything else pending changes. A state that
lists orphans (`changes: {orphans: [...]}`, fluxora_orphans.absent: resources tagged as the
environment's that pillar no longer declares) gives one `remove` per orphan, named as the
state names it (`bucket fluxora-staging-old (eu-west-1)`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

REMOVING = frozenset({"absent", "removed", "purged", "dead", "deleted"})
ADDING_WORDS = ("would be created", "will be created", "would be installed")


class Action(StrEnum):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class Item:
    host: str
    resource: str
    """`<module>.<function> <name>` (`file.managed /etc/x`)."""
    action: Action
    comment: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    env: str
    release: str
    release_digest: str
    items: list[Item] = field(default_factory=list)

    @property
    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        found = {action.value: 0 for action in Action}
        for item in self.items:
            found[item.action.value] += 1
        return found

    @property
    def changes(self) -> bool:
        return bool(self.items)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "digest": self.digest, "counts": self.counts()}


def _resource(key: str) -> tuple[str, str]:
    """`file_|-id_|-/etc/x_|-managed` -> (`file.managed /etc/x`, `managed`)."""
    parts = key.split("_|-")
    if len(parts) != 4:
        return key, ""
    module, _id, name, function = parts
    return f"{module}.{function} {name}", function


def _action(function: str, state: Mapping[str, Any]) -> Action | None:
    if state.get("result") is False:
        return Action.ERROR
    if state.get("result") is True and not state.get("changes"):
        return None
    if function in REMOVING:
        return Action.REMOVE
    comment = str(state.get("comment", "")).lower()
    if "newfile" in (state.get("changes") or {}) or any(w in comment for w in ADDING_WORDS):
        return Action.ADD
    return Action.CHANGE


def _host_items(host: str, states: Any) -> list[Item]:
    if not isinstance(states, Mapping):  # a render error: Salt answers with a list of texts
        errors = states if isinstance(states, list) else [states]
        return [Item(host=host, resource="(render)", action=Action.ERROR, comment=str(e))
                for e in errors]  # fmt: skip
    items = []
    for key, state in sorted(states.items()):
        resource, function = _resource(key)
        action = _action(function, state)
        orphans = (state.get("changes") or {}).get("orphans")
        if action is Action.REMOVE and isinstance(orphans, list):
            note = "not declared in pillar any more"
            items += [Item(host=host, resource=str(orphan), action=action, comment=note)
                      for orphan in orphans]  # fmt: skip
        elif action is not None:
            items.append(Item(host=host, resource=resource, action=action,
                              comment=str(state.get("comment", ""))[:500]))  # fmt: skip
    return items


def summarise(env: str, release: str, release_digest: str, results: Mapping[str, Any]) -> Plan:
    """The plan from `state.apply test=True` results (minion id -> state results)."""
    items = [item for host in sorted(results) for item in _host_items(host, results[host])]
    return Plan(env=env, release=release, release_digest=release_digest, items=items)


def store(plan: Plan, root: Path) -> Path:
    """Write the plan under `<root>/plans/<env>/<digest>.json` (what an approval names)."""
    path = root / "plans" / plan.env / f"{plan.digest}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=True))
    return path
