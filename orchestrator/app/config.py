"""Daemon configuration: argument > environment > file > embedded default.

`Config` composes one typed section per concern, each defined by the part that owns it (the
engine, the store, the object store, every family); every value is validated at load and a bad
one is reported with its source (file path or variable name) and key.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError

from orchestrator.core.config import Section, problem
from orchestrator.core.errors import ConfigError
from orchestrator.engine.config import (
    AlertmanagerConfig,
    ExecutorConfig,
    HttpConfig,
    SaltConfig,
    WebhookConfig,
)
from orchestrator.families.aws.config import AwsConfig
from orchestrator.families.backup.config import BackupConfig, DatabaseConfig
from orchestrator.families.postgres.topology import TopologyConfig
from orchestrator.families.releases.config import ReleasesConfig
from orchestrator.families.scaling.config import ScalingConfig
from orchestrator.objectstore.config import ObjectStoreConfig
from orchestrator.store.config import StoreConfig

ENV_CONFIG = "FLUXORA_CONFIG"
ENV_DATA_DIR = "FLUXORA_DATA_DIR"
ENV_LISTEN = "FLUXORA_LISTEN"
ENV_STORE_URL = "FLUXORA_STORE_URL"
ENV_WEBHOOK_SECRET = "FLUXORA_WEBHOOK_SECRET"
ENV_ALERTMANAGER_TOKEN = "FLUXORA_ALERTMANAGER_TOKEN"
EMBEDDED_DEFAULTS = Path(__file__).parents[1] / "defaults" / "dev.yaml"


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The per-user state directory (XDG_STATE_HOME, else ~/.local/state) plus `fluxora`."""
    state_home = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "fluxora"


class Config(Section):
    env: str = "dev"
    data_dir: Path
    http: HttpConfig = HttpConfig()
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    store: StoreConfig = StoreConfig()
    salt: SaltConfig = SaltConfig()
    webhook: WebhookConfig = WebhookConfig()
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    executor: ExecutorConfig = ExecutorConfig()
    objectstore: ObjectStoreConfig = ObjectStoreConfig()
    databases: dict[str, dict[str, DatabaseConfig]] = Field(default_factory=dict)  # env -> name
    backup: BackupConfig = BackupConfig()
    aws: AwsConfig = AwsConfig()
    # PostgreSQL clusters for failover/failback: env -> cluster name -> nodes and endpoint.
    postgres_clusters: TopologyConfig = Field(default_factory=dict)
    scaling: ScalingConfig = ScalingConfig()
    releases: ReleasesConfig = ReleasesConfig()
    runbooks_dir: Path | None = None  # default: dr_runbooks/ beside the package
    # Rules and schedules are validated by their own loaders, which name the rule and key.
    rules: list[dict[str, Any]] = Field(default_factory=list)
    schedules: list[dict[str, Any]] = Field(default_factory=list)
    _provenance: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def provenance(self) -> dict[str, str]:
        """Every key a source set (dotted, e.g. `databases.dev.fluxora.port`) -> the source:
        the embedded defaults, the config file, a variable or an option."""
        return dict(self._provenance)

    @property
    def rules_source(self) -> str:
        """Where `rules` came from (a file path): for error messages."""
        return self.source_of("rules")

    def source_of(self, key: str) -> str:
        """The file, variable or option that set `key` (the embedded defaults' path when
        nothing did)."""
        return _source_of(key, self._provenance, str(EMBEDDED_DEFAULTS))


def node_id(config: Config) -> str:
    """This daemon's name on the jobs it claims (`executor.node_id`, else the host name)."""
    return config.executor.node_id or socket.gethostname()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", exc.strerror or str(exc)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "(file)", f"not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(file)", "top level must be a mapping")
    return data


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    """`a.b` = v as `{"a": {"b": v}}`."""
    *parents, leaf = dotted.split(".")
    tree: dict[str, Any] = {leaf: value}
    for part in reversed(parents):
        tree = {part: tree}
    return tree


def _layer(
    tree: dict[str, Any],
    layer: Mapping[str, Any],
    source: str,
    provenance: dict[str, str],
    prefix: str = "",
) -> None:
    """Merge `layer` over `tree` key by key: a mapping merges into the mapping below it, any
    other value (a list too: `rules`, `schedules`) replaces it, and null removes what a lower
    layer set (elsewhere null is a value). Every key set is recorded in `provenance` (dotted
    key -> source)."""
    for key, value in layer.items():
        path = f"{prefix}{key}"
        merge = isinstance(value, Mapping) and isinstance(tree.get(key), dict)
        if not merge:
            for shadowed in [k for k in provenance if k == path or k.startswith(f"{path}.")]:
                del provenance[shadowed]
        if value is None and key in tree:
            del tree[key]
        elif isinstance(value, Mapping):
            if not merge:
                tree[key] = {}
            if not merge and not value:
                provenance[path] = source  # else its keys say where they came from
            _layer(tree[key], value, source, provenance, f"{path}.")
        else:
            tree[key] = value
            provenance[path] = source


def _source_of(key: str, provenance: Mapping[str, str], fallback: str) -> str:
    """The source that set `key` or the nearest key above it, else the sources of the keys
    below it (for a message)."""
    below = sorted({src for k, src in provenance.items() if k.startswith(f"{key}.")})
    while key:
        if key in provenance:
            return provenance[key]
        key = key.rpartition(".")[0]
    return " and ".join(below) or fallback


def _validate(data: dict[str, Any], provenance: Mapping[str, str], fallback: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        key, reason = problem(exc)
        raise ConfigError(_source_of(key, provenance, fallback), key, reason) from exc


def _embedded(file_data: Mapping[str, Any]) -> dict[str, Any]:
    """The embedded defaults are the dev environment's (its database, schedules and rules):
    the base layer of a dev config, nothing for another environment."""
    if file_data.get("env", "dev") != "dev":
        return {}
    return _read_file(EMBEDDED_DEFAULTS)


def load_config(
    *,
    config_file: Path | None = None,
    data_dir: Path | None = None,
    listen: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Config:
    """Layer the sources in precedence order (embedded defaults < file < environment <
    arguments), key by key, and validate the result."""
    file_path = config_file or (Path(environ[ENV_CONFIG]) if environ.get(ENV_CONFIG) else None)
    file_data: dict[str, Any] = _read_file(file_path) if file_path else {}
    file_label = str(file_path) if file_path else "config"
    data: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    _layer(data, _embedded(file_data), str(EMBEDDED_DEFAULTS), provenance)
    _layer(data, file_data, file_label, provenance)
    overrides = [
        ("data_dir", environ.get(ENV_DATA_DIR), ENV_DATA_DIR),
        ("http.listen", environ.get(ENV_LISTEN), ENV_LISTEN),
        ("store.url", environ.get(ENV_STORE_URL), ENV_STORE_URL),
        ("webhook.secret", environ.get(ENV_WEBHOOK_SECRET), ENV_WEBHOOK_SECRET),
        ("alertmanager.token", environ.get(ENV_ALERTMANAGER_TOKEN), ENV_ALERTMANAGER_TOKEN),
        ("data_dir", data_dir, "--data-dir"),
        ("http.listen", listen, "--listen"),
    ]
    for dotted, value, source in overrides:
        if value is not None and value != "":
            _layer(data, _nested(dotted, str(value)), source, provenance)
    if "data_dir" not in data:
        _layer(data, {"data_dir": str(default_data_dir(environ))}, "default", provenance)
    config = _validate(data, provenance, file_label)
    config._provenance = dict(sorted(provenance.items()))
    return config
