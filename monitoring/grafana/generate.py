"""Write the Fluxora dashboards as Grafana JSON into monitoring/grafana/dashboards/.

    .venv/bin/python monitoring/grafana/generate.py          # regenerate the committed JSON
    .venv/bin/python monitoring/grafana/generate.py --check  # exit 1 if the JSON is stale

The dashboards are defined in dashboards.py (panels and queries) with panels.py (builders).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards import DASHBOARDS
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

OUTPUT_DIR = Path(__file__).resolve().parent / "dashboards"


def _numbered(dashboard: DashboardModel) -> DashboardModel:
    """Give panels stable ids in layout order (Grafana needs them unique within a dashboard)."""
    for number, panel in enumerate(dashboard.panels or [], start=1):
        panel.id_val = number
    return dashboard


def render(name: str) -> str:
    """One dashboard's JSON text, stable from run to run (sorted keys, a trailing newline)."""
    dashboard = _numbered(DASHBOARDS[name]().build())
    return json.dumps(dashboard, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def stale_files(output_dir: Path) -> list[str]:
    """Dashboards whose committed JSON is missing or differs from what the code generates."""
    stale = []
    for name in DASHBOARDS:
        path = output_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render(name):
            stale.append(name)
    unknown = sorted(p.name for p in output_dir.glob("*.json") if p.name not in DASHBOARDS)
    return stale + unknown


def write_all(output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        (output_dir / name).write_text(render(name), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR, help="dashboards directory")
    args = parser.parse_args(argv)
    if not args.check:
        write_all(args.output)
        return 0
    stale = stale_files(args.output)
    for name in stale:
        print(f"{args.output / name}: stale; run monitoring/grafana/generate.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
