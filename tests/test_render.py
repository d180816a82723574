"""``kubepulse render-dashboard`` against a real Prometheus (Debian's) scraping itself on loopback.

The dashboard is written here: it covers every drawn panel type (time series with a legend
template, instant and range stats, a gauge with thresholds), a row and a text panel (skipped),
a ``label_values`` query variable without "All", one with "All", a custom variable and a panel
whose query is invalid. PNGs are checked for content by pixel variance, not just existence.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from matplotlib.image import imread

from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.servers import query, start_prometheus, wait_until
from kubepulse.render import (
    Prometheus,
    RenderError,
    TimeRange,
    Unreachable,
    draw_dashboard,
    fetch_panel,
    format_value,
    legend,
    parse_duration,
    parse_time,
    render_dashboard,
    resolve_variables,
    substitute,
)

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")

SELF_SCRAPE = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["{address}"]}}]
"""


def panel(kind: str, title: str, exprs: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "gridPos": extra.pop("gridPos", {"h": 8, "w": 12, "x": 0, "y": 0}),
        "targets": [{"expr": e, "refId": chr(65 + i), **extra} for i, e in enumerate(exprs)],
        "fieldConfig": {"defaults": {"unit": extra.pop("unit", "short")}},
    }


def dashboard() -> dict[str, Any]:
    gauge = panel(
        "gauge",
        "Head chunks vs 1000",
        ["prometheus_tsdb_head_chunks / 1000"],
        gridPos={"h": 6, "w": 6, "x": 12, "y": 9},
        unit="percentunit",
    )
    gauge["fieldConfig"]["defaults"].update(
        {
            "min": 0,
            "max": 1,
            "thresholds": {
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 2}]
            },
        }
    )
    series = panel(
        "timeseries",
        "HTTP requests by handler",
        ['sum by (handler) (rate(prometheus_http_requests_total{job="$job"}[$__rate_interval]))'],
        legendFormat="{{handler}}",
        gridPos={"h": 8, "w": 12, "x": 0, "y": 1},
        unit="reqps",
    )
    return {
        "title": "render test",
        "uid": "render-test",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "job", "type": "query", "query": "label_values(up, job)"},
                {
                    "name": "instance",
                    "type": "query",
                    "query": "label_values(up, instance)",
                    "includeAll": True,
                },
                {"name": "quantile", "type": "custom", "query": "0.9, 0.99"},
            ]
        },
        "panels": [
            {"type": "row", "title": "Self", "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}},
            series,
            panel(
                "timeseries",
                "Resident memory",
                ['process_resident_memory_bytes{instance=~"$instance"}'],
                gridPos={"h": 8, "w": 12, "x": 12, "y": 1},
                unit="bytes",
            ),
            panel(
                "stat",
                "Targets up",
                ["sum(up)"],
                instant=True,
                gridPos={"h": 6, "w": 6, "x": 0, "y": 9},
            ),
            panel(
                "stat",
                "Head series",
                ["prometheus_tsdb_head_series"],
                gridPos={"h": 6, "w": 6, "x": 6, "y": 9},
            ),
            gauge,
            panel(
                "stat",
                "Broken",
                ["sum(rate(up[)"],
                gridPos={"h": 6, "w": 6, "x": 18, "y": 9},
            ),
            {"type": "text", "title": "Notes", "gridPos": {"h": 3, "w": 24, "x": 0, "y": 15}},
        ],
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Prometheus on loopback, scraping itself every second, with a few samples in."""
    work = tmp_path_factory.mktemp("prom")
    with ProcessGroup(work / "logs") as group:
        port = free_port()
        url = start_prometheus(
            group, work, SELF_SCRAPE.format(address=f"{LOOPBACK}:{port}"), port=port
        )
        # Rates need two samples in their window; a few seconds of 1 s scrapes give several.
        wait_until(lambda: query(url, "count_over_time(up[1m]) >= 4"), timeout=30, what="4 scrapes")
        yield url


def variance(path: Path) -> float:
    pixels = imread(path)[..., :3]
    return float(np.var(pixels))


def test_every_panel_renders_with_data_and_the_overview_is_laid_out(
    prometheus: str, tmp_path: Path
) -> None:
    end = time.time()
    results, overview = draw_dashboard(
        dashboard(),
        Prometheus(prometheus),
        tmp_path,
        name="self",
        start=end - 60,
        end=end,
        scrape_interval=1,
    )
    by_title = {r.title: r for r in results}
    assert by_title["Self"].skipped and by_title["Notes"].skipped
    assert by_title["Broken"].errors and "parse error" in by_title["Broken"].errors[0]
    for title in ("HTTP requests by handler", "Resident memory", "Targets up", "Head series"):
        result = by_title[title]
        assert result.series >= 1 and not result.errors, result
        assert result.path is not None and result.path.stat().st_size > 1_000
        # A blank panel (background only, or just a title) has a variance close to zero.
        assert variance(result.path) > 1e-3, title
    assert by_title["Head chunks vs 1000"].series == 1
    assert overview == tmp_path / "self.png"
    image = imread(overview)
    # 24 columns of 66 px by 18 grid rows (the text panel ends at 18) of 36 px, plus the title.
    assert image.shape[1] == 24 * 66
    assert image.shape[0] == 18 * 36 + 50
    assert variance(overview) > 1e-3
    names = sorted(p.name for p in (tmp_path / "self").iterdir())
    assert names == [
        "02-http-requests-by-handler.png",
        "03-resident-memory.png",
        "04-targets-up.png",
        "05-head-series.png",
        "06-head-chunks-vs-1000.png",
        "07-broken.png",
    ]


def test_variables_resolve_to_what_grafana_shows_first(prometheus: str) -> None:
    end = time.time()
    window = TimeRange(end - 60, end, step=2, scrape_interval=1)
    values = resolve_variables(dashboard(), {}, Prometheus(prometheus), window)
    assert values["job"] == "prometheus"  # the first (only) value Prometheus knows
    assert values["instance"] == ".*"  # includes "All"
    assert values["quantile"] == "0.9"  # first custom option
    assert values["__rate_interval"] == "4s"  # max(step + scrape, 4 x scrape)
    assert values["__range"] == "1m"
    assert "datasource" not in values
    overridden = resolve_variables(dashboard(), {"job": "x"}, Prometheus(prometheus), window)
    assert overridden["job"] == "x"
    assert substitute('a{job="$job", q="${quantile:csv}", i=~"[[instance]]"} $nope', values) == (
        'a{job="prometheus", q="0.9", i=~".*"} $nope'
    )


def test_legend_template_is_filled_from_each_series_labels(prometheus: str) -> None:
    """The time series panel's ``legendFormat: "{{handler}}"``: each series is named by its own
    ``handler`` label, as Grafana shows it (``fetch_panel`` is what the drawn legend is made from).

    The expected names come from Prometheus's answer to the same query, read here as raw labels.
    """
    end = time.time()
    window = TimeRange(end - 60, end, step=2, scrape_interval=1)
    server = Prometheus(prometheus)
    board = dashboard()
    values = resolve_variables(board, {}, server, window)
    series_panel = next(p for p in board["panels"] if p["title"] == "HTTP requests by handler")
    data = fetch_panel(series_panel, server, values, window)
    assert data.errors == []
    expr = substitute(series_panel["targets"][0]["expr"], values)
    raw = server.query_range(expr, window.start, window.end, window.step)
    handlers = sorted(sample["metric"]["handler"] for sample in raw)
    # start_prometheus waited on /-/ready, so that handler has requests in the window.
    assert "/-/ready" in handlers
    assert sorted(s.legend for s in data.series) == handlers
    # The substitution itself: spaces inside braces, several labels, a missing label is empty.
    metric = {"__name__": "x_total", "handler": "/api", "code": "200"}
    assert legend("{{handler}} {{ code }} ({{nope}})", metric, "e") == "/api 200 ()"
    # No template (or Grafana's "__auto"): the series as PromQL writes it, labels sorted.
    assert legend(None, metric, "e") == 'x_total{code="200", handler="/api"}'
    assert legend("__auto", metric, "e") == 'x_total{code="200", handler="/api"}'
    assert legend(None, {}, "sum(up)") == "sum(up)"


def cli(*args: str) -> Result:
    """The command in-process (click's runner): same parsing, output and exit codes."""
    return CliRunner().invoke(render_dashboard, list(args))


def test_cli_renders_and_reports_paths(prometheus: str, tmp_path: Path) -> None:
    board = tmp_path / "board.json"
    good = dashboard()
    good["panels"] = [p for p in good["panels"] if p["title"] != "Broken"]
    good["panels"].append(panel("stat", "Nothing", ['up{job="no-such-job"}']))
    board.write_text(json.dumps(good))
    out = tmp_path / "out"
    report = tmp_path / "panels.json"
    result = cli(
        str(board),
        "--prometheus",
        prometheus,
        "--out",
        str(out),
        "--from",
        "now-1m",
        "--scrape-interval",
        "1s",
        "--json",
        str(report),
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{out / 'board.png'}  [dashboard]" in lines
    assert f"{out / 'board' / '04-targets-up.png'}  [1 series]" in lines
    assert (out / "board" / "02-http-requests-by-handler.png").is_file()
    # The row and the text panel are not drawn, so not listed; the empty panel says 0 series.
    panels = {p["title"]: p for p in json.loads(report.read_text())["board"]}
    assert list(panels) == [
        "HTTP requests by handler",
        "Resident memory",
        "Targets up",
        "Head series",
        "Head chunks vs 1000",
        "Nothing",
    ]
    assert panels["Targets up"] == {
        "title": "Targets up",
        "type": "stat",
        "png": str(out / "board" / "04-targets-up.png"),
        "series": 1,
        "errors": [],
    }
    assert panels["Nothing"]["series"] == 0 and Path(panels["Nothing"]["png"]).is_file()


def test_cli_errors_are_one_line_and_nonzero(prometheus: str, tmp_path: Path) -> None:
    notjson = tmp_path / "x.json"
    notjson.write_text("{nope")
    result = cli(str(notjson), "--prometheus", prometheus, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and f"{notjson}: not JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    board = tmp_path / "b.json"
    board.write_text(json.dumps(dashboard()))
    report = tmp_path / "panels.json"
    result = cli(
        str(board), "--prometheus", prometheus, "--out", str(tmp_path / "o"), "--json", str(report)
    )
    assert result.exit_code == 1 and "1 panel(s) had query errors" in result.stderr
    broken = [p for p in json.loads(report.read_text())["b"] if p["title"] == "Broken"]
    assert broken[0]["series"] == 0 and "parse error" in broken[0]["errors"][0]
    nowhere = tmp_path / "missing" / "panels.json"
    result = cli(
        str(board), "--prometheus", prometheus, "--out", str(tmp_path / "o"), "--json", str(nowhere)
    )
    assert result.exit_code == 2 and f"--json {nowhere}: No such file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli(str(board), "--prometheus", prometheus, "--out", str(tmp_path), "--from", "soon")
    assert result.exit_code == 2 and "bad time 'soon'" in result.stderr
    dead = f"http://{LOOPBACK}:{free_port()}"
    result = cli(str(board), "--prometheus", dead, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "Connection refused" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(RenderError, match="not an http"):
        Prometheus("ftp://x")
    # Without variables to resolve, the panels' own queries find Prometheus gone.
    no_vars = {"panels": [panel("stat", "Up", ["sum(up)"])]}
    with pytest.raises(Unreachable, match="Connection refused"):
        draw_dashboard(no_vars, Prometheus(dead), tmp_path, name="x", start=0, end=60)
    # The real console script is wired to this command.
    proc = subprocess.run([KUBEPULSE, "render-dashboard", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Example: kubepulse render-dashboard" in proc.stdout


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (3, "short", "3"),
        (1234, "short", "1.23 K"),
        (0.25, "percentunit", "25%"),
        (87.5, "percent", "87.5%"),
        (1536, "bytes", "1.5 KiB"),
        (2_000_000, "decbytes", "2 MB"),
        (0.0042, "s", "4.2 ms"),
        (90, "s", "1.5 min"),
        (12.5, "reqps", "12.5 req/s"),
        (2, "cores", "2 cores"),
        (None, "short", "No data"),
        (float("nan"), "s", "No data"),
    ],
)
def test_format_value_matches_grafana_units(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_times_and_durations_parse() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_time("now-15m", now=1000.0) == 100.0
    assert parse_time("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_time("1700000000") == 1700000000.0
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("5 minutes")
