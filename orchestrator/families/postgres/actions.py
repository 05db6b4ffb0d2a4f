"""PostgreSQL HA actions (`postgres.roles|handover|wait_leader|rejoin|fence_orphans|
check_writers|verify_writes|probe_start|probe_stop|cut_home|start_home`,
`endpoint.repoint|follow_leader`, `aws.route53.failover`, `check.sql`); the logic lives in
`orchestrator.families.postgres` (`ha.py` drives Patroni: it elects, promotes and rejoins; the
orchestrator asks, injects a drill's fault, waits on what Patroni reports, and checks the
invariants; `region.py` keeps a region evacuation to one writer).

Clusters come from the `postgres_clusters:` config section through the `postgres_clusters`
resource; the write probes of running drills live in the `dr_probes` resource. Under
`ctx.dry_run` every action changes nothing and returns its plan (the SQL, commands or boto3
call it would make).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pydantic import Field

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry
from orchestrator.core.durations import Duration
from orchestrator.core.errors import FluxoraError
from orchestrator.core.resources import ResourceKey
from orchestrator.core.results import Result
from orchestrator.families.aws.clients import AWS, AwsClients
from orchestrator.families.postgres import checks, endpoint, failover, ha, region
from orchestrator.families.postgres.checks import Compare
from orchestrator.families.postgres.ha import Mode
from orchestrator.families.postgres.probe import NotResumedError, WriteProbe, measure, present_rows
from orchestrator.families.postgres.topology import (
    ClusterConfig,
    Route53Endpoint,
    UnknownClusterError,
)

EXPECTED_FAILURES = (FluxoraError, psycopg.Error, OSError)


@dataclass(frozen=True)
class Clusters:
    """The configured clusters of one environment."""

    env: str
    by_name: Mapping[str, ClusterConfig]

    def get(self, name: str) -> ClusterConfig:
        try:
            return self.by_name[name]
        except KeyError:
            raise UnknownClusterError(self.env, name, sorted(self.by_name)) from None


@dataclass
class Probes:
    """Running write probes by job id (one per drill)."""

    running: dict[str, WriteProbe] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, probe: WriteProbe) -> None:
        with self.lock:
            old = self.running.pop(key, None)
            self.running[key] = probe
        if old is not None:
            old.stop()

    def pop(self, key: str) -> WriteProbe | None:
        with self.lock:
            return self.running.pop(key, None)


CLUSTERS = ResourceKey[Clusters]("postgres_clusters")
PROBES = ResourceKey[Probes]("dr_probes")


class ClusterParams(ActionParams):
    cluster: str = Field(min_length=1)


class NodeParams(ClusterParams):
    node: str = Field(min_length=1)


class CheckSqlParams(ClusterParams):
    node: str = "@primary"  # a node name or a role (@primary, @replica, @home, @dr)
    dbname: str | None = None  # default: the cluster's database
    query: str = Field(min_length=1)
    expect: Any
    op: Compare = Compare.EQ
    # Keep asking until the check holds, at most this long (0: once). An invariant re-checked
    # right after a crash may find Patroni still electing a leader (up to its ttl).
    within: Duration = Field(default=0.0, ge=0)


class RolesParams(ClusterParams):
    require_away_from_home: bool = False  # failback: fail when the home node is primary


class WritersParams(ClusterParams):
    max: int = Field(default=1, ge=0)
    members_only: bool = False  # Patroni's members alone, not the DR region's node


class HandoverParams(ClusterParams):
    mode: Mode
    leader: str = Field(min_length=1)  # the leader now (the roles step)
    candidate: str = Field(min_length=1)  # the replica to promote
    inject_fault: bool = False  # drills, unplanned: crash the leader's node (fault_command)


class WaitLeaderParams(ClusterParams):
    old: str = Field(min_length=1)
    candidate: str = Field(min_length=1)  # asked for by manual failover if none is elected
    timeout: float = Field(default=60.0, gt=0)


class RejoinParams(NodeParams):
    timeout: float = Field(default=120.0, gt=0)


class VerifyParams(ClusterParams):
    expect: str | None = None


class CutHomeParams(ClusterParams):
    inject_fault: bool = False  # drills: crash every home node first (their fault_command)


class StartHomeParams(ClusterParams):
    drill: bool = False  # only a drill crashed the home nodes: otherwise nothing to start
    timeout: float = Field(default=120.0, gt=0)


class ProbeStopParams(ClusterParams):
    # false: only stop it (a rollback, when the endpoint may name a node that is down)
    measure: bool = True


class ProbeStartParams(ClusterParams):
    interval_ms: int = Field(default=50, ge=10)
    max_seconds: float = Field(default=1800.0, gt=0)


def _cluster(ctx: ActionContext, name: str) -> ClusterConfig:
    return ctx.resource(CLUSTERS).get(name)


def _aws(ctx: ActionContext) -> AwsClients | None:
    return ctx.resources.get(AWS)


def _guard(ctx: ActionContext, what: str, act: Callable[[], Result]) -> Result:
    """Expected failures become failed Results naming the step's subject."""
    try:
        return act()
    except EXPECTED_FAILURES as exc:
        error = f"{what}: {exc}"
        ctx.log.error("action failed", job_id=ctx.job_id, error=error)  # noqa: TRY400 expected
        return Result.failure(error)


