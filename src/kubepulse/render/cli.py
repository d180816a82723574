"""``kubepulse render-dashboard``: the command line."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from kubepulse.render.draw import THEMES
from kubepulse.render.grafana import parse_duration, parse_time
from kubepulse.render.layout import draw_dashboard, load_dashboard
from kubepulse.render.prometheus import Prometheus, RenderError

__all__ = ["render_dashboard"]


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
