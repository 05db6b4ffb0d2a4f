"""PostgreSQL failover and failback actions (`postgres.roles|primary_down|fence|promote|
verify_writes|restore_writer|rejoin|probe_start|probe_stop`, `endpoint.repoint`,
`aws.route53.failover`, `check.sql`); the logic lives in `orchestrator.families.postgres`.

Clusters come from the `postgres_clusters:` config section through the `postgres_clusters`
resource; the write probes of running drills live in the `dr_probes` resource. Under
`ctx.dry_run` every action changes nothing and returns its plan (the SQL, commands or boto3
call it would make).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pydantic import Field

from orchestrator.core.actions import ActionContext, ActionParams, ActionRegistry
from orchestrator.core.errors import FluxoraError
from orchestrator.core.results import Result
from orchestrator.families.postgres import checks, endpoint, failover, rejoin
from orchestrator.families.postgres.checks import Compare
from orchestrator.families.postgres.failover import Mode
from orchestrator.families.postgres.nodes import open_connection
from orchestrator.families.postgres.probe import NotResumedError, WriteProbe, measure, present_rows
from orchestrator.families.postgres.rejoin import Method
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


class RolesParams(ClusterParams):
    require_away_from_home: bool = False  # failback: fail when the home node is primary


class WritersParams(ClusterParams):
    max: int = Field(default=1, ge=0)


class PrimaryDownParams(NodeParams):
    mode: Mode
    inject_fault: bool = False  # drills: crash the primary first (local nodes)
    confirm_checks: int = Field(default=3, ge=1)
    confirm_interval: float = Field(default=0.2, ge=0)


class FenceParams(NodeParams):
    candidate: str = Field(min_length=1)  # the node clients are pointed at meanwhile


class PromoteParams(NodeParams):
    old: str | None = None  # the old primary, to count the WAL it had that we lack
    wait_for_lsn: str | None = None  # planned: the primary's shutdown checkpoint
    timeout: float = Field(default=60.0, gt=0)


class VerifyParams(ClusterParams):
    expect: str | None = None


class RestoreWriterParams(ClusterParams):
    fenced: str = Field(min_length=1)


class RejoinParams(NodeParams):
    upstream: str = Field(min_length=1)
    method: Method = Method.AUTO


class ProbeStartParams(ClusterParams):
    interval_ms: int = Field(default=50, ge=10)
    max_seconds: float = Field(default=1800.0, gt=0)


class ProbeStopParams(ClusterParams):
    lost_wal_bytes: int | None = None  # from the promote step, when known


def _cluster(ctx: ActionContext, name: str) -> ClusterConfig:
    clusters: Clusters = ctx.resource("postgres_clusters")
    return clusters.get(name)


def _aws(ctx: ActionContext) -> Any:
    return ctx.resources.get("aws")


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

    return _guard(ctx, f"check.sql on {params.cluster}", act)


def roles(ctx: ActionContext, params: RolesParams) -> Result:
    def act() -> Result:
        found = failover.roles(_cluster(ctx, params.cluster), _aws(ctx))
        if params.require_away_from_home and found.primary == found.home:
            return Result.failure(
                f"nothing to fail back: the home node {found.home} is the primary",
                primary=found.primary,
            )
        return Result.success(primary=found.primary, replica=found.replica, home=found.home)

    return _guard(ctx, f"roles of {params.cluster}", act)


def check_writers(ctx: ActionContext, params: WritersParams) -> Result:
    def act() -> Result:
        found = failover.writers(_cluster(ctx, params.cluster))
        if len(found) > params.max:
            return Result.failure(
                f"{len(found)} nodes accept writes ({', '.join(found)}); at most {params.max} may",
                writers=found,
            )
        return Result.success(writers=found)

    return _guard(ctx, f"writers of {params.cluster}", act)


def primary_down(ctx: ActionContext, params: PrimaryDownParams) -> Result:
    def act() -> Result:
        node = _cluster(ctx, params.cluster).node(params.node)
        if ctx.dry_run:
            plan = {
                Mode.PLANNED: ["CHECKPOINT", "pg_ctlcluster stop -m fast", "pg_controldata"],
                Mode.UNPLANNED: [f"connect to {params.node} {params.confirm_checks} times"],
            }[params.mode]
            # end_lsn: the later steps' templates read it, so a dry run renders them too
            return Result.success(plan=plan, node=params.node, end_lsn=None)
        if params.mode is Mode.PLANNED:
            return Result.success(changed=True, **failover.stop_cleanly(node, params.node))
        if params.inject_fault:
            failover.crash(node, params.node)
        lost = failover.confirm_lost(
            node, params.node, params.confirm_checks, params.confirm_interval, ctx.cancelled
        )
        return Result.success(changed=params.inject_fault, **lost)

    return _guard(ctx, f"primary {params.node} down ({params.mode.value})", act)


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


def fence(ctx: ActionContext, params: FenceParams) -> Result:
    def plan(cluster: ClusterConfig) -> dict[str, Any]:
        return {
            "endpoint": endpoint.plan(cluster, params.candidate, _aws(ctx)),
            "stop": f"{params.node}: stop -m fast, else -m immediate, else SIGKILL",
            "standby.signal": str(cluster.node(params.node).data_dir),
        }

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return failover.fence(cluster, params.node, params.candidate, _aws(ctx))

    return _change(ctx, f"fence {params.node}", params.cluster, plan, act)


def promote(ctx: ActionContext, params: PromoteParams) -> Result:
    def plan(_: ClusterConfig) -> dict[str, Any]:
        sql = [f"SELECT pg_promote(wait => true, wait_seconds => {int(params.timeout)})"]
        if params.wait_for_lsn:
            sql.insert(0, f"wait until pg_last_wal_replay_lsn() > '{params.wait_for_lsn}'")
        return {"node": params.node, "sql": sql}

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return failover.promote(
            cluster,
            params.node,
            old=params.old,
            wait_for_lsn=params.wait_for_lsn,
            timeout=params.timeout,
            cancelled=ctx.cancelled,
        )

    # lost_wal_bytes: the measure step's template reads it, so a dry run renders it too
    return _change(ctx, f"promote {params.node}", params.cluster, plan, act, lost_wal_bytes=None)


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


def restore_writer(ctx: ActionContext, params: RestoreWriterParams) -> Result:
    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return failover.restore_writer(cluster, params.fenced, _aws(ctx), ctx.cancelled)

    plan = f"keep a promoted node, else unfence {params.fenced}; point the endpoint at it"
    return _change(
        ctx, f"restore a writer for {params.cluster}", params.cluster, lambda _: plan, act
    )


def rejoin_node(ctx: ActionContext, params: RejoinParams) -> Result:
    def plan(cluster: ClusterConfig) -> dict[str, Any]:
        return rejoin.plan(cluster, params.node, params.upstream, params.method)

    def act(cluster: ClusterConfig) -> dict[str, Any]:
        return rejoin.rejoin(cluster, params.node, params.upstream, params.method, ctx.cancelled)

    return _change(ctx, f"rejoin {params.node} to {params.upstream}", params.cluster, plan, act)


def probe_connector(cluster: ClusterConfig, aws: Any) -> Callable[[], psycopg.Connection[Any]]:
    """Connect where the endpoint points now (read again on every reconnect)."""

    def connect() -> psycopg.Connection[Any]:
        name = endpoint.current(cluster, aws)
        if name is None:
            raise failover.FailoverError("the endpoint names no configured node")
        return open_connection(cluster.node(name), cluster.dbname)

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
        ctx.resource("dr_probes").add(probe_id, probe.start())
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
        probe = ctx.resource("dr_probes").pop(probe_id)
        if ctx.dry_run or probe is None:
            return Result.success(probe_id=probe_id, note="no probe running")
        writes = probe.stop()
        cluster = _cluster(ctx, params.cluster)
        with probe_connector(cluster, _aws(ctx))() as conn:
            present = present_rows(conn, probe_id)
        try:
            result = measure(writes, present, params.lost_wal_bytes or 0)
        except NotResumedError as exc:
            return Result.failure(f"probe {probe_id}: {exc}", attempts=len(writes))
        return Result.success(
            probe_id=probe_id,
            measurement=result.measurement(),
            rpo_bytes_known=params.lost_wal_bytes is not None,
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
    down = "Planned: stop the primary cleanly; unplanned: confirm it is lost."
    add("postgres.primary_down", PrimaryDownParams, down)(primary_down)
    add("postgres.fence", FenceParams, "Make the old primary unable to accept writes.")(fence)
    add("postgres.promote", PromoteParams, "Promote a replica and wait until it is primary.")(
        promote
    )
    add("postgres.verify_writes", VerifyParams, "Write and read back through the endpoint.")(
        verify_writes
    )
    add(
        "postgres.restore_writer",
        RestoreWriterParams,
        "Rollback: leave one writable node behind the endpoint.",
    )(restore_writer)
    add("postgres.rejoin", RejoinParams, "Rebuild a node as a replica (pg_rewind or clone).")(
        rejoin_node
    )
    add("postgres.probe_start", ProbeStartParams, "Start a write probe through the endpoint.")(
        probe_start
    )
    add("postgres.probe_stop", ProbeStopParams, "Stop the write probe; measure RTO/RPO.")(
        probe_stop
    )
    add("endpoint.repoint", NodeParams, "Point the cluster's service endpoint at a node.")(repoint)
    add(
        "aws.route53.failover",
        NodeParams,
        "UPSERT the cluster's Route53 failover records to a node.",
    )(route53_failover)
