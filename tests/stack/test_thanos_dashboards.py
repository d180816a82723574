"""A kubepulse dashboard with a ``cluster`` variable, drawn from Thanos Query for each cluster.

The Thanos lab (``kubepulse.lab.thanos``: two clusters of two Prometheus 3.5.0 replicas with
sidecars, the stack's rules loaded, a Store Gateway, Query deduplicating on ``replica``) is
queried the way Grafana would use it as its data source: ``kubepulse render-dashboard`` draws
``deploy/grafana/dashboards/prometheus.json`` once per cluster through Query. Every panel must
have data for both clusters, and a panel's query, as the dashboard writes it, must count each
cluster's targets once (deduplicated), not once per replica. The lab's clusters run Prometheus
and a system exporter, no Kubernetes: the dashboards built on Kubernetes series are drawn
against one Prometheus in ``tests/stack/test_dashboards_e2e.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.releases import binary
from kubepulse.lab.servers import api_get, wait_until
from kubepulse.lab.thanos import start_thanos_lab
from kubepulse.stack import deploy_dir

BOARD = deploy_dir() / "grafana" / "dashboards" / "prometheus.json"


def _panel_expr(title: str) -> str:
    board = json.loads(BOARD.read_text())
    panel = next(p for p in board["panels"] if p.get("title") == title)
    expr: str = panel["targets"][0]["expr"]
    return expr


def _value(url: str, expr: str, **params: str) -> float:
    result: list[dict[str, Any]] = api_get(url, "/api/v1/query", {"query": expr, **params})[
        "result"
    ]
    assert len(result) == 1, result
    return float(result[0]["value"][1])


@pytest.mark.timeout(2400)  # a cold Thanos build when pytest runs alone
def test_the_prometheus_dashboard_draws_each_cluster_through_thanos_query(tmp_path: Path) -> None:
    binary("thanos")
    with ProcessGroup(tmp_path / "logs") as group:
        lab = start_thanos_lab(group, tmp_path / "lab", interval="1s", rules=True)
        query = lab.query.http_url
        # Rates need a few samples of every replica; rule groups their first evaluations.
        wait_until(
            lambda: api_get(
                query,
                "/api/v1/query",
                {"query": "count(rate(prometheus_http_requests_total[10s]))"},
            )["result"],
            timeout=60,
            what="rates through Query",
        )
        time.sleep(10)
        reports = {}
        for cluster in lab.replicas:
            report = tmp_path / f"{cluster}.json"
            argv = [sys.executable, "-m", "kubepulse", "render-dashboard", str(BOARD)]
            argv += ["--prometheus", query, "--out", str(tmp_path / cluster)]
            argv += ["--from", "now-1m", "--scrape-interval", "1s"]
            argv += ["--var", f"cluster={cluster}", "--json", str(report)]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr[-2000:]
            reports[cluster] = json.loads(report.read_text())["prometheus"]
        # "Targets up", as the dashboard queries it: three targets per cluster (its exporter,
        # scraped by both replicas, and each replica itself), four if replicas were not merged.
        targets_up = _panel_expr("Targets up")
        for cluster in lab.replicas:
            expr = targets_up.replace("$cluster", cluster)
            assert _value(query, expr) == 3
            assert _value(query, expr, dedup="false") == 4

    assert sorted(reports) == ["a", "b"]
    for cluster, panels in reports.items():
        drawn = {p["title"]: (p["series"], p["errors"]) for p in panels}
        assert len(drawn) >= 10, drawn
        empty = {t: v for t, v in drawn.items() if v[0] == 0 or v[1]}
        assert not empty, f"cluster {cluster}: panels without data or with errors: {empty}"
        assert len(list((tmp_path / cluster / "prometheus").glob("*.png"))) == len(drawn)
    # The two clusters' drawings hold the same panels.
    assert [p["title"] for p in reports["a"]] == [p["title"] for p in reports["b"]]
