"""Golden files of each environment's merged parameters (template-formula's _mapdata).

A pillar or defaults change shows up as a diff of tests/golden/mapdata/<env>.yaml. After an
intended change, regenerate them and review the diff:
    FLUXORA_UPDATE_GOLDEN=1 scripts/test tests/integration/salt/test_mapdata.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.saltlocal import LocalMinion
from tests.integration.salt.conftest import ENVIRONMENTS, states_of, topology

pytestmark = [pytest.mark.integration, pytest.mark.validate]

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "mapdata"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_merged_parameters_match_the_golden_file(
    local_minion_factory: Callable[..., LocalMinion], env: str
) -> None:
    host, roles = next(iter(topology(env).items()))
    rendered = local_minion_factory(env, host, roles).call("state.show_sls", "fluxora._mapdata")
    contents = states_of(rendered, "file")["fluxora-_mapdata-file-managed"]["contents"]
    assert "<redacted>" in contents  # secrets are in the merge, but not in the golden file
    golden = GOLDEN / f"{env}.yaml"
    if os.environ.get("FLUXORA_UPDATE_GOLDEN") == "1":
        golden.write_text(contents)
    assert golden.exists(), f"no golden file {golden}: run with FLUXORA_UPDATE_GOLDEN=1"
    assert contents == golden.read_text(), (
        f"merged parameters of {env} differ from {golden}: if intended, regenerate with "
        "FLUXORA_UPDATE_GOLDEN=1 and review the diff"
    )
