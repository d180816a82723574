"""Grafana dashboards: the JSON is fresh and every query is valid PromQL on a real Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubepulse.processes import ProcessGroup
from kubepulse.stack import deploy_dir
from kubepulse.stack.dashboards import (
    build_dashboards,
    main,
    panel_queries,
    render,
    substitute,
    variable_queries,
)
from kubepulse.stack.local import api_get, query, start_prometheus
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
    assert len(set(uids)) == len(uids) == 6
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
    config = render_prometheus_config(targets={"prometheus": "127.0.0.1:1"}, rule_files=rules)
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


def test_prometheus_loaded_every_rule(prometheus: str) -> None:
    groups = api_get(prometheus, "/api/v1/rules")["groups"]
    files = {Path(g["file"]).name for g in groups}
    assert files == {p.name for p in (deploy_dir() / "prometheus" / "rules").glob("*.yml")}
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), json.dumps(groups)[:2000]
