"""Rules in YAML: which events run which runbook, and under which limits.

```yaml
rules:
  - name: restore-drill-nightly          # unique; the `rule` label of the decisions metric
    match: fluxora/schedule/restore-*    # tag glob (* ? [...])
    when: "event.data.env | default('dev') == 'dev'"   # optional, sandboxed Jinja2 expression
    run: restore-drill                   # a runbook in dr_runbooks/ (or a template naming one)
    with: {database: "{{ event.data.database }}"}     # job parameters, templated (or one
                                         # expression rendering to a mapping)
    env: "{{ event.data.env }}"          # optional target environment (default: the daemon's)
    dedup: {key: "{{ event.data.fingerprint }}", window: 10m}
    cooldown: 1h                         # or {window: 1h, key: "{{ event.data.database }}"}
    lock: "postgres-{{ event.data.cluster }}"   # one job per key at a time
    approval: {staging: true}            # on top of the runbook's policy (prod by default)
    dry_run: false                       # or a template: the job plans without acting
```
A templated `run` is checked when the rule decides: an event naming no runbook gets a
`rejected` decision. The request rule (`fluxora-orch runbook run`, `salt-run fluxora.runbook`):
```yaml
  - name: runbook-request
    match: fluxora/request/runbook/*
    when: "event.data.params is defined"
    run: "{{ event.tag.split('/')[3] }}"
    env: "{{ event.data.env | default(env) }}"
    with: "{{ event.data.params }}"
    dry_run: "{{ event.data.dry_run | default(false) }}"
    lock: "{{ event.data.lock | default('dr/' ~ (event.data.env | default(env))) }}"
```
Templates see `event` (`id`, `tag`, `source`, `data`, `received_at`) and `env`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.core.durations import Duration
from orchestrator.core.errors import FluxoraError
from orchestrator.core.names import NAME
from orchestrator.core.templates import is_templated


class RuleError(FluxoraError, ValueError):
    """An invalid rule: the message names the file, the rule and the key."""

    def __init__(self, source: str, rule: str, key: str, reason: str) -> None:
        self.source, self.rule, self.key, self.reason = source, rule, key, reason
        super().__init__(f"{source}: rule {rule!r}: {key}: {reason}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class KeyedWindow(_Model):
    window: Duration
    key: str | None = None


class DedupSpec(_Model):
    key: str
    window: Duration


def check_glob(glob: str) -> str:
    """A tag glob: no whitespace, no empty segment, every `[` closed."""
    if not glob or any(c.isspace() for c in glob):
        raise ValueError(f"bad glob {glob!r}: empty or contains whitespace")
    if glob.startswith("/") or glob.endswith("/") or "//" in glob:
        raise ValueError(f"bad glob {glob!r}: empty tag segment")
    depth = 0
    for char in glob:
        if char == "[":
            if depth:
                raise ValueError(f"bad glob {glob!r}: nested '['")
            depth = 1
        elif char == "]" and depth:
            depth = 0
    if depth:
        raise ValueError(f"bad glob {glob!r}: unclosed '['")
    return glob


class RuleSpec(_Model):
    name: str = Field(pattern=NAME.pattern)
    match: str
    run: str
    when: str | None = None
    with_: dict[str, Any] | str = Field(default_factory=dict, alias="with")
    env: str | None = None
    dedup: DedupSpec | None = None
    cooldown: KeyedWindow | None = None
    lock: str | None = None
    approval: dict[str, bool] = Field(default_factory=dict)
    dry_run: bool | str = False

    @field_validator("match")
    @classmethod
    def _glob(cls, value: str) -> str:
        return check_glob(value)

    @field_validator("with_", "dry_run")
    @classmethod
    def _text_is_a_template(cls, value: Any) -> Any:
        # A plain string where a mapping (with) or a boolean (dry_run) belongs is a mistake;
        # only a template that renders to one is accepted.
        if isinstance(value, str) and not is_templated(value):
            raise ValueError(f"{value!r} is neither a value of the right type nor a template")
        return value

    @field_validator("cooldown", mode="before")
    @classmethod
    def _cooldown_shorthand(cls, value: Any) -> Any:
        return value if isinstance(value, dict) or value is None else {"window": value}


def parse_rule(raw: Any, index: int, source: str) -> RuleSpec:
    """Validate one rule; RuleError names the file, the rule (or its position) and the key."""
    label = raw.get("name") if isinstance(raw, dict) and raw.get("name") else f"#{index + 1}"
    if not isinstance(raw, dict):
        raise RuleError(source, str(label), "(rule)", "must be a mapping")
    try:
        return RuleSpec.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"]) or "(rule)"
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        raise RuleError(source, str(label), key, reason.removeprefix("Value error, ")) from exc
