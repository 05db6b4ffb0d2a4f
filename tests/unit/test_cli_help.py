"""Every command's help says what that command does (no text copied from another)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from orchestrator.cli import build_parser


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(command path, the description its --help prints) for every command and sub-command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", " ".join((sub.description or "").split())
                yield from commands(sub, f"{prefix}{name} ")


def test_every_command_has_a_description_of_its_own() -> None:
    found = dict(commands(build_parser()))
    assert {"approve", "reject", "runbook docs"} <= set(found)
    assert [name for name, text in found.items() if not text] == []
    by_text: dict[str, list[str]] = {}
    for name, text in found.items():
        by_text.setdefault(text, []).append(name)
    assert [names for names in by_text.values() if len(names) > 1] == []


def test_reject_says_the_job_never_runs() -> None:
    found = dict(commands(build_parser()))
    assert "never runs" in found["reject"]
    assert "daemon runs it" not in found["reject"]
