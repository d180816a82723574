"""A whole dashboard: panels fetched concurrently, drawn on Grafana's 24-column grid, cut into one
PNG per panel plus the overview."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubepulse.render.draw import (
    DPI,
    GRID_COLUMN_PX,
    GRID_ROW_PX,
    RENDERED_TYPES,
    THEMES,
    draw_panel,
    message,
    panel_figure,
    panel_rect,
    slug,
    style,
)
from kubepulse.render.grafana import TimeRange, resolve_variables
from kubepulse.render.panels import PanelData, PanelResult, fetch_panel, panels
from kubepulse.render.prometheus import Prometheus, RenderError

__all__ = ["draw_dashboard", "draw_dashboard_file", "load_dashboard"]


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
    every = list(panels(dashboard))
    drawable = [p for p in every if p.get("type") in RENDERED_TYPES]
    with ThreadPoolExecutor(max_workers=8) as pool:
        fetched = list(pool.map(lambda p: fetch_panel(p, prometheus, values, window), drawable))
    data_by_panel = {id(p): d for p, d in zip(drawable, fetched, strict=True)}

    fig, boxes = _layout(dashboard, name, data_by_panel, colors)
    target = out_dir / name
    target.mkdir(parents=True, exist_ok=True)
    results: list[PanelResult] = []
    used: set[str] = set()
    for number, panel in enumerate(every, start=1):
        title = str(panel.get("title") or f"panel {number}")
        kind = str(panel.get("type", "?"))
        data = data_by_panel.get(id(panel))
        if data is None:
            results.append(PanelResult(title, kind, None, 0, skipped=f"{kind} panels not drawn"))
            continue
        stem = f"{number:02d}-{slug(title)}"
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
            alone = panel_figure(panel, colors)
            draw_panel(alone.add_axes(panel_rect(kind)), panel, data, colors)
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
            style(ax, colors, str(panel.get("title") or ""))
            message(ax, colors, f"({kind} panel)")
            continue
        draw_panel(ax, panel, data, colors)
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
