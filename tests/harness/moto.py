"""A moto server over HTTP as the AWS endpoint of the tests and the Salt daemons."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.harness.processes import ServerProcess, free_port, http_ok, start_server

REGION = "eu-west-1"
DR_REGION = "eu-central-1"


def aws_environment(endpoint: str) -> dict[str, str]:
    """Variables that point botocore (ours and Salt's) at the moto server with dummy keys."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's documented dummy value
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def start_moto(workdir: Path) -> ServerProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    return start_server(
        "moto_server",
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        workdir / "moto.log",
        url,
        ready=http_ok(f"{url}/moto-api/data.json"),
    )
