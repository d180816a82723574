"""The Prometheus and Alertmanager content in deploy/, checked with the real promtool and amtool
(the releases the chart deploys, built by ``kubepulse.lab.releases``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.releases import binary
from kubepulse.lab.servers import (
    alertmanager_alerts,
    post_alerts,
    start_stack_alertmanager,
    wait_until,
)
from kubepulse.stack import deploy_dir
from kubepulse.stack.alertmanager import render_alertmanager_config
from kubepulse.stack.prometheus import render_prometheus_config, render_rule_files

DEPLOY = deploy_dir()
PROM = DEPLOY / "prometheus"
RUNBOOKS = DEPLOY.parent / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/kubepulse/kubepulse/blob/main/docs/runbooks/"
ALL_RULE_FILES = sorted(PROM.glob("rules/*.yml")) + sorted(PROM.glob("rules/optional/*.yml"))


def run(argv: list[str | Path], cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def load(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def alerts() -> dict[str, list[dict[str, Any]]]:
    """Every alerting rule by name. One name may have several rules (a warning and a critical
    twin, the windows of a burn-rate alert) only if their labels tell them apart."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in ALL_RULE_FILES:
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    twins = found.setdefault(rule["alert"], [])
                    assert all(t["labels"] != rule["labels"] for t in twins), (
                        f"duplicate alert {rule['alert']} with labels {rule['labels']}"
                    )
                    twins.append(rule)
    return found


@pytest.fixture(scope="module")
def promtool() -> Path:
    return binary("promtool")


@pytest.fixture(scope="module")
def amtool() -> Path:
    return binary("amtool")


def test_promtool_check_rules(promtool: Path) -> None:
    out = run([promtool, "check", "rules", *ALL_RULE_FILES])
    assert "FAILED" not in out


def test_promtool_rule_unit_tests(promtool: Path) -> None:
    out = run([promtool, "test", "rules", *sorted(PROM.glob("tests/*.yml"))])
    assert out.count("SUCCESS") == len(list(PROM.glob("tests/*.yml")))


