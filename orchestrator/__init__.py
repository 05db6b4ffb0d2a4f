"""Fluxora orchestrator: events and schedules in, recorded decisions and jobs out."""

__version__ = "0.1.0"
