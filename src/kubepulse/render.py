"""``kubepulse render-dashboard``: a Grafana dashboard's panels as PNG, without Grafana.

Time-series (and legacy graph), stat and gauge panels are drawn with matplotlib from the same
PromQL Grafana would send, fetched with ``query_range`` (or ``query`` for instant targets).
Other panel types (rows, tables, text) are listed as skipped. Each panel becomes one PNG, and the
whole dashboard one more, laid out on Grafana's 24-column grid, so a report or a CI log shows what
the dashboard shows.

Template variables get what a viewer would see on first load: ``--var NAME=VALUE`` if given,
else "All" for variables that include it (their ``allValue``, or ``.*``), else the saved current
value, else the first value Prometheus returns for ``label_values(...)``. Grafana's built-ins
(``$__interval``, ``$__rate_interval``, ``$__range``) follow from the time range and step.

This module does not import ``kubepulse.stack.dashboards`` (it needs the dev-only
grafana-foundation-sdk); its variable substitution is for checking queries, this one for viewing.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PanelResult",
    "Prometheus",
    "RenderError",
    "Unreachable",
    "draw_dashboard",
    "draw_dashboard_file",
    "format_value",
    "load_dashboard",
    "parse_time",
    "render_dashboard",
    "resolve_variables",
]

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


class RenderError(RuntimeError):
    """The dashboard or Prometheus could not be used; the message names the file/URL and why."""


class Unreachable(RenderError):
    """Prometheus did not answer (connection refused, timeout, not an API): nothing to draw."""


# --- time and units ---------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus/Grafana duration such as ``90s``, ``5m`` or ``1h30m``."""
    text = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"bad duration {text!r}: use e.g. 30s, 5m, 1h")
    return total