def check_sql(ctx: ActionContext, params: CheckSqlParams) -> Result:
    def act() -> Result:
        cluster = _cluster(ctx, params.cluster)
        node = failover.resolve_node(cluster, params.node, _aws(ctx))
        dbname = params.dbname or cluster.dbname
        if ctx.dry_run:
            return Result.success(plan={"node": node, "dbname": dbname, "sql": params.query})
        value = checks.run_check(cluster, node, dbname, params.query)
        shown = {"node": node, "value": value, "op": params.op.value, "expect": params.expect}
        if checks.compare(value, params.op, params.expect):
            return Result.success(**shown)
        return Result.failure(
            f"{params.query!r} on {node} gave {value!r}, expected {params.op.value} "
            f"{params.expect!r}",
            **shown,
        )

    deadline = time.monotonic() + params.within
    result = _guard(ctx, f"check.sql on {params.cluster}", act)
    while not result.ok and time.monotonic() < deadline and not ctx.cancelled.wait(0.5):
        result = _guard(ctx, f"check.sql on {params.cluster}", act)
    return result


def roles(ctx: ActionContext, params: RolesParams) -> Result:
    def act() -> Result:
        cluster = _cluster(ctx, params.cluster)
        found = ha.roles(cluster) if cluster.patroni else failover.roles(cluster, _aws(ctx))
        if params.require_away_from_home and found.primary == found.home:
            return Result.failure(
                f"nothing to fail back: the home node {found.home} is the primary",
                primary=found.primary,
            )
        return Result.success(primary=found.primary, replica=found.replica, home=found.home)

    return _guard(ctx, f"roles of {params.cluster}", act)


def check_writers(ctx: ActionContext, params: WritersParams) -> Result:
    def act() -> Result:
        found = ha.writers(_cluster(ctx, params.cluster), members_only=params.members_only)
        if len(found) > params.max:
            return Result.failure(
                f"{len(found)} nodes accept writes ({', '.join(found)}); at most {params.max} may",
                writers=found,
            )
        return Result.success(writers=found)

    return _guard(ctx, f"writers of {params.cluster}", act)


def _change(
    ctx: ActionContext,
    what: str,
    cluster_name: str,
    plan: Callable[[ClusterConfig], Any],
    act: Callable[[ClusterConfig], dict[str, Any]],
    **dry_data: Any,
) -> Result:
    """An action that changes something: its plan under dry run, else its outcome."""

    def run() -> Result:
        cluster = _cluster(ctx, cluster_name)
        if ctx.dry_run:
            return Result.success(plan=plan(cluster), **dry_data)
        return Result.success(changed=True, **act(cluster))

    return _guard(ctx, what, run)


def handover(ctx: ActionContext, params: HandoverParams) -> Result:
    def plan(_: ClusterConfig) -> dict[str, Any]:
        if params.mode is Mode.PLANNED:
            what = f"POST /switchover leader={params.leader} candidate={params.candidate}"
        elif params.inject_fault:
            what = f"run {params.leader}'s fault_command (crash the whole node)"
        else:
            what = "nothing: the leader is lost; Patroni fails over"
        return {"patroni": what}

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return ha.handover(
            cluster, params.mode, params.leader, params.candidate, inject_fault=params.inject_fault
        )

    what = f"{params.mode.value} handover from {params.leader}"
    return _change(ctx, what, params.cluster, plan, act, old=params.leader)


