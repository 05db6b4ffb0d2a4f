"""Daemon configuration: argument > environment > file > embedded default.

One typed section per concern; every value is validated at load and a bad one is reported with
its source (file path or variable name) and key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.backup.config import BackupConfig, DatabaseConfig
from orchestrator.errors import ConfigError
from orchestrator.objectstore.config import ObjectStoreConfig

DEFAULT_LISTEN = "127.0.0.1:8470"
ENV_CONFIG = "FLUXORA_CONFIG"
ENV_DATA_DIR = "FLUXORA_DATA_DIR"
ENV_LISTEN = "FLUXORA_LISTEN"


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The per-user state directory (XDG_STATE_HOME, else ~/.local/state) plus `fluxora`."""
    state_home = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "fluxora"


def parse_listen(value: str) -> tuple[str, int]:
    """Split HOST:PORT (IPv6 hosts in brackets); raise ValueError naming the problem."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port must be 1-65535, got {port_text!r}")
    return host.strip("[]"), int(port_text)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpConfig(Section):
    listen: str = DEFAULT_LISTEN

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]


class Config(Section):
    env: str = "dev"
    data_dir: Path
    http: HttpConfig = HttpConfig()
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    objectstore: ObjectStoreConfig = ObjectStoreConfig()
    databases: dict[str, dict[str, DatabaseConfig]] = Field(default_factory=dict)  # env -> name
    backup: BackupConfig = BackupConfig()


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
        ("data_dir", data_dir, "--data-dir"),
        ("http.listen", listen, "--listen"),
    ]
    for dotted, value, source in overrides:
        if value is not None and value != "":
            _set(data, dotted, value)
            sources[dotted] = source
    data.setdefault("data_dir", str(default_data_dir(environ)))
    sources.setdefault("", file_label)
    return _validate(data, dict(sorted(sources.items(), key=lambda kv: -len(kv[0]))))
