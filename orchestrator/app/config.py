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

from orchestrator.core.config import Section
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
    runbooks_dir: Path | None = None  # default: dr_runbooks/ beside the package
    # Rules and schedules are validated by their own loaders, which name the rule and key.
    rules: list[dict[str, Any]] = Field(default_factory=list)
    schedules: list[dict[str, Any]] = Field(default_factory=list)
    _rules_source: str = PrivateAttr(default=str(EMBEDDED_DEFAULTS))

    @property
    def rules_source(self) -> str:
        """Where `rules` and `schedules` came from (a file path): for error messages."""
        return self._rules_source


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


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _validate(data: dict[str, Any], sources: Mapping[str, str]) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        source = next((src for dotted, src in sources.items() if key.startswith(dotted)), "config")
        raise ConfigError(source, key, error["msg"]) from exc


def _apply_embedded_defaults(data: dict[str, Any], file_label: str) -> str:
    """The embedded defaults carry the dev environment's rules and schedules (and the database
    its backup schedules name, unless the file has `databases`); any other environment gets its
    own from the config file (which the Salt state writes from pillar). Return where the rules
    come from."""
    if "rules" in data or "schedules" in data or data.get("env", "dev") != "dev":
        return file_label
    embedded = _read_file(EMBEDDED_DEFAULTS)
    for key in ("rules", "schedules"):
        data[key] = embedded.get(key) or []
    data.setdefault("databases", embedded.get("databases") or {})
    return str(EMBEDDED_DEFAULTS)


def load_config(
    *,
    config_file: Path | None = None,
    data_dir: Path | None = None,
    listen: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Config:
    """Merge the sources in precedence order and validate the result."""
    file_path = config_file or (Path(environ[ENV_CONFIG]) if environ.get(ENV_CONFIG) else None)
    data: dict[str, Any] = _read_file(file_path) if file_path else {}
    file_label = str(file_path) if file_path else "config"
    sources: dict[str, str] = {}
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
            _set(data, dotted, value)
            sources[dotted] = source
    data.setdefault("data_dir", str(default_data_dir(environ)))
    rules_source = _apply_embedded_defaults(data, file_label)
    sources.setdefault("", file_label)
    config = _validate(data, dict(sorted(sources.items(), key=lambda kv: -len(kv[0]))))
    config._rules_source = rules_source
    return config
