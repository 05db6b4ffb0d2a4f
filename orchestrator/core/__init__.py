"""Contracts shared by every part of the orchestrator: results and actions (more as they grow)."""
