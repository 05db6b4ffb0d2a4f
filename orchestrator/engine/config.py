"""The engine's configuration sections: HTTP, the Salt bus, the signed webhook, Alertmanager
and the executor. The daemon's `Config` (`orchestrator.app.config`) composes them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from orchestrator.core.config import Section

DEFAULT_LISTEN = "127.0.0.1:8470"


def parse_listen(value: str) -> tuple[str, int]:
    """Split HOST:PORT (IPv6 hosts in brackets); raise ValueError naming the problem."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port must be 1-65535, got {port_text!r}")
    return host.strip("[]"), int(port_text)


class HttpConfig(Section):
    """The one HTTP server. Beyond `max_connections` open at once a connection is answered
    503 and closed; a request's headers must arrive within `header_timeout_seconds` of the
    connection opening (or of the previous answer on it), and its body within
    `body_timeout_seconds`."""

    listen: str = DEFAULT_LISTEN
    max_connections: int = Field(default=512, gt=0)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)

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


class SaltConfig(Section):
    """The Salt master event bus. With no `master_config` the Salt source is off (and job
    completions are not published); the daemon says so at startup."""

    master_config: Path | None = None
    tags: list[str] = Field(default_factory=lambda: ["fluxora/*"])
    exclude_tags: list[str] = Field(default_factory=lambda: ["fluxora/job/*"])


class WebhookConfig(Section):
    secret: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    replay_window_seconds: float = Field(default=300.0, gt=0)


class AlertmanagerConfig(Section):
    token: SecretStr | None = None


class ExecutorConfig(Section):
    max_jobs: int = Field(default=64, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    node_id: str | None = None  # default: the host name; names the daemon that claims a job
