"""Disaster-recovery drills on the executor's hooks (issue 6): steady-state checks, stop
conditions, RTO/RPO measured against the runbook's targets, and the drill metrics.

`orchestrator.actions.dr` registers them with `build_hooks`, exactly as an extension would.
"""