def wait_leader(ctx: ActionContext, params: WaitLeaderParams) -> Result:
    def plan(_: ClusterConfig) -> str:
        return f"wait for a leader other than {params.old}; else POST /failover {params.candidate}"

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return ha.wait_leader(cluster, params.old, params.candidate, params.timeout, ctx.cancelled)

    # leader: later steps' templates read it, so a dry run renders them too
    what = f"a new leader for {params.cluster}"
    return _change(ctx, what, params.cluster, plan, act, leader=params.candidate)


def rejoin_node(ctx: ActionContext, params: RejoinParams) -> Result:
    def plan(_: ClusterConfig) -> str:
        return f"start {params.node} if its Patroni is down; wait until it replicates"

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return ha.rejoin(cluster, params.node, params.timeout, ctx.cancelled)

    return _change(ctx, f"rejoin {params.node}", params.cluster, plan, act)


def fence_orphans(ctx: ActionContext, params: ClusterParams) -> Result:
    def plan(_: ClusterConfig) -> str:
        return "fence every writer that is not Patroni's leader (fence_command)"

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return ha.fence_orphans(cluster)

    return _change(ctx, f"fence orphans of {params.cluster}", params.cluster, plan, act)


def cut_home(ctx: ActionContext, params: CutHomeParams) -> Result:
    def plan(cluster: ClusterConfig) -> str:
        crash = "run every home node's fault_command, then " if params.inject_fault else ""
        return f"{crash}fail if a node other than {region.dr_node(cluster)} accepts writes"

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return region.cut_home(cluster, params.inject_fault)

    return _change(ctx, f"home region of {params.cluster}", params.cluster, plan, act)


def start_home(ctx: ActionContext, params: StartHomeParams) -> Result:
    if not params.drill:
        return Result.success(note="not a drill: the home region was lost, not crashed by us")

    def plan(_: ClusterConfig) -> str:
        return "run the start_command of every home node that does not answer"

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return region.start_home(cluster, params.timeout, ctx.cancelled)

    return _change(ctx, f"start the home region of {params.cluster}", params.cluster, plan, act)


def follow_leader(ctx: ActionContext, params: NodeParams) -> Result:
    """Patroni clusters: the service file's section lists every node (libpq multi-host,
    target_session_attrs=read-write), so clients follow the leader with no rewrite; a
    Route53 endpoint is repointed at `node` (the new leader)."""

    def plan(cluster: ClusterConfig) -> dict[str, Any]:
        return endpoint.plan_follow(cluster, params.node, _aws(ctx))

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return endpoint.follow(cluster, params.node, _aws(ctx))

    return _change(ctx, f"endpoint of {params.cluster}", params.cluster, plan, act)


def repoint(ctx: ActionContext, params: NodeParams) -> Result:
    def act() -> Result:
        cluster = _cluster(ctx, params.cluster)
        node = failover.resolve_node(cluster, params.node, _aws(ctx))
        if ctx.dry_run:
            return Result.success(plan=endpoint.plan(cluster, node, _aws(ctx)))
        before = endpoint.current(cluster, _aws(ctx))
        done = endpoint.repoint(cluster, node, _aws(ctx))
        return Result.success(changed=before != node, before=before, after=node, **done)

    return _guard(ctx, f"repoint {params.cluster} to {params.node}", act)


def route53_failover(ctx: ActionContext, params: NodeParams) -> Result:
    try:
        cluster = _cluster(ctx, params.cluster)
    except EXPECTED_FAILURES as exc:
        return Result.failure(str(exc))
    if not isinstance(cluster.endpoint, Route53Endpoint):
        return Result.failure(
            f"cluster {params.cluster!r} in {ctx.env} has a {cluster.endpoint.kind} endpoint, "
            "not a Route53 record; use endpoint.repoint"
        )
    return repoint(ctx, params)


def verify_writes(ctx: ActionContext, params: VerifyParams) -> Result:
    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return failover.verify_writes(cluster, params.expect, ctx.job_id, _aws(ctx))

    plan = {"sql": failover.WRITE_CHECK_SQL}
    return _change(ctx, f"verify writes on {params.cluster}", params.cluster, lambda _: plan, act)