def format_duration(seconds: float) -> str:
    """The shortest whole-unit Prometheus duration for ``seconds`` (at least ``1s``)."""
    seconds = max(1, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds for ``now``, ``now-15m``, a Unix timestamp or an ISO 8601 date-time."""
    now = time.time() if now is None else now
    text = text.strip()
    if text == "now":
        return now
    match = re.fullmatch(r"now\s*-\s*(\S+)", text)
    if match:
        return now - parse_duration(match.group(1))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: use now, now-1h, a Unix time or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _scaled(value: float, base: float, units: Sequence[str], digits: int = 3) -> str:
    index = 0
    magnitude = abs(value)
    while magnitude >= base and index < len(units) - 1:
        magnitude /= base
        value /= base
        index += 1
    return f"{_number(value, digits)}{units[index]}"


def _number(value: float, digits: int = 3) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{min(decimals, 6)}f}".rstrip("0").rstrip(".")


def format_value(value: float | None, unit: str | None) -> str:
    """``value`` as Grafana shows it in ``unit`` (short, percent, bytes, s, reqps, ...).

    An unknown unit is shown as a suffix, as Grafana does with custom units.
    """
    if value is None or math.isnan(value):
        return "No data"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    unit = unit or "short"
    if unit in ("short", ""):
        return _scaled(value, 1000, ("", " K", " Mil", " Bil", " Tri"))
    if unit == "none":
        return _number(value)
    if unit == "percent":
        return f"{_number(value)}%"
    if unit == "percentunit":
        return f"{_number(value * 100)}%"
    if unit in ("bytes", "decbytes"):
        base = 1024 if unit == "bytes" else 1000
        suffixes = (
            (" B", " KiB", " MiB", " GiB", " TiB")
            if base == 1024
            else (" B", " kB", " MB", " GB", " TB")
        )
        return _scaled(value, base, suffixes)
    if unit in ("Bps", "binBps"):
        return _scaled(value, 1024, (" B/s", " KiB/s", " MiB/s", " GiB/s"))
    if unit in ("s", "ms"):
        seconds = value / 1000 if unit == "ms" else value
        magnitude = abs(seconds)
        if magnitude == 0:
            return "0 s"
        if magnitude < 1:
            return f"{_number(seconds * 1000)} ms"
        if magnitude < 60:
            return f"{_number(seconds)} s"
        if magnitude < 3600:
            return f"{_number(seconds / 60)} min"
        if magnitude < 86400:
            return f"{_number(seconds / 3600)} hour"
        return f"{_number(seconds / 86400)} day"
    rates = {"reqps": " req/s", "ops": " ops/s", "rps": " rd/s", "wps": " wr/s", "cps": " c/s"}
    if unit in rates:
        return _scaled(value, 1000, ("", " K", " Mil")) + rates[unit]
    return f"{_number(value)} {unit}"


# --- Prometheus -------------------------------------------------------------------------------


class Prometheus:
    """The Prometheus HTTP API (``query``, ``query_range``, label values) at ``url``."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RenderError(f"--prometheus: {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            try:
                body = json.load(exc)
            except ValueError:
                raise RenderError(f"{self.url}{path}: HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise Unreachable(f"{self.url}: {exc}") from None
        if body.get("status") != "success":
            raise RenderError(f"{body.get('errorType', 'error')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """Instant vector (or scalar as one series) at ``at``: ``[{metric, values: [(t, v)]}]``."""
        data = self._get("/api/v1/query", [("query", expr), ("time", f"{at:.3f}")])
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "values": [data["result"]]}]
        return [{"metric": s["metric"], "values": [s["value"]]} for s in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Range matrix: ``[{metric, values: [(t, v), ...]}]``."""
        params = [
            ("query", expr),
            ("start", f"{start:.3f}"),
            ("end", f"{end:.3f}"),
            ("step", f"{step:g}"),
        ]
        data = self._get("/api/v1/query_range", params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "values": [data["result"]]}]
        return list(data["result"])

    def label_values(self, label: str, selector: str | None, start: float, end: float) -> list[str]:
        """Values of ``label`` on series matching ``selector`` in the time range, sorted."""
        params = [("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        if selector:
            params.append(("match[]", selector))
        path = f"/api/v1/label/{urllib.parse.quote(label, safe='')}/values"
        return sorted(str(v) for v in self._get(path, params))


# --- variables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeRange:
    """The window rendered and the step between points."""

    start: float
    end: float
    step: float
    scrape_interval: float = 15.0

    def builtins(self) -> dict[str, str]:
        """Grafana's built-in variables for this range."""
        span = self.end - self.start
        rate = max(self.step + self.scrape_interval, 4 * self.scrape_interval)
        return {
            "__interval": format_duration(self.step),
            "__interval_ms": str(int(self.step * 1000)),
            "__rate_interval": format_duration(rate),
            "__range": format_duration(span),
            "__range_s": str(int(span)),
            "__range_ms": str(int(span * 1000)),
        }


def _current(variable: Mapping[str, Any]) -> list[str] | None:
    current = variable.get("current") or {}
    value = current.get("value") if isinstance(current, Mapping) else None
    if value in (None, "", []):
        return None
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values]


def _join(values: Sequence[str]) -> str:
    """Several values of a multi-value variable as Grafana puts them in PromQL: a regex group."""
    if len(values) == 1:
        return values[0]
    return "(" + "|".join(re.escape(v) for v in values) + ")"


def resolve_variables(
    dashboard: Mapping[str, Any],
    overrides: Mapping[str, str],
    prometheus: Prometheus | None,
    window: TimeRange,
) -> dict[str, str]:
    """Every template variable's value as it goes into a query (see the module docstring).

    ``label_values(SELECTOR, LABEL)`` is asked of ``prometheus``; a variable whose query finds
    nothing becomes ``.*`` so its panels still render what there is.
    """
    values = window.builtins()
    templating = dashboard.get("templating") or {}
    for variable in templating.get("list") or []:
        name = str(variable.get("name", ""))
        kind = variable.get("type")
        if not name or kind == "datasource":
            continue
        if name in overrides:
            values[name] = overrides[name]
            continue
        current = _current(variable)
        if variable.get("includeAll") and (current is None or "$__all" in current):
            values[name] = str(variable.get("allValue") or ".*")
            continue
        if current is not None and "$__all" not in current:
            values[name] = _join(current)
            continue
        options = [str(o.get("value")) for o in variable.get("options") or [] if "value" in o]
        if not options and kind == "custom":
            options = [v.strip() for v in str(variable.get("query", "")).split(",") if v.strip()]
        if not options and kind in ("constant", "textbox"):
            options = [str(variable.get("query", ""))]
        if not options and kind == "query" and prometheus is not None:
            query = variable.get("query")
            if isinstance(query, Mapping):
                query = query.get("query", "")
            match = re.fullmatch(r"\s*label_values\(\s*(?:(.+),\s*)?(\w+)\s*\)\s*", str(query))
            if match:
                selector = substitute(match.group(1), values) if match.group(1) else None
                options = prometheus.label_values(
                    match.group(2), selector, window.start, window.end
                )
        values[name] = options[0] if options else ".*"
    values.update({k: v for k, v in overrides.items() if k not in values})
    return values


_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` replaced; unknown kept."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(repl, expr)


# --- panels -----------------------------------------------------------------------------------


@dataclass
class Series:
    """One line of a panel: its legend and points."""

    legend: str
    times: list[float]
    values: list[float]


@dataclass
class PanelData:
    """What a panel's queries returned, or the error that stopped them."""

    series: list[Series] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PanelResult:
    """One rendered (or skipped) panel."""

    title: str
    type: str
    path: Path | None
    series: int
    errors: tuple[str, ...] = ()
    skipped: str | None = None


def _legend(fmt: str | None, metric: Mapping[str, str], expr: str) -> str:
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt)
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    name = metric.get("__name__", "")
    if not labels:
        return name or expr
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _panels(dashboard: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Every panel, including those inside collapsed rows, in dashboard order."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def _fetch(
    panel: Mapping[str, Any],
    prometheus: Prometheus,
    values: Mapping[str, str],
    window: TimeRange,
) -> PanelData:
    data = PanelData()
    for target in panel.get("targets") or []:
        if target.get("hide") or not target.get("expr"):
            continue
        expr = substitute(str(target["expr"]), values)
        try:
            if target.get("instant") and not target.get("range"):
                result = prometheus.query(expr, window.end)
            else:
                result = prometheus.query_range(expr, window.start, window.end, window.step)
        except Unreachable:
            raise
        except RenderError as exc:
            data.errors.append(f"{target.get('refId', '?')}: {exc}")
            continue
        for sample in result:
            points = [(float(t), float(v)) for t, v in sample["values"]]
            data.series.append(
                Series(
                    _legend(target.get("legendFormat"), sample["metric"], expr),
                    [t for t, _ in points],
                    [v for _, v in points],
                )
            )
    return data


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


def _style(ax: Axes, theme: Mapping[str, str], title: str) -> None:
    ax.set_facecolor(theme["panel"])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=theme["text"], labelsize=7, length=0)
    ax.set_title(title, loc="left", color=theme["text"], fontsize=9, fontweight="bold", pad=6)


def _message(ax: Axes, theme: Mapping[str, str], text: str, color: str | None = None) -> None:
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


def _draw(ax: Axes, panel: Mapping[str, Any], data: PanelData, theme: Mapping[str, str]) -> None:
    _style(ax, theme, str(panel.get("title") or ""))
    if data.errors and not data.series:
        _message(ax, theme, "\n".join(data.errors)[:300], NAMED_COLORS["red"])
        return
    if not data.series:
        _message(ax, theme, "No data")
        return
    kind = panel.get("type")
    if kind in ("timeseries", "graph"):
        _draw_timeseries(ax, panel, data, theme)
    elif kind == "stat":
        _draw_stat(ax, panel, data, theme)
    else:
        _draw_gauge(ax, panel, data, theme)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "panel"


def _panel_figure(panel: Mapping[str, Any], theme: Mapping[str, str]) -> Figure:
    from matplotlib.figure import Figure

    grid = panel.get("gridPos") or {}
    width = max(int(grid.get("w", 12)), 4) * GRID_COLUMN_PX / DPI
    height = max(int(grid.get("h", 8)), 4) * GRID_ROW_PX / DPI
    if panel.get("type") in ("timeseries", "graph"):
        height += 0.6  # room for the legend under the plot
    fig = Figure(figsize=(max(width, 3.2), max(height, 1.6)), dpi=DPI)
    fig.set_facecolor(theme["panel"])
    return fig


def _timeseries_rect(kind: Any) -> tuple[float, float, float, float]:
    # Left margin for y tick labels, bottom for the time axis and the legend.
    return (0.1, 0.3, 0.87, 0.58) if kind in ("timeseries", "graph") else (0.02, 0.04, 0.96, 0.8)


def draw_dashboard(
    dashboard: Mapping[str, Any],
    prometheus: Prometheus,
    out_dir: Path,
    *,
    name: str,
    start: float,
    end: float,
    step: float | None = None,
    scrape_interval: float = 15.0,
    variables: Mapping[str, str] | None = None,
    theme: str = "dark",
    overview: bool = True,
) -> tuple[list[PanelResult], Path | None]:
    """Render ``dashboard``'s panels into ``out_dir/NAME/NN-title.png`` and, with ``overview``,
    the whole dashboard into ``out_dir/NAME.png``; return per-panel results and the overview path.

    Queries run concurrently. A query Prometheus rejects shows as an error in its panel (and in
    the result's ``errors``) rather than stopping the render; an unreachable Prometheus raises
    ``Unreachable`` (a ``RenderError``).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.image import imsave

    if end <= start:
        raise RenderError(f"empty time range: from {start} is not before to {end}")
    colors = THEMES[theme]
    step = step or max(1.0, round((end - start) / 400))
    window = TimeRange(start, end, step, scrape_interval)
    values = resolve_variables(dashboard, variables or {}, prometheus, window)
    panels = list(_panels(dashboard))
    drawable = [p for p in panels if p.get("type") in RENDERED_TYPES]
    with ThreadPoolExecutor(max_workers=8) as pool:
        fetched = list(pool.map(lambda p: _fetch(p, prometheus, values, window), drawable))
    data_by_panel = {id(p): d for p, d in zip(drawable, fetched, strict=True)}

    fig, boxes = _layout(dashboard, name, data_by_panel, colors)
    target = out_dir / name
    target.mkdir(parents=True, exist_ok=True)
    results: list[PanelResult] = []
    used: set[str] = set()
    for number, panel in enumerate(panels, start=1):
        title = str(panel.get("title") or f"panel {number}")
        kind = str(panel.get("type", "?"))
        data = data_by_panel.get(id(panel))
        if data is None:
            results.append(PanelResult(title, kind, None, 0, skipped=f"{kind} panels not drawn"))
            continue
        stem = f"{number:02d}-{_slug(title)}"
        while stem in used:
            stem += "-x"
        used.add(stem)
        path = target / f"{stem}.png"
        box = boxes.get(id(panel))
        if box is not None:
            # Cut from the dashboard image: each panel is drawn once, at its dashboard size.
            left, top, width, height = box
            imsave(path, fig[top : top + height, left : left + width])
        else:
            # Inside a collapsed row: not on the dashboard image, so drawn on its own.
            alone = _panel_figure(panel, colors)
            _draw(alone.add_axes(_timeseries_rect(kind)), panel, data, colors)
            alone.savefig(path, facecolor=alone.get_facecolor())
        results.append(PanelResult(title, kind, path, len(data.series), tuple(data.errors)))

    overview_path = None
    if overview and fig.size:
        overview_path = out_dir / f"{name}.png"
        imsave(overview_path, fig)
    return results, overview_path


HEADER_PX = 50
PAD_PX = 4


def _layout(
    dashboard: Mapping[str, Any],
    name: str,
    data_by_panel: Mapping[int, PanelData],
    colors: Mapping[str, str],
) -> tuple[Any, dict[int, tuple[int, int, int, int]]]:
    """The dashboard drawn on Grafana's grid: its RGBA pixels, and each drawn top-level panel's
    box (left, top, width, height) in pixels."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    top = list(dashboard.get("panels") or [])
    if not top:
        return np.zeros((0, 0, 4), dtype=np.uint8), {}
    bottom = max(
        int((p.get("gridPos") or {}).get("y", 0)) + int((p.get("gridPos") or {}).get("h", 1))
        for p in top
    )
    width_px, height_px = 24 * GRID_COLUMN_PX, bottom * GRID_ROW_PX + HEADER_PX
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    fig.set_facecolor(colors["page"])
    fig.text(
        10 / width_px,
        1 - 25 / height_px,
        str(dashboard.get("title") or name),
        color=colors["text"],
        fontsize=13,
        fontweight="bold",
        va="center",
    )
    boxes: dict[int, tuple[int, int, int, int]] = {}
    for panel in top:
        grid = panel.get("gridPos") or {}
        x, y = int(grid.get("x", 0)), int(grid.get("y", 0))
        w, h = int(grid.get("w", 12)), int(grid.get("h", 8))
        left, top_px = x * GRID_COLUMN_PX + PAD_PX, HEADER_PX + y * GRID_ROW_PX + PAD_PX
        box_w, box_h = w * GRID_COLUMN_PX - 2 * PAD_PX, h * GRID_ROW_PX - 2 * PAD_PX
        rect = (
            left / width_px,
            1 - (top_px + box_h) / height_px,
            box_w / width_px,
            box_h / height_px,
        )
        if panel.get("type") == "row":
            fig.text(
                rect[0],
                rect[1] + rect[3] / 2,
                str(panel.get("title") or ""),
                color=colors["text"],
                fontsize=11,
                fontweight="bold",
                va="center",
            )
            continue
        # The panel's background is a patch, not an axes: axes are the expensive part.
        fig.patches.append(
            Rectangle(
                rect[:2],
                rect[2],
                rect[3],
                transform=fig.transFigure,
                facecolor=colors["panel"],
                edgecolor=colors["grid"],
                linewidth=1,
                zorder=-1,  # under the panel's axes (zorder 0)
            )
        )
        data = data_by_panel.get(id(panel))
        kind = panel.get("type")
        # Margins inside the cell; a time series keeps room for ticks and its legend below.
        timeseries = kind in ("timeseries", "graph")
        margins = (0.09, 0.24, 0.88, 0.64) if timeseries else (0.02, 0.04, 0.96, 0.8)
        inner = (
            rect[0] + margins[0] * rect[2],
            rect[1] + margins[1] * rect[3],
            margins[2] * rect[2],
            margins[3] * rect[3],
        )
        ax = fig.add_axes(inner)
        if data is None:
            _style(ax, colors, str(panel.get("title") or ""))
            _message(ax, colors, f"({kind} panel)")
            continue
        _draw(ax, panel, data, colors)
        boxes[id(panel)] = (left, top_px, box_w, box_h)
    canvas.draw()  # type: ignore[no-untyped-call]
    return np.asarray(canvas.buffer_rgba()).copy(), boxes  # type: ignore[no-untyped-call]


def load_dashboard(path: Path) -> dict[str, Any]:
    """A dashboard's JSON (plain, or wrapped as ``{"dashboard": {...}}`` by Grafana's API)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RenderError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise RenderError(f"{path}: not JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("dashboard"), dict):
        data = data["dashboard"]
    if not isinstance(data, dict) or not isinstance(data.get("panels"), list):
        raise RenderError(f"{path}: not a Grafana dashboard (no panels list)")
    return data


def draw_dashboard_file(
    path: Path,
    prometheus: Prometheus,
    out_dir: Path,
    **kwargs: Any,
) -> tuple[list[PanelResult], Path | None]:
    """``draw_dashboard`` for the dashboard in ``path``, named after the file."""
    return draw_dashboard(load_dashboard(path), prometheus, out_dir, name=path.stem, **kwargs)


def _parse_vars(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"\w+", key):
            raise click.BadParameter(f"{pair!r}: use NAME=VALUE", param_hint="--var")
        values[key] = value
    return values


@click.command(
    "render-dashboard",
    epilog=(
        "Example: kubepulse render-dashboard deploy/grafana/dashboards/cluster-overview.json "
        "--prometheus http://127.0.0.1:9090 --out out/ --from now-30m --var namespace=shop"
    ),
)
@click.argument("dashboards", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--prometheus", "prometheus_url", required=True, help="Prometheus base URL.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory."
)
@click.option("--from", "time_from", default="now-1h", show_default=True, help="Range start.")
@click.option("--to", "time_to", default="now", show_default=True, help="Range end.")
@click.option("--step", help="Query step, e.g. 15s (default: range / 400, at least 1s).")
@click.option(
    "--scrape-interval",
    default="15s",
    show_default=True,
    help="The data source's scrape interval, for $__rate_interval.",
)
@click.option("--var", "var_pairs", multiple=True, help="Template variable NAME=VALUE (repeat).")
@click.option("--theme", type=click.Choice(sorted(THEMES)), default="dark", show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Also write each drawn panel's title, type, PNG, series count and query errors here, "
    "by dashboard: a panel with 0 series shows No data.",
)
def render_dashboard(
    dashboards: tuple[str, ...],
    prometheus_url: str,
    out_dir: str,
    time_from: str,
    time_to: str,
    step: str | None,
    scrape_interval: str,
    var_pairs: tuple[str, ...],
    theme: str,
    json_path: str | None,
) -> None:
    """Render Grafana dashboards' time-series, stat and gauge panels to PNG.

    Each panel goes to OUT/DASHBOARD/NN-title.png and the whole dashboard to OUT/DASHBOARD.png.
    Times are now, now-15m, Unix seconds or ISO 8601. Variables default to what Grafana shows
    first: All where offered, else the saved value, else the first value Prometheus has.
    """
    try:
        now = time.time()
        start, end = parse_time(time_from, now), parse_time(time_to, now)
        step_s = parse_duration(step) if step else None
        scrape_s = parse_duration(scrape_interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    variables = _parse_vars(var_pairs)
    try:
        prometheus = Prometheus(prometheus_url)
        loaded = [(Path(p), load_dashboard(Path(p))) for p in dashboards]
        out = Path(out_dir)
        failed = 0
        report: dict[str, list[dict[str, Any]]] = {}
        for path, board in loaded:
            results, overview = draw_dashboard(
                board,
                prometheus,
                out,
                name=path.stem,
                start=start,
                end=end,
                step=step_s,
                scrape_interval=scrape_s,
                variables=variables,
                theme=theme,
            )
            drawn = [result for result in results if not result.skipped]
            for result in drawn:
                state = "error" if result.errors else f"{result.series} series"
                click.echo(f"{result.path}  [{state}]")
                failed += bool(result.errors)
            if overview:
                click.echo(f"{overview}  [dashboard]")
            report[path.stem] = [
                {
                    "title": r.title,
                    "type": r.type,
                    "png": str(r.path),
                    "series": r.series,
                    "errors": list(r.errors),
                }
                for r in drawn
            ]
    except RenderError as exc:
        click.echo(f"kubepulse render-dashboard: {exc}", err=True)
        sys.exit(2)
    if json_path:
        try:
            Path(json_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            click.echo(f"kubepulse render-dashboard: --json {json_path}: {exc.strerror}", err=True)
            sys.exit(2)
    if failed:
        click.echo(f"kubepulse render-dashboard: {failed} panel(s) had query errors", err=True)
        sys.exit(1)
