"""Grafana dashboards: the JSON is fresh and every query is valid PromQL on a real Prometheus."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.releases import binary
from kubepulse.lab.servers import api_get, query, start_prometheus, wait_until
from kubepulse.stack import deploy_dir
from kubepulse.stack.dashboards import (
    build_dashboards,
    main,
    panel_queries,
    render,
    substitute,
    variable_queries,
)
from kubepulse.stack.prometheus import render_prometheus_config

GRAFANA = deploy_dir() / "grafana"


def test_committed_json_is_what_the_code_generates() -> None:
    boards = build_dashboards()
    committed = {p.name for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == set(boards), "stale or extra dashboard files"
    for name, board in boards.items():
        assert (GRAFANA / "dashboards" / name).read_text() == render(board), name
    assert main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "deploy"
    (fake / "prometheus").mkdir(parents=True)
    (fake / "prometheus" / "prometheus.yml").write_text("scrape_configs: []\n")
    (fake / "grafana" / "dashboards").mkdir(parents=True)
    for path in (GRAFANA / "dashboards").glob("*.json"):
        (fake / "grafana" / "dashboards" / path.name).write_text(path.read_text())
    monkeypatch.setenv("KUBEPULSE_DEPLOY_DIR", str(fake))
    assert main(["--check"]) == 0
    nodes = fake / "grafana" / "dashboards" / "nodes.json"
    nodes.write_text(nodes.read_text().replace("CPU utilisation", "CPU"))
    assert main(["--check"]) == 1


def test_dashboards_are_well_formed() -> None:
    boards = build_dashboards()
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids) == 20
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids), name
        queries = list(panel_queries(board))
        assert len(queries) >= 6, name
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert panel["targets"], f"{name}: {panel['title']} has no query"
    workloads = boards["workloads.json"]
    assert [v["name"] for v in workloads["templating"]["list"]] == [
        "datasource",
        "namespace",
        "deployment",
    ]


def test_provisioning_files() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/kubepulse.yml").read_text())
    assert providers["providers"][0]["type"] == "file"


def test_substitute() -> None:
    assert substitute('up{namespace=~"$namespace"}[$__rate_interval]') == 'up{namespace=~".*"}[5m]'
    assert substitute("x{a=~'${path}'}", {"path": "/tmp"}) == "x{a=~'/tmp'}"
    with pytest.raises(KeyError, match="nope"):
        substitute("$nope")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Prometheus, empty but with the stack's rules loaded, on loopback."""
    workdir = tmp_path_factory.mktemp("prom")
    rules = sorted(str(p) for p in (deploy_dir() / "prometheus" / "rules").glob("*.yml"))
    # Rules every second: the rule test waits for each rule's first evaluation.
    config = render_prometheus_config(
        targets={"prometheus": "127.0.0.1:1"}, rule_files=rules, evaluation_interval="1s"
    )
    # Scrape nothing: only query parsing and evaluation matter here.
    config_dict = yaml.safe_load(config)
    config_dict["scrape_configs"] = []
    with ProcessGroup(workdir / "logs") as group:
        yield start_prometheus(group, workdir, yaml.safe_dump(config_dict))


def test_every_panel_query_is_valid_promql(prometheus: str) -> None:
    checked = 0
    for name, board in build_dashboards().items():
        for title, expr in panel_queries(board):
            try:
                query(prometheus, substitute(expr))
            except RuntimeError as exc:
                pytest.fail(f"{name} / {title}: {expr!r}: {exc}")
            checked += 1
        for var, selector in variable_queries(board):
            try:
                api_get(prometheus, "/api/v1/series", {"match[]": substitute(selector)})
            except RuntimeError as exc:
                pytest.fail(f"{name} / ${var}: {selector!r}: {exc}")
    assert checked >= 50


# Go's zero time: a rule's lastEvaluation before its first evaluation.
NEVER_EVALUATED = "0001-01-01T00:00:00Z"


def test_prometheus_loaded_and_evaluated_every_rule(prometheus: str) -> None:
    """Every rule of every file was loaded, evaluated at least once, and evaluated cleanly.

    Before its first evaluation a rule's health is "unknown", so the test waits (evaluation every
    second) until every rule has a lastEvaluation, then wants "ok" and no lastError for each: a
    rule that parses but fails when run (e.g. a duplicate labelset) shows as "err" here.
    """

    def evaluated() -> list[dict[str, Any]] | None:
        groups: list[dict[str, Any]] = api_get(prometheus, "/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        done = rules and all(r["lastEvaluation"] != NEVER_EVALUATED for r in rules)
        return groups if done else None

    groups = wait_until(evaluated, timeout=60, what="every rule evaluated once")
    files = {Path(g["file"]).name for g in groups}
    assert files == {p.name for p in (deploy_dir() / "prometheus" / "rules").glob("*.yml")}
    rules = [r for g in groups for r in g["rules"]]
    on_disk = [
        r
        for path in (deploy_dir() / "prometheus" / "rules").glob("*.yml")
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
    ]
    assert len(rules) == len(on_disk)
    bad = [
        (r["name"], r["health"], r.get("lastError", ""))
        for r in rules
        if r["health"] != "ok" or r.get("lastError")
    ]
    assert bad == [], json.dumps(bad)[:2000]


def test_pod_recovery_quantiles_span_every_selected_namespace(tmp_path: Path) -> None:
    """The pod-recovery panels' exact PromQL, evaluated by promtool on two namespaces' buckets.

    10 pods recovered in 0.8 s in one namespace and 10 in 25 s in the other: over both (the
    "All" selection) the p90 lies in the (20, 30] bucket, 20 + 10 * (18 - 10) / 10 = 28 s, and
    the p50 is the 10th of 20, at the 1 s bucket's bound. Taking the max of the buckets instead
    of their sum would say p90 = 0.95 s, as if the slow namespace did not exist.
    """
    board = build_dashboards()["pod-recovery.json"]
    exprs = {title: substitute(expr) for title, expr in panel_queries(board)}
    p90 = exprs["p90 recovery"]
    by_phase = [e for t, e in panel_queries(board) if t.startswith("Recovery time by phase")]
    cumulative = exprs["Pods recovered within (cumulative buckets)"]
    bounds = ["0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "20.0", "30.0", "60.0", "+Inf"]
    series = []
    for namespace, seconds in (("fast", 0.8), ("slow", 25.0)):
        for le in bounds:
            count = 10 if le == "+Inf" or float(le) >= seconds else 0
            series.append(
                {
                    "series": "kubepulse_pod_recovery_seconds_bucket"
                    f'{{namespace="{namespace}", phase="total", le="{le}"}}',
                    "values": f"{count}x5",
                }
            )
    expr_tests = [
        {"expr": p90, "eval_time": "2m", "exp_samples": [{"labels": "{}", "value": 28}]},
        {
            "expr": substitute(by_phase[0]),
            "eval_time": "2m",
            "exp_samples": [{"labels": '{phase="total"}', "value": 1}],
        },
        {
            "expr": substitute(by_phase[1]),
            "eval_time": "2m",
            "exp_samples": [{"labels": '{phase="total"}', "value": 28}],
        },
        {
            "expr": cumulative,
            "eval_time": "2m",
            "exp_samples": [
                {"labels": f'{{le="{le}"}}', "value": 0 if i < 3 else 10 if i < 8 else 20}
                for i, le in enumerate(bounds)
            ],
        },
    ]
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": expr_tests}],
    }
    path = tmp_path / "pod_recovery_panels_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = subprocess.run(
        [binary("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
