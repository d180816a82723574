"""A panel's data: its queries run against Prometheus, one legend per series."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubepulse.render.grafana import TimeRange, substitute
from kubepulse.render.prometheus import Prometheus, RenderError, Unreachable

__all__ = ["PanelData", "PanelResult", "Series", "fetch_panel", "panels"]


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


def legend(fmt: str | None, metric: Mapping[str, str], expr: str) -> str:
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt)
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    name = metric.get("__name__", "")
    if not labels:
        return name or expr
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def panels(dashboard: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Every panel, including those inside collapsed rows, in dashboard order."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def fetch_panel(
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
                    legend(target.get("legendFormat"), sample["metric"], expr),
                    [t for t, _ in points],
                    [v for _, v in points],
                )
            )
    return data
