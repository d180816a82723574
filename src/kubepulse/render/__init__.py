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

This package does not import ``kubepulse.stack.dashboards`` (it needs the dev-only
grafana-foundation-sdk); its variable substitution is for checking queries, this one for viewing.
"""

from kubepulse.render.cli import render_dashboard
from kubepulse.render.grafana import (
    TimeRange,
    format_duration,
    parse_duration,
    parse_time,
    resolve_variables,
    substitute,
)
from kubepulse.render.layout import draw_dashboard, draw_dashboard_file, load_dashboard
from kubepulse.render.panels import PanelResult, fetch_panel, legend
from kubepulse.render.prometheus import Prometheus, RenderError, Unreachable
from kubepulse.render.units import format_value

__all__ = [
    "PanelResult",
    "Prometheus",
    "RenderError",
    "TimeRange",
    "Unreachable",
    "draw_dashboard",
    "draw_dashboard_file",
    "fetch_panel",
    "format_duration",
    "format_value",
    "legend",
    "load_dashboard",
    "parse_duration",
    "parse_time",
    "render_dashboard",
    "resolve_variables",
    "substitute",
]
