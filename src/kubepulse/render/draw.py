"""Drawing one panel with matplotlib: time series, stat and gauge, in Grafana's colours."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kubepulse.render.panels import PanelData
from kubepulse.render.units import format_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

RENDERED_TYPES = ("timeseries", "graph", "stat", "gauge")
# Grafana's classic palette, in its order.
PALETTE = (
    "#7EB26D",
    "#EAB839",
    "#6ED0E0",
    "#EF843C",
    "#E24D42",
    "#1F78C1",
    "#BA43A9",
    "#705DA0",
    "#508642",
    "#CCA300",
)
NAMED_COLORS = {
    "green": "#73BF69",
    "red": "#F2495C",
    "yellow": "#FADE2A",
    "orange": "#FF9830",
    "blue": "#5794F2",
    "purple": "#B877D9",
    "text": "#CCCCDC",
    "transparent": "#00000000",
}
THEMES = {
    "dark": {"page": "#111217", "panel": "#181B1F", "text": "#CCCCDC", "grid": "#2A2D33"},
    "light": {"page": "#F4F5F5", "panel": "#FFFFFF", "text": "#24292E", "grid": "#E4E7E7"},
}
# Grafana's defaults when a panel sets no thresholds.
DEFAULT_THRESHOLDS: list[dict[str, Any]] = [
    {"color": "green", "value": None},
    {"color": "red", "value": 80},
]
MAX_LEGEND = 8
GRID_COLUMN_PX = 66  # a 1,584 px wide dashboard: 24 columns
GRID_ROW_PX = 36  # one gridPos height unit (30 px plus Grafana's margin)
DPI = 100


def _color(name: str | None, fallback: str) -> str:
    if not name:
        return fallback
    if name.startswith("#") or name.startswith("rgb"):
        return name
    base = name.split("-")[-1]
    return NAMED_COLORS.get(base, NAMED_COLORS.get(name, fallback))


def _threshold_color(panel: Mapping[str, Any], value: float | None) -> str:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    steps = (defaults.get("thresholds") or {}).get("steps") or DEFAULT_THRESHOLDS
    color = NAMED_COLORS["green"]
    for step in steps:
        limit = step.get("value")
        if limit is None or (value is not None and value >= float(limit)):
            color = _color(step.get("color"), color)
    return color


def _reduce(values: Sequence[float], calc: str) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None
    reducers: dict[str, Callable[[Sequence[float]], float]] = {
        "lastNotNull": lambda v: v[-1],
        "last": lambda v: v[-1],
        "firstNotNull": lambda v: v[0],
        "first": lambda v: v[0],
        "mean": lambda v: sum(v) / len(v),
        "max": max,
        "min": min,
        "sum": sum,
        "count": len,
    }
    return reducers.get(calc, reducers["lastNotNull"])(finite)


def _unit(panel: Mapping[str, Any]) -> str | None:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    unit = defaults.get("unit")
    return str(unit) if unit else None


def style(ax: Axes, theme: Mapping[str, str], title: str) -> None:
    ax.set_facecolor(theme["panel"])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=theme["text"], labelsize=7, length=0)
    ax.set_title(title, loc="left", color=theme["text"], fontsize=9, fontweight="bold", pad=6)


def message(ax: Axes, theme: Mapping[str, str], text: str, color: str | None = None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        wrap=True,
        color=color or theme["text"],
        fontsize=8,
        transform=ax.transAxes,
    )


def _draw_timeseries(
    ax: Axes, panel: Mapping[str, Any], data: PanelData, theme: Mapping[str, str]
) -> None:
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    unit = _unit(panel)
    ax.grid(True, color=theme["grid"], linewidth=0.6)
    ax.set_axisbelow(True)
    for index, series in enumerate(data.series):
        # Matplotlib's date axis counts days since 1970-01-01 UTC.
        times = [t / 86400 for t in series.times]
        label = series.legend if index < MAX_LEGEND else None
        ax.plot(times, series.values, color=PALETTE[index % len(PALETTE)], lw=1.4, label=label)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_value(v, unit)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))  # type: ignore[no-untyped-call]
    handles, labels = ax.get_legend_handles_labels()
    if labels:
        extra = len(data.series) - MAX_LEGEND
        if extra > 0:
            labels[-1] += f"  (+{extra} more)"
        legend = ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(0, -0.12),
            ncol=min(len(labels), 3),
            frameon=False,
            fontsize=6.5,
            labelcolor=theme["text"],
        )
        for text in legend.get_texts():
            if len(text.get_text()) > 60:
                text.set_text(text.get_text()[:57] + "...")


def _draw_stat(
    ax: Axes, panel: Mapping[str, Any], data: PanelData, theme: Mapping[str, str]
) -> None:
    options = panel.get("options") or {}
    calcs = (options.get("reduceOptions") or {}).get("calcs") or ["lastNotNull"]
    unit = _unit(panel)
    ax.set_xticks([])
    ax.set_yticks([])
    shown = data.series[:4]
    for index, series in enumerate(shown):
        value = _reduce(series.values, calcs[0])
        color = _threshold_color(panel, value)
        left, width = index / len(shown), 1 / len(shown)
        if options.get("graphMode", "area") != "none" and len(series.values) > 1:
            inset = ax.inset_axes((left, 0.0, width, 0.45))
            inset.fill_between(series.times, series.values, color=color, alpha=0.25, lw=0)
            inset.plot(series.times, series.values, color=color, lw=1)
            inset.set_axis_off()
        ax.text(
            left + width / 2,
            0.55,
            format_value(value, unit),
            ha="center",
            va="center",
            color=color,
            fontsize=22 if len(shown) == 1 else 14,
            fontweight="bold",
            transform=ax.transAxes,
        )
        if len(shown) > 1:
            ax.text(
                left + width / 2,
                0.2,
                series.legend[:30],
                ha="center",
                color=theme["text"],
                fontsize=7,
                transform=ax.transAxes,
            )


def _draw_gauge(
    ax: Axes, panel: Mapping[str, Any], data: PanelData, theme: Mapping[str, str]
) -> None:
    from matplotlib.patches import Wedge

    options = panel.get("options") or {}
    calcs = (options.get("reduceOptions") or {}).get("calcs") or ["lastNotNull"]
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    unit = _unit(panel)
    low = float(defaults.get("min", 0))
    high = float(defaults.get("max", 1 if unit == "percentunit" else 100))
    ax.set_xticks([])
    ax.set_yticks([])
    shown = data.series[:4]
    ax.set_xlim(0, 2.4 * len(shown))
    ax.set_ylim(-0.5, 1.3)
    ax.set_aspect("equal")
    for index, series in enumerate(shown):
        value = _reduce(series.values, calcs[0])
        color = _threshold_color(panel, value)
        center = (1.2 + 2.4 * index, 0.0)
        fraction = 0.0 if value is None or high == low else (value - low) / (high - low)
        fraction = min(max(fraction, 0.0), 1.0)
        ax.add_patch(Wedge(center, 1.0, 0, 180, width=0.25, color=theme["grid"]))
        ax.add_patch(Wedge(center, 1.0, 180 - 180 * fraction, 180, width=0.25, color=color))
        ax.text(
            center[0],
            0.15,
            format_value(value, unit),
            ha="center",
            va="center",
            color=color,
            fontsize=13,
            fontweight="bold",
        )
        if len(shown) > 1:
            ax.text(
                center[0], -0.3, series.legend[:24], ha="center", color=theme["text"], fontsize=7
            )


def draw_panel(
    ax: Axes, panel: Mapping[str, Any], data: PanelData, theme: Mapping[str, str]
) -> None:
    style(ax, theme, str(panel.get("title") or ""))
    if data.errors and not data.series:
        message(ax, theme, "\n".join(data.errors)[:300], NAMED_COLORS["red"])
        return
    if not data.series:
        message(ax, theme, "No data")
        return
    kind = panel.get("type")
    if kind in ("timeseries", "graph"):
        _draw_timeseries(ax, panel, data, theme)
    elif kind == "stat":
        _draw_stat(ax, panel, data, theme)
    else:
        _draw_gauge(ax, panel, data, theme)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "panel"


def panel_figure(panel: Mapping[str, Any], theme: Mapping[str, str]) -> Figure:
    from matplotlib.figure import Figure

    grid = panel.get("gridPos") or {}
    width = max(int(grid.get("w", 12)), 4) * GRID_COLUMN_PX / DPI
    height = max(int(grid.get("h", 8)), 4) * GRID_ROW_PX / DPI
    if panel.get("type") in ("timeseries", "graph"):
        height += 0.6  # room for the legend under the plot
    fig = Figure(figsize=(max(width, 3.2), max(height, 1.6)), dpi=DPI)
    fig.set_facecolor(theme["panel"])
    return fig


def panel_rect(kind: Any) -> tuple[float, float, float, float]:
    # Left margin for y tick labels, bottom for the time axis and the legend.
    return (0.1, 0.3, 0.87, 0.58) if kind in ("timeseries", "graph") else (0.02, 0.04, 0.96, 0.8)