def test_every_alert_has_metadata_and_a_runbook() -> None:
    found = alerts()
    assert len(found) >= 20
    for name, rule in ((n, r) for n, rules in found.items() for r in rules):
        # Watchdog and InfoInhibitor are routed by name and notify no person: severity none.
        allowed = {"none"} if name in {"Watchdog", "InfoInhibitor"} else set()
        assert rule["labels"]["severity"] in {"critical", "warning", "info"} | allowed, name
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        assert notes["runbook_url"] == f"{RUNBOOK_BASE}{name}.md", name
        page = RUNBOOKS / f"{name}.md"
        assert page.is_file(), f"{name}: no runbook at {page}"
        assert page.read_text().startswith(f"# {name}\n"), page


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    fired: dict[str, list[dict[str, str]]] = {}
    silent: set[str] = set()
    for path in PROM.glob("tests/*.yml"):
        for case in load(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                if not check.get("exp_alerts"):
                    silent.add(check["alertname"])
                for exp in check.get("exp_alerts") or []:
                    fired.setdefault(check["alertname"], []).append(exp["exp_labels"])
    found = alerts()
    names = set(found)
    # Each rule of a name (each severity twin) fires in some test with its own labels.
    never = [
        f"{name} {rule['labels']}"
        for name, rules in found.items()
        for rule in rules
        if not any(rule["labels"].items() <= exp.items() for exp in fired.get(name, []))
    ]
    assert never == [], "alerts never tested firing"
    # Watchdog fires always, by design (general_test.yml shows it firing with no input at all).
    assert names - silent == {"Watchdog"}, "alerts never tested staying silent"


# --syntax-only: the production config names in-cluster files (service-account token, CA) that
# exist only inside a pod; everything else (SD configs, relabelling, rule files) is checked.
def test_production_config_passes_promtool(promtool: Path) -> None:
    for config in (PROM / "prometheus.yml", PROM / "global" / "prometheus.yml"):
        out = run([promtool, "check", "config", "--syntax-only", config])
        assert "SUCCESS" in out and "FAILED" not in out, config


def test_knobs_are_applied(tmp_path: Path, promtool: Path) -> None:
    text = render_prometheus_config(
        cluster="prod-eu", scrape_interval="5s", evaluation_interval="15s"
    )
    config = yaml.safe_load(text)
    assert config["global"]["external_labels"] == {"cluster": "prod-eu"}
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["scrape_timeout"] == "5s"  # never longer than the interval
    assert config["global"]["evaluation_interval"] == "15s"
    (tmp_path / "rules").symlink_to(PROM / "rules")
    (tmp_path / "prometheus.yml").write_text(text)
    run([promtool, "check", "config", "--syntax-only", tmp_path / "prometheus.yml"])


def test_local_overlay_scrapes_only_loopback(tmp_path: Path, promtool: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    rules = render_rule_files(
        tmp_path / "rules", for_overrides={"KubeDeploymentReplicasMismatch": "5s"}
    )
    text = render_prometheus_config(
        cluster="test",
        targets={
            "prometheus": "127.0.0.1:9090",
            "kube-state-metrics": "127.0.0.1:18080",
            "kubernetes-pods": "127.0.0.1:18000",
        },
        kubeconfig=kubeconfig,
        alertmanagers=["127.0.0.1:9093"],
        rule_files=rules,
    )
    config = yaml.safe_load(text)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "kube-state-metrics", "kubernetes-pods"}
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:9090"]}]
    # Each Kubernetes SD job is scraped at the loopback address given for it, and no other.
    for name, address in (
        ("kube-state-metrics", "127.0.0.1:18080"),
        ("kubernetes-pods", "127.0.0.1:18000"),
    ):
        job = jobs[name]
        assert all(sd["kubeconfig_file"] == str(kubeconfig) for sd in job["kubernetes_sd_configs"])
        # The production relabelling (keep filters, namespace/pod labels) is still all there...
        assert (
            job["relabel_configs"][:-2]
            == next(
                j
                for j in yaml.safe_load((PROM / "prometheus.yml").read_text())["scrape_configs"]
                if j["job_name"] == name
            )["relabel_configs"]
        )
        # ...and the address is rewritten last, whatever the earlier rules did.
        assert job["relabel_configs"][-2:] == [
            {"target_label": "__address__", "replacement": address},
            {"target_label": "__scheme__", "replacement": "http"},
        ]
    assert config["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]
    }
    assert "remote_write" not in config
    (tmp_path / "prometheus.yml").write_text(text)
    run([promtool, "check", "config", tmp_path / "prometheus.yml"])


def test_local_overlay_refuses_non_loopback_and_unknown_jobs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        render_prometheus_config(targets={"prometheus": "10.1.2.3:9090"})
    with pytest.raises(ValueError, match="unknown job"):
        render_prometheus_config(targets={"nope": "127.0.0.1:1"})
    with pytest.raises(ValueError, match="kubeconfig"):
        render_prometheus_config(targets={"kubernetes-pods": "127.0.0.1:1"})


def test_for_overrides_change_only_for(tmp_path: Path, promtool: Path) -> None:
    paths = render_rule_files(tmp_path, for_overrides={"KubeDeploymentReplicasMismatch": "5s"})
    assert {p.name for p in paths} == {p.name for p in PROM.glob("rules/*.yml")}
    original = load(PROM / "rules" / "kubernetes.yml")
    changed = load(tmp_path / "kubernetes.yml")
    for group_a, group_b in zip(original["groups"], changed["groups"], strict=True):
        for a, b in zip(group_a["rules"], group_b["rules"], strict=True):
            if a.get("alert") == "KubeDeploymentReplicasMismatch":
                assert b.pop("for") == "5s"
                a.pop("for")
            assert a == b
    run([promtool, "check", "rules", *paths])
    with pytest.raises(ValueError, match="NoSuchAlert"):
        render_rule_files(tmp_path / "x", for_overrides={"NoSuchAlert": "1s"})


def test_alertmanager_config_passes_amtool(tmp_path: Path, amtool: Path) -> None:
    out = run([amtool, "check-config", DEPLOY / "alertmanager" / "alertmanager.yml"])
    assert "SUCCESS" in out and "4 inhibit rules" in out
    text = render_alertmanager_config(
        smarthost="127.0.0.1:2525",
        webhook_url="http://127.0.0.1:5001/hook",
        slack_api_url="http://127.0.0.1:5001/slack",
        templates_dir=DEPLOY / "alertmanager" / "templates",
    )
    config = yaml.safe_load(text)
    assert config["global"]["smtp_smarthost"] == "127.0.0.1:2525"
    hooks = [h["url"] for r in config["receivers"] for h in r.get("webhook_configs", [])]
    assert hooks and set(hooks) == {"http://127.0.0.1:5001/hook"}
    (tmp_path / "am.yml").write_text(text)
    run([amtool, "check-config", tmp_path / "am.yml"])


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=KubeNodeNotReady", "severity=critical", "node=n1"], "oncall"),
        (
            ["alertname=KubeDeploymentReplicasMismatch", "severity=warning", "namespace=shop"],
            "team",
        ),
        (["alertname=KubePodNotReady", "severity=warning", "namespace=kube-system"], "platform"),
        (["alertname=Watchdog", "severity=none"], "heartbeat"),
        (["alertname=InfoInhibitor", "severity=none", "namespace=shop"], "null"),
    ],
)
def test_alertmanager_routes_by_severity_and_namespace(
    labels: list[str], receiver: str, amtool: Path
) -> None:
    out = run(
        [
            amtool,
            "config",
            "routes",
            "test",
            "--config.file",
            DEPLOY / "alertmanager" / "alertmanager.yml",
            *labels,
        ]
    )
    assert out.strip() == receiver


