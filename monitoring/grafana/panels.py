"""Panel builders shared by the Fluxora dashboards (grafana-foundation-sdk, Grafana 11.6 types).

Every panel reads the dashboard's `datasource` variable and takes its queries as
(PromQL, legend) pairs; refIds are A, B, C... in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import bargauge, stat, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    StackingConfig,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import (
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.variants import Dataquery as AnyDataquery
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphDrawStyle,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMapping,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Appended to every selector: the panels follow the dashboard's environment picker.
ENV = 'env=~"$env"'

Query = tuple[str, str]  # (PromQL, legend format)


class _PanelBuilder(Protocol):
    """What every panel type's builder has (each is its own class in the SDK)."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: DataSourceRef) -> Self: ...
    def targets(self, targets: list[Builder[AnyDataquery]]) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...


PanelT = TypeVar("PanelT", bound=_PanelBuilder)


def datasource_variable() -> DatasourceVariable:
    return DatasourceVariable("datasource").label("Data source").type("prometheus")


def env_variable() -> QueryVariable:
    """Environments that have an orchestrator target (every file_sd target carries `env`)."""
    return (
        QueryVariable("env")
        .label("Environment")
        .datasource(DATASOURCE)
        .query('label_values(up{job="fluxora-orchestrator"}, env)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def row(title: str) -> Row:
    return Row(title)


def _targets(queries: Sequence[Query]) -> list[Builder[AnyDataquery]]:
    return [
        Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index))
        for index, (expr, legend) in enumerate(queries)
    ]


def thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    """Absolute steps; the first value is None (from minus infinity)."""
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def status_mappings(ok: str, failed: str) -> list[ValueMapping]:
    """1 -> ok (green), 0 -> failed (red): the shape of every *_last_status gauge."""
    return [
        ValueMap(
            options={
                "1": ValueMappingResult(text=ok, color="green", index=0),
                "0": ValueMappingResult(text=failed, color="red", index=1),
            }
        )
    ]


def _common(
    panel: PanelT, title: str, description: str, queries: Sequence[Query], unit: str, *, height: int
) -> PanelT:
    """Title, description, the dashboard's datasource, queries, unit; half the width."""
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .span(12)
        .height(height)
    )


def _legend() -> VizLegendOptions:
    return (
        VizLegendOptions()
        .display_mode(LegendDisplayMode.TABLE)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def timeseries_panel(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    *,
    bars: bool = False,
    stacked: bool = False,
    limit: tuple[float, str] | None = None,
) -> timeseries.Panel:
    """A time series; `bars` for counts per interval, `limit` draws a dashed threshold line."""
    panel = _common(timeseries.Panel(), title, description, queries, unit, height=8).legend(
        _legend()
    )
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS).fill_opacity(80)
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    if limit is not None:
        value, color = limit
        panel = panel.thresholds(thresholds((None, "transparent"), (value, color)))
        style = GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)
        panel = panel.thresholds_style(style)
    return panel


def stat_panel(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "none",
    mappings: list[ValueMapping] | None = None,
    steps: ThresholdsConfig | None = None,
    show_name: bool = True,
) -> stat.Panel:
    """One big value per series, coloured by thresholds or by the value mapping's colour."""
    panel = (
        _common(stat.Panel(), title, description, queries, unit, height=6)
        .graph_mode(BigValueGraphMode.NONE)
        .color_mode(BigValueColorMode.BACKGROUND)
        .text_mode(BigValueTextMode.VALUE_AND_NAME if show_name else BigValueTextMode.NAME)
        .no_value("none reported")
    )
    if mappings is not None:
        panel = panel.mappings(mappings)
    if steps is not None:
        panel = panel.thresholds(steps)
    return panel


def bargauge_panel(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    maximum: float,
    steps: ThresholdsConfig,
) -> bargauge.Panel:
    """Horizontal bars from 0 to `maximum`, one per series, coloured by `steps`."""
    return (
        _common(bargauge.Panel(), title, description, queries, unit, height=8)
        .decimals(2)
        .min(0)
        .max(maximum)
        .thresholds(steps)
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .orientation(VizOrientation.HORIZONTAL)
        .no_value("none reported")
    )
