"""What was deployed where: one JSON line per deploy outcome in `<root>/deploys.jsonl`
(env, release, its digest, result, time). The order gate reads it; people read it too."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

HISTORY = "deploys.jsonl"


class Outcome(StrEnum):
    VERIFIED = "verified"
    """Applied and verified: the release may go on to the next environment."""
    ROLLED_BACK = "rolled-back"
    """Failed; the previous release was applied again and verified."""
    ROLLBACK_FAILED = "rollback-failed"


@dataclass(frozen=True, kw_only=True)
class Record:
    env: str
    release: str
    digest: str
    outcome: Outcome
    at: float
    detail: str = ""


def append(root: Path, record: Record) -> None:
    with (root / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(record), sort_keys=True) + "\n")


def records(root: Path) -> list[Record]:
    path = root / HISTORY
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Record(**json.loads(line)) for line in lines if line.strip()]


def verified_in(root: Path, env: str, digest: str) -> bool:
    return any(
        r.env == env and r.digest == digest and r.outcome == Outcome.VERIFIED for r in records(root)
    )