# Two alerts of one group, one firing with a runbook, one resolved without: Alertmanager's
# template data (https://pkg.go.dev/github.com/prometheus/alertmanager/template#Data).
TEMPLATE_DATA = {
    "receiver": "team",
    "status": "firing",
    "externalURL": "http://127.0.0.1:9093",
    "groupLabels": {"alertname": "KubePodCrashLooping"},
    "commonLabels": {
        "alertname": "KubePodCrashLooping",
        "cluster": "c1",
        "namespace": "shop",
        "severity": "warning",
    },
    "commonAnnotations": {},
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "KubePodCrashLooping",
                "cluster": "c1",
                "namespace": "shop",
                "severity": "warning",
                "pod": "a",
            },
            "annotations": {
                "summary": "Pod shop/a is crash looping.",
                "description": "a restarted 5 times & <more>",
                "runbook_url": f"{RUNBOOK_BASE}KubePodCrashLooping.md",
            },
            "startsAt": "2026-01-02T03:04:05Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": "1",
        },
        {
            "status": "resolved",
            "labels": {
                "alertname": "KubePodCrashLooping",
                "cluster": "c1",
                "namespace": "shop",
                "severity": "warning",
                "pod": "b",
            },
            "annotations": {"summary": "Pod shop/b is crash looping.", "description": "b"},
            "startsAt": "2026-01-02T03:00:00Z",
            "endsAt": "2026-01-02T03:10:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": "2",
        },
    ],
}
RUNBOOK = f"{RUNBOOK_BASE}KubePodCrashLooping.md"
RENDERED = {
    # Firing count, alert name, the common namespace and the cluster.
    ("kubepulse.title", "text"): "[FIRING:1] KubePodCrashLooping in shop (c1)",
    # One block per alert; the runbook line only where there is one.
    ("kubepulse.text", "text"): (
        "*WARNING* Pod shop/a is crash looping.\n"
        "a restarted 5 times & <more>\n"
        f"Runbook: {RUNBOOK}\n"
        "*WARNING* Pod shop/b is crash looping.\n"
        "b\n"
        "\n"
    ),
    # Alertmanager renders email HTML with html/template: annotation text is escaped.
    ("kubepulse.email.html", "html"): (
        "<h3>[FIRING:1] KubePodCrashLooping in shop (c1)</h3>\n"
        "<p><b>WARNING</b> Pod shop/a is crash looping.<br>\n"
        "a restarted 5 times &amp; &lt;more&gt;<br>\n"
        f'<a href="{RUNBOOK}">Runbook</a> \u00b7 started 2026-01-02 03:04:05 UTC</p>\n'
        "<p><b>WARNING</b> Pod shop/b is crash looping.<br>\n"
        "b<br>\n"
        "started 2026-01-02 03:00:00 UTC</p>\n"
    ),
}


@pytest.mark.parametrize(("name", "kind"), list(RENDERED))
def test_alertmanager_templates_render_exactly(
    tmp_path: Path, name: str, kind: str, amtool: Path
) -> None:
    """amtool renders each template with the real Alertmanager template code on fixed alerts;
    the text is deterministic, so it is compared whole (the e2e test renders real ones)."""
    data = tmp_path / "data.json"
    data.write_text(json.dumps(TEMPLATE_DATA))
    out = run(
        [
            amtool,
            "template",
            "render",
            "--template.glob",
            str(DEPLOY / "alertmanager" / "templates" / "*.tmpl"),
            "--template.type",
            kind,
            "--template.data",
            str(data),
            "--template.text",
            f'{{{{ template "{name}" . }}}}',
        ]
    )
    assert out == RENDERED[(name, kind)]


def test_alertmanager_inhibits_pod_alerts_on_a_not_ready_node(tmp_path: Path) -> None:
    """A real Alertmanager with the stack's config (notifications to a loopback port nothing
    listens on), fed alerts through its API, applies the inhibit rules."""

    def alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
        return {"labels": {"alertname": name, "severity": severity, "cluster": "c1", **labels}}

    sent = [
        alert("KubeNodeNotReady", "critical", node="n1"),
        alert("KubePodNotReady", "warning", namespace="shop", pod="a", node="n1"),
        alert("KubePodCrashLooping", "warning", namespace="shop", pod="b", node="n1"),
        alert("KubePodNotReady", "warning", namespace="shop", pod="c", node="n2"),
        alert("KubeDeploymentReplicasMismatch", "warning", namespace="shop", deployment="d"),
    ]
    with ProcessGroup(tmp_path / "logs") as group:
        url = start_stack_alertmanager(group, tmp_path / "am", "http://127.0.0.1:1")
        post_alerts(url, sent)

        def states() -> dict[str, str] | None:
            got = alertmanager_alerts(url)
            result = {
                f"{a['labels']['alertname']}/{a['labels'].get('pod', a['labels'].get('node'))}": a[
                    "status"
                ]["state"]
                for a in got
            }
            return result if "suppressed" in result.values() and len(result) == 5 else None

        result = wait_until(states, timeout=15, what="inhibition applied")
    assert result == {
        "KubeNodeNotReady/n1": "active",
        "KubePodNotReady/a": "suppressed",
        "KubePodCrashLooping/b": "suppressed",
        "KubePodNotReady/c": "active",
        "KubeDeploymentReplicasMismatch/None": "active",
    }
