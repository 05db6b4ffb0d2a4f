"""Schedules (APScheduler 3): each fire emits `fluxora/schedule/<name>` through the inbox.

```yaml
schedules:
  - name: restore-drill          # the event tag is fluxora/schedule/restore-drill
    cron: "30 2 * * *"           # crontab (minute hour day month day-of-week), or:
    # interval: 1h
    timezone: UTC
    misfire_grace: 10m           # a run later than this is missed (default 5m)
    data: {database: forecasts}  # merged into the event's data
```
Jobs persist in an SQLAlchemy job store (next to the store), with coalescing: after downtime
a schedule fires once, not once per missed run. APScheduler drops coalesced runs silently, so
each fire or miss also records every run time the trigger had between the previous recorded
run and this one as missed (stored and counted in `fluxora_schedule_misfires_total`).

Only one daemon runs schedules: the holder of the `schedules` lease (its fencing token goes
into each event's data as `leader_token`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.engine import make_url

from orchestrator.core.config import problem
from orchestrator.core.durations import Duration
from orchestrator.core.errors import FluxoraError
from orchestrator.core.events import Event, EventSource, utcnow
from orchestrator.core.inbox import Intake, Submission
from orchestrator.core.logs import get_logger
from orchestrator.core.names import NAME
from orchestrator.engine.metrics import Metrics
from orchestrator.store.base import Lease, ScheduleRun
from orchestrator.store.runner import StoreRunner

log = get_logger(__name__)

LEASE = "schedules"
LEASE_TTL = 30.0
LEASE_RENEW = 10.0
MAX_MISSED_RECORDED = 10_000
JOBSTORE_TABLE = "fluxora_schedule_jobs"


class ScheduleError(FluxoraError, ValueError):
    def __init__(self, source: str, schedule: str, key: str, reason: str) -> None:
        super().__init__(f"{source}: schedule {schedule!r}: {key}: {reason}")


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME.pattern)
    cron: str | None = None
    interval: Duration | None = Field(default=None, gt=0)
    timezone: str = "UTC"
    misfire_grace: Duration = 300.0
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleSpec:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron or interval")
        self.trigger()  # a bad crontab or timezone fails here, at load
        return self

    def trigger(self) -> Any:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=self.timezone)
        return IntervalTrigger(seconds=self.interval, timezone=self.timezone)

    def next_fire(self, now: datetime) -> datetime:
        """When the schedule fires next after `now`."""
        return self.trigger().get_next_fire_time(None, now)  # type: ignore[no-any-return]

    def interval_seconds(self, now: datetime) -> float:
        """Seconds between the next two fires (what staleness alerts compare against)."""
        if self.interval is not None:
            return self.interval
        trigger = self.trigger()
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first)
        return float((second - first).total_seconds())


def parse_schedules(raw: Sequence[Any], source: str) -> list[ScheduleSpec]:
    schedules: list[ScheduleSpec] = []
    for index, item in enumerate(raw):
        label = item.get("name") if isinstance(item, dict) and item.get("name") else f"#{index + 1}"
        try:
            spec = ScheduleSpec.model_validate(item)
        except ValidationError as exc:
            key, reason = problem(exc)
            raise ScheduleError(source, str(label), key or "(schedule)", reason) from exc
        if any(s.name == spec.name for s in schedules):
            raise ScheduleError(source, spec.name, "name", "another schedule has this name")
        schedules.append(spec)
    return schedules


async def tick(name: str) -> None:
    """The APScheduler job: the fire itself is handled by the source's listener, which knows
    the scheduled run time (APScheduler stores this function by reference)."""
    return


def schedule_tag(name: str) -> str:
    return f"fluxora/schedule/{name}"


def missed_between(trigger: Any, previous: datetime, current: datetime) -> list[datetime]:
    """Fire times of `trigger` strictly between `previous` and `current`."""
    missed: list[datetime] = []
    moment = trigger.get_next_fire_time(previous, previous)
    while moment is not None and moment < current and len(missed) < MAX_MISSED_RECORDED:
        missed.append(moment)
        moment = trigger.get_next_fire_time(moment, moment)
    return missed


@dataclass(frozen=True, kw_only=True)
class ScheduleDeps:
    runner: StoreRunner
    intake: Intake
    metrics: Metrics
    jobstore_url: str
    node_id: str


class ScheduleSource:
    def __init__(self, schedules: Sequence[ScheduleSpec], deps: ScheduleDeps) -> None:
        self._specs = {s.name: s for s in schedules}
        self._deps = deps
        self._scheduler: Any = None
        self._lease: Lease | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        now = utcnow()
        metrics = self._deps.metrics
        for spec in self._specs.values():
            metrics.schedule_interval_seconds.labels(spec.name).set(spec.interval_seconds(now))
            # From 0, so that the first fire or misfire is an increase() the alerts can see.
            metrics.schedule_runs.labels(spec.name)
            metrics.schedule_misfires.labels(spec.name)
        self._task = asyncio.create_task(self._lead(), name="schedule-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._shutdown_scheduler()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._lease is not None:
            await self._deps.runner.call(self._deps.runner.store.release_lease, self._lease)

    async def _lead(self) -> None:
        """Hold the lease while running the scheduler; give the scheduler up if it is lost."""
        store = self._deps.runner.store
        while True:
            try:
                lease = await self._deps.runner.call(
                    store.acquire_lease, LEASE, self._deps.node_id, LEASE_TTL
                )
            except Exception:
                log.exception("renewing the schedule lease failed")
                lease = None
            if lease is not None and self._scheduler is None:
                log.info("schedule leader", node_id=self._deps.node_id, fence=lease.token)
                self._start_scheduler()
            elif lease is None and self._scheduler is not None:
                log.warning("schedule lease lost; schedules stop here", node_id=self._deps.node_id)
                self._shutdown_scheduler()
            self._lease = lease
            await asyncio.sleep(LEASE_RENEW)

    def _start_scheduler(self) -> None:
        from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        store = SQLAlchemyJobStore(url=self._deps.jobstore_url, tablename=JOBSTORE_TABLE)
        scheduler = AsyncIOScheduler(jobstores={"default": store}, timezone="UTC")
        scheduler.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
        scheduler.start(paused=True)
        self._sync_jobs(scheduler)
        scheduler.resume()
        self._scheduler = scheduler

    def _sync_jobs(self, scheduler: Any) -> None:
        """Keep a job whose trigger is unchanged (so runs missed while down are seen),
        replace a changed one, remove one no longer configured."""
        for job in scheduler.get_jobs():
            if job.id not in self._specs:
                scheduler.remove_job(job.id)
        for spec in self._specs.values():
            trigger = spec.trigger()
            existing = scheduler.get_job(spec.name)
            if (
                existing is not None
                and str(existing.trigger) == str(trigger)
                and (existing.misfire_grace_time == int(spec.misfire_grace))
            ):
                continue
            scheduler.add_job(
                tick,
                trigger,
                args=[spec.name],
                id=spec.name,
                name=spec.name,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(spec.misfire_grace),
            )

    def _shutdown_scheduler(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MISSED

        spec = self._specs.get(event.job_id)
        if spec is None:
            return
        fired = event.code != EVENT_JOB_MISSED
        task = asyncio.get_running_loop().create_task(
            self._record(spec, event.scheduled_run_time, fired)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record(self, spec: ScheduleSpec, scheduled_at: datetime, fired: bool) -> None:
        try:
            await self._record_runs(spec, scheduled_at, fired)
        except Exception:
            log.exception("recording a schedule run failed", schedule=spec.name)

    async def _record_runs(self, spec: ScheduleSpec, scheduled_at: datetime, fired: bool) -> None:
        runner = self._deps.runner
        last = await runner.call(runner.store.last_schedule_run, spec.name)
        runs = []
        if last is not None and last.scheduled_at < scheduled_at:
            runs = [
                ScheduleRun(schedule=spec.name, scheduled_at=moment, fired=False)
                for moment in missed_between(spec.trigger(), last.scheduled_at, scheduled_at)
            ]
        event = self._event(spec, scheduled_at) if fired else None
        runs.append(
            ScheduleRun(
                schedule=spec.name,
                scheduled_at=scheduled_at,
                fired=fired,
                event_id=event.id if event else None,
            )
        )
        new = await runner.call(runner.store.record_schedule_runs, runs)
        self._count(spec, new)
        if event is not None and any(run.fired for run in new):
            await self._deps.intake.submit(Submission(event=event))

    def _count(self, spec: ScheduleSpec, runs: Sequence[ScheduleRun]) -> None:
        for run in runs:
            if run.fired:
                self._deps.metrics.schedule_runs.labels(spec.name).inc()
            else:
                self._deps.metrics.schedule_misfires.labels(spec.name).inc()
                log.warning(
                    "schedule run missed",
                    schedule=spec.name,
                    scheduled_at=run.scheduled_at.isoformat(),
                )

    def _event(self, spec: ScheduleSpec, scheduled_at: datetime) -> Event:
        return schedule_event(spec, scheduled_at, self._lease.token if self._lease else None)


def schedule_event(spec: ScheduleSpec, scheduled_at: datetime, leader_token: int | None) -> Event:
    """The event a fire of `spec` at `scheduled_at` emits (its id dedups a run fired twice)."""
    data = {
        **spec.data,
        "schedule": spec.name,
        "scheduled_at": scheduled_at.isoformat(),
        "leader_token": leader_token,
    }
    return Event(
        tag=schedule_tag(spec.name),
        source=EventSource.SCHEDULE,
        data=data,
        id=f"schedule-{spec.name}-{int(scheduled_at.timestamp())}",
    )


def jobstore_url(store_url: str | None, data_dir: Path) -> str:
    """The APScheduler job store: beside the SQLite store, or in the PostgreSQL store."""
    if store_url is None:
        return f"sqlite:///{data_dir / 'schedules.sqlite'}"
    url = make_url(store_url)
    if url.get_backend_name() in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)
