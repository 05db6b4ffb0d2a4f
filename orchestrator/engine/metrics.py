"""Metrics of the daemon, declared once per registry (tests pass a fresh CollectorRegistry).

`Metrics` are the intake process's (events, decisions, schedules, the job worker's health);
`JobMetrics` are the job worker's (jobs it ran). The intake's `/metrics` serves both.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from orchestrator import __version__

# Event -> decision is milliseconds; a job runs seconds to an hour (DR drills).
DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
JOB_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class Metrics:
    """The intake process's metrics; families add theirs in their own modules."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.build_info = Info(
            "fluxora_build", "Version of the running orchestrator.", registry=registry
        )
        self.build_info.info({"version": __version__})
        self._declare_events(registry)
        self._declare_approvals(registry)
        self._declare_schedules(registry)
        self._declare_worker(registry)
        self._declare_http(registry)

    def _declare_events(self, registry: CollectorRegistry) -> None:
        self.events_received = Counter(
            "fluxora_events_received",
            "Events committed to the inbox, by source (duplicates not counted).",
            ["source"],
            registry=registry,
        )
        self.events_rejected = Counter(
            "fluxora_events_rejected",
            "Events refused, by source and reason.",
            ["source", "reason"],
            registry=registry,
        )
        self.control_rejected = Counter(
            "fluxora_control_rejected",
            "Signed control requests (job aborts) refused, by action and reason.",
            ["action", "reason"],
            registry=registry,
        )
        self.event_decision_seconds = Histogram(
            "fluxora_event_decision_seconds",
            "Time from an event's arrival to its decisions being stored.",
            buckets=DECISION_BUCKETS,
            registry=registry,
        )
        self.rule_decisions = Counter(
            "fluxora_rule_decisions",
            "Decisions of rules about events, by rule and decision.",
            ["rule", "decision"],
            registry=registry,
        )
        self.alerts_truncated = Counter(
            "fluxora_alertmanager_truncated_alerts",
            "Alerts Alertmanager left out of its notifications (truncatedAlerts: the "
            "receiver's max_alerts); no event was made for them.",
            registry=registry,
        )
        self.inbox_depth = Gauge(
            "fluxora_inbox_depth",
            "Events committed to the inbox and not yet processed.",
            registry=registry,
        )

    def _declare_approvals(self, registry: CollectorRegistry) -> None:
        self.jobs_awaiting_approval = Gauge(
            "fluxora_jobs_awaiting_approval",
            "Jobs waiting for fluxora-orch approve/reject, by env.",
            ["env"],
            registry=registry,
        )

    def _declare_schedules(self, registry: CollectorRegistry) -> None:
        self.schedule_runs = Counter(
            "fluxora_schedule_runs",
            "Schedule fires that emitted their event, by schedule.",
            ["schedule"],
            registry=registry,
        )
        self.schedule_misfires = Counter(
            "fluxora_schedule_misfires",
            "Scheduled runs that did not fire (missed or coalesced away), by schedule.",
            ["schedule"],
            registry=registry,
        )
        self.schedule_interval_seconds = Gauge(
            "fluxora_schedule_interval_seconds",
            "Expected seconds between fires of a schedule (from its trigger).",
            ["schedule"],
            registry=registry,
        )

    def _declare_worker(self, registry: CollectorRegistry) -> None:
        self.job_worker_up = Gauge(
            "fluxora_job_worker_up",
            "1 while the job worker process answers, 0 while it is down or restarting.",
            registry=registry,
        )
        self.job_worker_restarts = Counter(
            "fluxora_job_worker_restarts",
            "Times the job worker process died and was started again.",
            registry=registry,
        )

    def _declare_http(self, registry: CollectorRegistry) -> None:
        self.http_responses = Counter(
            "fluxora_http_responses",
            "HTTP answers, by route pattern and status code ('(unparsed)': not HTTP enough "
            "to route; '(unmatched)': no such route).",
            ["route", "code"],
            registry=registry,
        )
        self.http_connections = Gauge(
            "fluxora_http_connections",
            "HTTP connections open now.",
            registry=registry,
        )
        self.http_connections_refused = Counter(
            "fluxora_http_connections_refused",
            "Connections refused because http.max_connections were open.",
            registry=registry,
        )
        self.store_writable = Gauge(
            "fluxora_store_writable",
            "1 while the store accepts writes, 0 while it cannot write (disk full).",
            registry=registry,
        )
        self.store_write_failures = Counter(
            "fluxora_store_write_failures",
            "Store writes that failed because the store could not write (disk full).",
            registry=registry,
        )
        self.store_writable.set(1)


class JobMetrics:
    """The job worker's metrics: jobs it ran (families declare theirs on the same registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.jobs = Counter(
            "fluxora_jobs",
            "Jobs that reached a final status in this daemon, by runbook, env and status.",
            ["runbook", "env", "status"],
            registry=registry,
        )
        self.jobs_running = Gauge(
            "fluxora_jobs_running",
            "Jobs this daemon is running, by runbook and env.",
            ["runbook", "env"],
            registry=registry,
        )
        self.job_duration_seconds = Histogram(
            "fluxora_job_duration_seconds",
            "Duration of finished job runs, by runbook and env.",
            ["runbook", "env"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
