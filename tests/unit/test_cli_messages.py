"""What the CLI says when a request makes no job: the decisive decision first."""

from __future__ import annotations

from orchestrator.core.decisions import DecisionLine, NoJobError

NO_MATCH = [
    DecisionLine(rule=f"rule-{n}", outcome="no-match", reason="tag does not match")
    for n in range(12)
]
REJECTED = DecisionLine(
    rule="runbook-request", outcome="rejected", reason="no runbook named 'nosuch'"
)


def test_the_decisive_decision_leads_and_no_matches_wait_for_verbose() -> None:
    error = NoJobError("fluxora/request/runbook/nosuch", [*NO_MATCH[:5], REJECTED, *NO_MATCH[5:]])
    assert str(error).splitlines() == [
        "no job for fluxora/request/runbook/nosuch:",
        "  runbook-request: rejected: no runbook named 'nosuch'",
        "  (12 other rules did not match; --verbose lists them)",
    ]
    verbose = error.verbose_text.splitlines()
    assert verbose[1] == "  runbook-request: rejected: no runbook named 'nosuch'"
    assert len(verbose) == 14
    assert verbose[2] == "  rule-0: no-match: tag does not match"


def test_when_no_rule_matched_it_says_so_in_one_line() -> None:
    error = NoJobError("fluxora/request/runbook/x", NO_MATCH)
    assert str(error).splitlines()[1:] == [
        "  none of the 12 rules matched (--verbose gives each one's reason)"
    ]
