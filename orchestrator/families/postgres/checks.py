"""`check.sql`: run one query on a node (or wherever the endpoint points) and compare its
first value with an expected one. Used by steady-state checks and stop conditions."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from orchestrator.families.postgres.client import connect
from orchestrator.families.postgres.topology import ClusterConfig


class Compare(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"


_COMPARE = {
    Compare.EQ: lambda a, b: a == b,
    Compare.NE: lambda a, b: a != b,
    Compare.LT: lambda a, b: a < b,
    Compare.LE: lambda a, b: a <= b,
    Compare.GT: lambda a, b: a > b,
    Compare.GE: lambda a, b: a >= b,
}


def coerce(value: Any, like: Any) -> Any:
    """The query's value in the type of the expected one (YAML gives bools, numbers, text)."""
    if isinstance(like, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("t", "true", "1")
    if isinstance(like, (int, float)) and value is not None:
        return float(str(value))
    return value if value is None else str(value)


def compare(value: Any, op: Compare, expect: Any) -> bool:
    actual = coerce(value, expect)
    if op in (Compare.EQ, Compare.NE):
        return bool(_COMPARE[op](actual, expect))
    if actual is None:
        return False
    return bool(_COMPARE[op](actual, float(expect) if not isinstance(expect, str) else expect))


def run_check(cluster: ClusterConfig, name: str, dbname: str, query: str) -> Any:
    with connect(cluster.node(name), dbname) as conn:
        row = conn.execute(query.encode()).fetchone()
    return None if row is None else row[0]