def probe_connector(cluster: ClusterConfig, aws: Any) -> Callable[[], psycopg.Connection[Any]]:
    """Connect the way clients do, through the endpoint (read again on every reconnect)."""

    def connect() -> psycopg.Connection[Any]:
        return endpoint.connect(cluster, aws, application_name="fluxora-probe")

    return connect


def probe_start(ctx: ActionContext, params: ProbeStartParams) -> Result:
    def act() -> Result:
        cluster = _cluster(ctx, params.cluster)
        probe_id = ctx.job_id or "adhoc"
        if ctx.dry_run:
            return Result.success(
                plan=f"write a row every {params.interval_ms} ms through "
                f"the endpoint of {params.cluster}"
            )
        probe = WriteProbe(
            probe_id,
            probe_connector(cluster, _aws(ctx)),
            interval=params.interval_ms / 1000,
            max_seconds=params.max_seconds,
        )
        ctx.resource(PROBES).add(probe_id, probe.start())
        # A failing first write is no reason to stop: in an incident the primary is already
        # gone, and the outage is measured from here.
        probe.wait_for_writes(1, 10, succeeded=False)
        first = next(iter(probe.writes()), None)
        return Result.success(
            changed=True,
            probe_id=probe_id,
            first_write_ok=first is not None and first.ok,
            first_write_error=first.error if first else "no attempt within 10 s",
        )

    return _guard(ctx, f"probe on {params.cluster}", act)


def probe_stop(ctx: ActionContext, params: ProbeStopParams) -> Result:
    def act() -> Result:
        probe_id = ctx.job_id or "adhoc"
        probe = ctx.resource(PROBES).pop(probe_id)
        if ctx.dry_run or probe is None:
            return Result.success(probe_id=probe_id, note="no probe running")
        writes = probe.stop()
        if not params.measure:
            return Result.success(probe_id=probe_id, attempts=len(writes),
                                  acknowledged=sum(w.ok for w in writes))  # fmt: skip
        cluster = _cluster(ctx, params.cluster)
        with probe_connector(cluster, _aws(ctx))() as conn:
            present = present_rows(conn, probe_id)
        try:
            result = measure(writes, present, 0)
        except NotResumedError as exc:
            return Result.failure(f"probe {probe_id}: {exc}", attempts=len(writes))
        return Result.success(
            probe_id=probe_id,
            measurement=result.measurement(),
            probe=result.as_data(),
        )

    return _guard(ctx, f"probe on {params.cluster}", act)


def register(registry: ActionRegistry) -> None:
    add = registry.register
    add("check.sql", CheckSqlParams, "Run a query and compare its first value.")(check_sql)
    add("postgres.check_writers", WritersParams, "Fail when too many nodes accept writes.")(
        check_writers
    )
    add("postgres.roles", RolesParams, "Which node is primary (the endpoint's) and replica.")(roles)
    add("postgres.handover", HandoverParams, "Switchover via Patroni, or a drill's fault.")(
        handover
    )
    add("postgres.wait_leader", WaitLeaderParams, "Wait for Patroni to elect a new leader.")(
        wait_leader
    )
    add("postgres.rejoin", RejoinParams, "Start a node if down; wait until it replicates.")(
        rejoin_node
    )
    add("postgres.cut_home", CutHomeParams, "Region evacuation: no writer left at home.")(cut_home)
    add("postgres.start_home", StartHomeParams, "A drill's crashed home nodes started again.")(
        start_home
    )
    add("postgres.fence_orphans", ClusterParams, "Fence writers that are not the leader.")(
        fence_orphans
    )
    add("postgres.verify_writes", VerifyParams, "Write and read back through the endpoint.")(
        verify_writes
    )
    add("postgres.probe_start", ProbeStartParams, "Start a write probe through the endpoint.")(
        probe_start
    )
    add("postgres.probe_stop", ProbeStopParams, "Stop the write probe; measure RTO/RPO.")(
        probe_stop
    )
    add("endpoint.repoint", NodeParams, "Point the cluster's service endpoint at a node.")(repoint)
    add("endpoint.follow_leader", NodeParams, "Keep clients on the leader (multi-host/DNS).")(
        follow_leader
    )
    add(
        "aws.route53.failover",
        NodeParams,
        "UPSERT the cluster's Route53 failover records to a node.",
    )(route53_failover)
