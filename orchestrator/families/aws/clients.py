"""`AwsClients`: one cached boto3 client per (service, region), shared by the AWS actions of
one environment (`ctx.resource(AWS)`)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from orchestrator.core.errors import FluxoraError
from orchestrator.core.resources import ResourceKey
from orchestrator.families.aws.config import AwsConfig

# Bounded retries and timeouts: an unreachable endpoint fails the step within its timeout
# with botocore's error instead of hanging the worker thread.
BOTO_CONFIG = BotoConfig(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


class NoDrRegionError(FluxoraError, ValueError):
    def __init__(self) -> None:
        super().__init__("aws.dr_region is not configured for this environment")


class AwsClients:
    def __init__(self, config: AwsConfig) -> None:
        self.config = config
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        """A client for `service` in `region` (default: the environment's primary region)."""
        key = (service, region or self.config.region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.session.Session().client(
                    service,
                    region_name=key[1],
                    endpoint_url=self.config.endpoint_url,
                    config=BOTO_CONFIG,
                )
            return self._clients[key]

    def dr_region(self) -> str:
        """The environment's DR region; a clear error when none is configured."""
        if self.config.dr_region is None:
            raise NoDrRegionError
        return self.config.dr_region


AWS = ResourceKey[AwsClients]("aws")
