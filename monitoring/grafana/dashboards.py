"""The Fluxora dashboards: what each panel shows and the PromQL behind it.

Metric names are those of the metrics catalogue (docs/ARCHITECTURE.md), the recording rules in
monitoring/prometheus/rules/ and monitoring/exporter-metrics.yml; a test parses every query here
and fails on any other name. docs/OPERATIONS.md describes each panel for operators.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard
from panels import (
    ENV,
    bargauge_panel,
    datasource_variable,
    env_variable,
    row,
    stat_panel,
    status_mappings,
    thresholds,
    timeseries_panel,
)

STALENESS_STEPS = thresholds((None, "green"), (1.5, "orange"), (3, "red"))
AGAINST_TARGET_STEPS = thresholds((None, "green"), (0.8, "orange"), (1, "red"))
BY_BACKUP = "{{env}} {{database}} ({{kind}})"
BY_DRILL = "{{env}} {{runbook}}"
RATE = "[$__rate_interval]"


def _dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["fluxora", "generated"])
        .readonly()
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("utc")
        .with_variable(datasource_variable())
        .with_variable(env_variable())
    )


def _staleness(title: str, description: str, expr: str, legend: str) -> bargauge.Panel:
    """Age since the last success over the schedule interval: 1 = one interval."""
    return bargauge_panel(
        title, description, [(expr, legend)], unit="none", maximum=4, steps=STALENESS_STEPS
    )


def _against_target(measure: str, description: str) -> bargauge.Panel:
    """The last drill's measured RTO or RPO (`measure`) as a share of the runbook's target."""
    expr = (
        f"runbook_env:fluxora_drill_{measure}_seconds:max{{{ENV}}} / on (runbook, env) "
        f"runbook_env:fluxora_drill_{measure}_target_seconds:min{{{ENV}}}"
    )
    return bargauge_panel(
        f"Drill {measure.upper()} against target",
        description,
        [(expr, BY_DRILL)],
        unit="percentunit",
        maximum=2,
        steps=AGAINST_TARGET_STEPS,
    )


def _jobs_running() -> timeseries.Panel:
    return timeseries_panel(
        "Jobs running",
        "Jobs executing right now, by runbook.",
        [(f"sum by (runbook) (fluxora_jobs_running{{{ENV}}})", "{{runbook}}")],
        "short",
    )


def _jobs_awaiting_approval() -> timeseries.Panel:
    return timeseries_panel(
        "Jobs awaiting approval",
        "Jobs held until an operator runs `fluxora-orch approve` or `reject` (prod drills, "
        "large scale-ins).",
        [(f"sum by (env) (fluxora_jobs_awaiting_approval{{{ENV}}})", "{{env}}")],
        "short",
    )


# --- overview --------------------------------------------------------------------------------


def _backups(dashboard: Dashboard) -> Dashboard:
    ratio = f"env_database_kind:fluxora_backup_staleness:ratio{{{ENV}}}"
    verify_ratio = f"env_database_kind:fluxora_restore_verify_staleness:ratio{{{ENV}}}"
    verify_status = f"env_database_kind:fluxora_restore_verify_last_status:min{{{ENV}}}"
    by_backup = "max by (env, database, kind)"
    return (
        dashboard.with_row(row("Backups and restore-verify"))
        .with_panel(
            _staleness(
                "Backup age against schedule",
                "Time since the last successful backup divided by its schedule interval (1 = "
                "one interval). FluxoraBackupStale warns over 1.5 and is critical over 3.",
                ratio,
                BY_BACKUP,
            )
        )
        .with_panel(
            _staleness(
                "Restore-verify age against schedule",
                "Time since the last restore-verify that passed, divided by its schedule "
                "interval. FluxoraRestoreVerifyStale warns over 1.5.",
                verify_ratio,
                BY_BACKUP,
            )
        )
        .with_panel(
            stat_panel(
                "Last restore-verify",
                "Whether the newest backup of each database was last proven restorable.",
                [(verify_status, BY_BACKUP)],
                mappings=status_mappings("PASSED", "FAILED"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Backup and restore failures",
                "Failed backup and restore-verify runs per interval.",
                [
                    (
                        f"sum by (env, database, kind) (increase("
                        f"fluxora_backup_failures_total{{{ENV}}}{RATE}))",
                        "backup " + BY_BACKUP,
                    ),
                    (
                        f"sum by (env, database, kind) (increase("
                        f"fluxora_restore_verify_failures_total{{{ENV}}}{RATE}))",
                        "restore-verify " + BY_BACKUP,
                    ),
                ],
                "short",
                bars=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Backup size",
                "Stored bytes of the last successful backup (compressed).",
                [(f"{by_backup} (fluxora_backup_size_bytes{{{ENV}}})", BY_BACKUP)],
                "bytes",
            )
        )
        .with_panel(
            timeseries_panel(
                "Backup and restore duration",
                "Wall time of the last successful backup and of the last restore-verify "
                "(the restore is the RTO a real restore would take).",
                [
                    (
                        f"{by_backup} (fluxora_backup_duration_seconds{{{ENV}}})",
                        "backup " + BY_BACKUP,
                    ),
                    (
                        f"{by_backup} (fluxora_restore_duration_seconds{{{ENV}}})",
                        "restore " + BY_BACKUP,
                    ),
                ],
                "s",
            )
        )
    )


def _drills(dashboard: Dashboard) -> Dashboard:
    return (
        dashboard.with_row(row("DR drills and replication"))
        .with_panel(
            stat_panel(
                "Last drill",
                "Each scheduled drill's last run: TARGETS MET when it completed within its RTO "
                "and RPO targets, FAILED otherwise (FluxoraDrillFailed).",
                [(f"runbook_env:fluxora_drill_last_status:min{{{ENV}}}", BY_DRILL)],
                mappings=status_mappings("TARGETS MET", "FAILED"),
            )
        )
        .with_panel(
            _staleness(
                "Drill age against schedule",
                "Time since each drill last succeeded divided by its schedule interval. "
                "FluxoraDrillOverdue warns over 1.5.",
                f"runbook_env:fluxora_drill_staleness:ratio{{{ENV}}}",
                BY_DRILL,
            )
        )
        .with_panel(
            _against_target(
                "rto",
                "Measured recovery time of the last drill as a share of its target (100% = "
                "exactly on target, red over it).",
            )
        )
        .with_panel(
            _against_target(
                "rpo", "Measured data loss window of the last drill as a share of its target."
            )
        )
        .with_panel(
            timeseries_panel(
                "PostgreSQL replication lag",
                "Bytes of WAL each standby is behind its primary, seen from the primary. "
                "FluxoraPostgresReplicationLagHigh warns over 64 MiB for 5 minutes.",
                [
                    (
                        f"env_instance_replica:pg_replication_lag_bytes:max{{{ENV}}}",
                        "{{env}} {{instance}} → {{replica}}",
                    )
                ],
                "bytes",
                limit=(64 * 1024 * 1024, "orange"),
            )
        )
    )


def _scaling(dashboard: Dashboard) -> Dashboard:
    return (
        dashboard.with_row(row("Scaling"))
        .with_panel(
            timeseries_panel(
                "Forecast queue depth",
                "Jobs waiting per forecast queue. Over 500 for 5 minutes raises "
                "FluxoraForecastQueueBacklog, and the scaling rules scale the workers out.",
                [(f"env_queue:fluxora_forecast_queue_depth:max{{{ENV}}}", "{{env}} {{queue}}")],
                "short",
                limit=(500, "orange"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Desired capacity",
                "Desired instance count of each Auto Scaling group as the orchestrator last "
                "set or read it.",
                [(f"max by (env, group) (fluxora_asg_desired_capacity{{{ENV}}})", "{{group}}")],
                "short",
            )
        )
        .with_panel(
            timeseries_panel(
                "Scaling actions",
                "Scaling calls per interval by group, direction and result.",
                [
                    (
                        f"sum by (group, direction, result) (increase("
                        f"fluxora_scaling_actions_total{{{ENV}}}{RATE}))",
                        "{{group}} {{direction}} {{result}}",
                    )
                ],
                "short",
                bars=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Scaling actions suppressed",
                "Scaling requests the safety rules held back (cooldown, warmup, drill lock, "
                "bounds), by group and reason.",
                [
                    (
                        f"sum by (group, reason) (increase("
                        f"fluxora_scaling_suppressed_total{{{ENV}}}{RATE}))",
                        "{{group}} {{reason}}",
                    )
                ],
                "short",
                bars=True,
            )
        )
    )


def _jobs_and_alerts(dashboard: Dashboard) -> Dashboard:
    return (
        dashboard.with_row(row("Jobs and alerts"))
        .with_panel(
            timeseries_panel(
                "Job outcomes",
                "Jobs finished per interval, stacked by final status (completed, failed, "
                "aborted, interrupted).",
                [
                    (
                        f"sum by (status) (increase(fluxora_jobs_total{{{ENV}}}{RATE}))",
                        "{{status}}",
                    )
                ],
                "short",
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            stat_panel(
                "Firing alerts",
                "Fluxora alerts firing now, by severity.",
                [
                    (
                        f'count by (severity) (ALERTS{{alertstate="firing", {ENV}}})',
                        "{{severity}}",
                    )
                ],
                steps=thresholds((None, "orange"), (1, "red")),
            )
        )
        .with_panel(_jobs_running())
        .with_panel(_jobs_awaiting_approval())
    )


def overview() -> Dashboard:
    dashboard = _dashboard(
        "fluxora-overview",
        "Fluxora overview",
        "Backup freshness, DR drills against their targets, scaling and job outcomes.",
    )
    return _jobs_and_alerts(_scaling(_drills(_backups(dashboard))))


# --- orchestrator internals ------------------------------------------------------------------


def _health(dashboard: Dashboard) -> Dashboard:
    return (
        dashboard.with_row(row("Health"))
        .with_panel(
            stat_panel(
                "Orchestrator up",
                "Whether Prometheus's last scrape of each orchestrator daemon succeeded.",
                [(f'up{{job="fluxora-orchestrator", {ENV}}}', "{{env}} {{instance}}")],
                mappings=status_mappings("UP", "DOWN"),
            )
        )
        .with_panel(
            stat_panel(
                "Version",
                "The fluxora-orch version each daemon runs.",
                [(f"fluxora_build_info{{{ENV}}}", "{{env}} {{instance}}: {{version}}")],
                show_name=False,
            )
        )
        .with_panel(
            timeseries_panel(
                "Inbox depth",
                "Events committed to the store and not yet processed by the rules. It should "
                "return to 0 within seconds; FluxoraInboxBacklogGrowing fires when it does not "
                "drain for 10 minutes and keeps growing.",
                [(f"env:fluxora_inbox_depth:max{{{ENV}}}", "{{env}}")],
                "short",
            )
        )
    )


def _events(dashboard: Dashboard) -> Dashboard:
    return (
        dashboard.with_row(row("Events"))
        .with_panel(
            timeseries_panel(
                "Events received by source",
                "Accepted events per second by source (salt, webhook, alertmanager, "
                "schedule, cli).",
                [
                    (
                        f"sum by (source) (rate(fluxora_events_received_total{{{ENV}}}{RATE}))",
                        "{{source}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            timeseries_panel(
                "Events rejected by source and reason",
                "Rejected events per second (bad signature, replay, wrong token, malformed).",
                [
                    (
                        f"sum by (source, reason) (rate("
                        f"fluxora_events_rejected_total{{{ENV}}}{RATE}))",
                        "{{source}}: {{reason}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            timeseries_panel(
                "Rejected share by source",
                "Rejected / (rejected + accepted) over 5 minutes. FluxoraEventsRejectedHigh "
                "fires over 10% for 10 minutes.",
                [
                    (
                        f"env_source:fluxora_events_rejected:ratio_rate5m{{{ENV}}}",
                        "{{env}} {{source}}",
                    )
                ],
                "percentunit",
                limit=(0.1, "orange"),
            )
        )
    )


def _quantile(q: float, metric: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{ENV}}}{RATE})))"


def _decisions(dashboard: Dashboard) -> Dashboard:
    latency = "fluxora_event_decision_seconds"
    return (
        dashboard.with_row(row("Decisions"))
        .with_panel(
            timeseries_panel(
                "Rule decisions by outcome",
                "Decisions per second: fired, no-match, suppressed (dedup, cooldown, lock "
                "held), awaiting-approval.",
                [
                    (
                        f"sum by (decision) (rate(fluxora_rule_decisions_total{{{ENV}}}{RATE}))",
                        "{{decision}}",
                    )
                ],
                "ops",
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Decisions by rule",
                "Decisions per second for each rule and outcome.",
                [
                    (
                        f"sum by (rule, decision) (rate("
                        f"fluxora_rule_decisions_total{{{ENV}}}{RATE}))",
                        "{{rule}}: {{decision}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            timeseries_panel(
                "Event to decision latency",
                "Time from an event's receipt to all rule decisions about it being stored.",
                [
                    (_quantile(0.5, latency, "le"), "p50"),
                    (_quantile(0.9, latency, "le"), "p90"),
                    (_quantile(0.99, latency, "le"), "p99"),
                ],
                "s",
            )
        )
    )


def _jobs(dashboard: Dashboard) -> Dashboard:
    duration = "fluxora_job_duration_seconds"
    mean = (
        f"sum by (runbook) (rate({duration}_sum{{{ENV}}}{RATE})) / "
        f"sum by (runbook) (rate({duration}_count{{{ENV}}}{RATE}))"
    )
    return (
        dashboard.with_row(row("Jobs"))
        .with_panel(
            timeseries_panel(
                "Job duration by runbook",
                "Median, 95th percentile and mean run time of the jobs that finished.",
                [
                    (_quantile(0.5, duration, "le, runbook"), "{{runbook}} p50"),
                    (_quantile(0.95, duration, "le, runbook"), "{{runbook}} p95"),
                    (mean, "{{runbook}} mean"),
                ],
                "s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Jobs finished by runbook and status",
                "Jobs finished per interval.",
                [
                    (
                        f"sum by (runbook, status) (increase(fluxora_jobs_total{{{ENV}}}{RATE}))",
                        "{{runbook}} {{status}}",
                    )
                ],
                "short",
                bars=True,
            )
        )
        .with_panel(_jobs_running())
        .with_panel(_jobs_awaiting_approval())
    )


def _schedules(dashboard: Dashboard) -> Dashboard:
    return (
        dashboard.with_row(row("Schedules"))
        .with_panel(
            timeseries_panel(
                "Schedule runs",
                "Schedule fires per interval (each emits a fluxora/schedule/<name> event).",
                [
                    (
                        f"sum by (schedule) (increase(fluxora_schedule_runs_total{{{ENV}}}{RATE}))",
                        "{{schedule}}",
                    )
                ],
                "short",
                bars=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Schedule misfires in the last hour",
                "Runs a schedule missed (the daemon was down or busy past the grace time). "
                "Any raises FluxoraScheduleMisfires.",
                [
                    (
                        f"env_schedule:fluxora_schedule_misfires:increase1h{{{ENV}}}",
                        "{{env}} {{schedule}}",
                    )
                ],
                "short",
                limit=(1, "orange"),
            )
        )
        .with_panel(
            stat_panel(
                "Schedule intervals",
                "Each schedule's interval as its trigger defines it (cron schedules: the "
                "time between two fires).",
                [
                    (
                        f"max by (schedule) (fluxora_schedule_interval_seconds{{{ENV}}})",
                        "{{schedule}}",
                    )
                ],
                unit="s",
            )
        )
    )


def orchestrator_internals() -> Dashboard:
    dashboard = _dashboard(
        "fluxora-orchestrator",
        "Fluxora orchestrator internals",
        "The fluxora-orch daemon: events in, rule decisions, jobs, inbox and schedules.",
    )
    return _schedules(_jobs(_decisions(_events(_health(dashboard)))))


DASHBOARDS = {
    "fluxora-overview.json": overview,
    "fluxora-orchestrator.json": orchestrator_internals,
}
