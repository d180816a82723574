"""Grafana alerting provisioning (deploy/grafana/provisioning/alerting): generated, typed, and
evaluated.

Grafana itself is not run (it is not a dependency kubepulse may build or ship), so the files are
checked three ways: the committed files are what the generator writes; every rule, contact point
and policy survives a round trip through grafana-foundation-sdk's alerting models unchanged (a
misspelt or unknown key would be dropped, and the comparison fails); and every rule's query, with
its ``for``, labels and annotations, runs through the real promtool on the unit-test data of the
Prometheus alert it comes from, firing where that alert fires and silent where it is silent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import alerting as models

from kubepulse.lab.releases import binary
from kubepulse.stack import deploy_dir
from kubepulse.stack.grafana_alerting import (
    KEY_ALERTS,
    _plain,
    as_prometheus_rules,
    build_alerting,
    main,
    render,
)

ALERTING = deploy_dir() / "grafana" / "provisioning" / "alerting"
PROM = deploy_dir() / "prometheus"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ALERTING / name).read_text())
    return doc


def test_committed_files_are_what_the_code_generates() -> None:
    docs = build_alerting()
    assert sorted(p.name for p in ALERTING.iterdir()) == sorted(docs)
    for name, doc in docs.items():
        assert (ALERTING / name).read_text() == render(doc), name
    assert main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "deploy"
    for part in ("prometheus", "alertmanager", "grafana"):
        shutil.copytree(deploy_dir() / part, fake / part)
    monkeypatch.setenv("KUBEPULSE_DEPLOY_DIR", str(fake))
    assert main(["--check"]) == 0
    rules = fake / "grafana" / "provisioning" / "alerting" / "rules.yml"
    rules.write_text(rules.read_text().replace("for: 5m", "for: 1m", 1))
    assert main(["--check"]) == 1


def test_every_object_round_trips_through_the_sdk_models() -> None:
    register_default_plugins()  # so queries decode as Prometheus and expression models
    rules = [(g, r) for g in load("rules.yml")["groups"] for r in g["rules"]]
    assert sorted((r["title"], r["labels"]["severity"]) for _, r in rules) == sorted(KEY_ALERTS)
    assert len(rules) == len(KEY_ALERTS) == len({r["uid"] for _, r in rules})
    for group, rule in rules:
        full = {**rule, "folderUID": group["folder"], "ruleGroup": group["name"], "orgID": 1}
        assert _plain(models.Rule.from_json(full)) == full, rule["title"]
        assert len(rule["uid"]) <= 40  # Grafana's limit
    for point in load("contact-points.yml")["contactPoints"]:
        for receiver in point["receivers"]:
            full = {**receiver, "name": point["name"]}
            assert _plain(models.ContactPoint.from_json(full)) == full
            assert receiver["type"] in ("webhook", "email")
    (policy,) = load("policies.yml")["policies"]
    tree = {k: v for k, v in policy.items() if k != "orgId"}
    assert _plain(models.NotificationPolicy.from_json(tree)) == tree


def test_rules_query_the_provisioned_datasource_and_link_their_runbooks() -> None:
    (source,) = yaml.safe_load(
        (deploy_dir() / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    points = {p["name"] for p in load("contact-points.yml")["contactPoints"]}
    (policy,) = load("policies.yml")["policies"]
    assert {policy["receiver"], *(r["receiver"] for r in policy["routes"])} == points
    for group in load("rules.yml")["groups"]:
        assert group["folder"] == "kubepulse"
        for rule in group["rules"]:
            a, b = rule["data"]
            assert (a["refId"], a["datasourceUid"], a["model"]["instant"]) == (
                "A",
                source["uid"],
                True,
            )
            assert (rule["condition"], b["datasourceUid"], b["model"]["type"]) == (
                "B",
                "__expr__",
                "math",
            )
            url = rule["annotations"]["runbook_url"]
            page = deploy_dir().parent / "docs" / "runbooks" / f"{rule['title']}.md"
            assert url.endswith(f"/docs/runbooks/{rule['title']}.md") and page.is_file()
            assert "$value " not in str(rule["annotations"]) and "$value}" not in str(rule)


def grafana_rule_tests(work: Path) -> tuple[list[Path], set[str], set[str]]:
    """promtool test files: each existing test case, keeping only the checks of alerts with a
    Grafana rule, run against the Grafana rules (as Prometheus rules) plus the recording rules
    they may read. Returns the files and the alerts checked firing and checked silent."""
    rules_dir = work / "rules"
    rules_dir.mkdir(parents=True)
    for path in sorted(PROM.glob("rules/*.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc.get("groups", []):
            group["rules"] = [r for r in group["rules"] if "record" in r]
        doc["groups"] = [g for g in doc.get("groups", []) if g["rules"]]
        if doc["groups"]:
            (rules_dir / path.name).write_text(yaml.safe_dump(doc))
    (rules_dir / "grafana.yml").write_text(yaml.safe_dump(as_prometheus_rules(load("rules.yml"))))
    severity = dict(KEY_ALERTS)
    names = set(severity)
    files, fired, silent = [], set(), set()
    for path in sorted(PROM.glob("tests/*.yml")):
        doc = yaml.safe_load(path.read_text())
        cases = []
        for case in doc["tests"]:
            checks = [c for c in case.get("alert_rule_test", []) if c["alertname"] in names]
            for check in checks:  # only the severity that has a Grafana rule
                check["exp_alerts"] = [
                    e
                    for e in check.get("exp_alerts") or []
                    if e["exp_labels"]["severity"] == severity[check["alertname"]]
                ]
            if checks:
                case.pop("promql_expr_test", None)
                cases.append({**case, "alert_rule_test": checks})
                for check in checks:
                    (fired if check.get("exp_alerts") else silent).add(check["alertname"])
        if cases:
            doc["rule_files"] = [str(p) for p in sorted(rules_dir.glob("*.yml"))]
            doc["tests"] = cases
            files.append(work / path.name)
            files[-1].write_text(yaml.safe_dump(doc, sort_keys=False))
    return files, fired, silent


def test_each_rule_query_fires_and_stays_silent_on_its_alert_s_data(tmp_path: Path) -> None:
    files, fired, silent = grafana_rule_tests(tmp_path)
    names = {n for n, _ in KEY_ALERTS}
    assert fired == names and silent == names
    out = subprocess.run(
        [str(binary("promtool")), "test", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("SUCCESS") == len(files)
