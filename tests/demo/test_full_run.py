"""The whole demo, once: ``kubepulse demo --duration 90`` on the local kwok cluster.

Everything is real: the control plane and kwok, kubepulse's exporters, the example app under
gunicorn, node_exporter fed by ``kubepulse textfile``, the Pushgateway, Alertmanager and
Prometheus. The only stand-in is the demo's own webhook receiver (an HTTP server in the demo
process, where a pager or chat would be). This is the only test that runs the full demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from matplotlib.image import imread

from kubepulse.demo.run import DASHBOARDS
from kubepulse.lab.cluster import clusters_dir
from kubepulse.render.draw import RENDERED_TYPES
from kubepulse.stack import deploy_dir

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")
EXPECTED_JOBS = {
    "prometheus",
    "kube-state-metrics",
    "kube-state-metrics-telemetry",
    "kubepulse-system-exporter",
    "node-exporter",
    "pushgateway",
    "alertmanager",
    "kubernetes-pods",
    "blackbox-services",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the demo to its end; return its exit code, output and summary.json."""
    out = tmp_path_factory.mktemp("demo")
    name = f"demo-test-{os.getpid()}"
    proc = subprocess.run(
        [KUBEPULSE, "demo", "--duration", "90", "--output", str(out), "--cluster-name", name],
        capture_output=True,
        text=True,
        timeout=480,
    )
    summary_path = out / "summary.json"
    assert summary_path.is_file(), f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return {
        "code": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "out": out,
        "name": name,
        "summary": json.loads(summary_path.read_text()),
    }


def test_demo_succeeds_and_prints_the_summary(demo: dict[str, Any]) -> None:
    assert demo["code"] == 0, demo["stdout"][-4000:] + demo["stderr"][-2000:]
    stdout = demo["stdout"]
    for heading in ("targets:", "alerts firing", "pod recovery:", "URLs:", "peak memory:"):
        assert heading in stdout
    summary = demo["summary"]
    assert all(summary["checks"].values()), summary["checks"]
    assert all(c["status"] == "running" for n, c in summary["components"].items() if n != "grafana")
    steps = [s["name"] for s in summary["steps"]]
    assert steps[:2] == ["cluster", "workloads"] and "pod-kill" in steps and "render" in steps
    assert "Prometheus" in stdout and "http://127.0.0.1:" in stdout
    grafana = summary["components"]["grafana"]
    assert grafana["status"] in ("running", "absent")


def test_every_target_is_up_and_on_loopback(demo: dict[str, Any]) -> None:
    targets = demo["summary"]["targets"]
    assert {t["job"] for t in targets} == EXPECTED_JOBS
    assert all(t["health"] == "up" for t in targets), [t for t in targets if t["health"] != "up"]
    assert all(t["scrape_url"].startswith("http://127.0.0.1:") for t in targets)
    assert demo["summary"]["targets_down"] == 0
    # The web app's three pods were discovered, each rewritten to the one loopback app.
    assert len([t for t in targets if t["job"] == "kubernetes-pods"]) == 3


def test_both_expected_alerts_reached_the_webhook(demo: dict[str, Any]) -> None:
    firing = [a for a in demo["summary"]["notifications"] if a["status"] == "firing"]
    mismatch = [a for a in firing if a["labels"]["alertname"] == "KubeDeploymentReplicasMismatch"]
    crash = [a for a in firing if a["labels"]["alertname"] == "KubePodCrashLooping"]
    assert any(
        a["labels"]["namespace"] == "demo-shop" and a["labels"]["deployment"] == "payments"
        for a in mismatch
    ), mismatch
    assert any(
        a["labels"]["namespace"] == "demo-batch" and a["labels"]["pod"] == "report-generator"
        for a in crash
    ), crash
    assert "webhook <- FIRING   KubePodCrashLooping demo-batch/report-generator" in demo["stdout"]


def test_the_failing_job_maxed_hpa_pending_claim_and_failed_probe_reached_the_webhook(
    demo: dict[str, Any],
) -> None:
    firing = [a["labels"] for a in demo["summary"]["notifications"] if a["status"] == "firing"]

    def subjects(name: str, *keys: str) -> set[tuple[str, ...]]:
        return {tuple(a.get(k, "") for k in keys) for a in firing if a["alertname"] == name}

    assert ("demo-batch", "nightly-export") in subjects("KubeJobFailed", "namespace", "job_name")
    assert ("demo-shop", "checkout") in subjects(
        "KubeHpaMaxedOut", "namespace", "horizontalpodautoscaler"
    )
    assert ("demo-data", "uploads") in subjects(
        "KubePersistentVolumeClaimPending", "namespace", "persistentvolumeclaim"
    )
    (probe,) = [a for a in firing if a["alertname"] == "ProbeFailed"]
    assert (probe["namespace"], probe["service"], probe["severity"]) == (
        "demo-shop",
        "storefront",
        "critical",
    )
    assert probe["instance"].startswith("http://storefront.demo-shop.svc:")
    # The probe went to loopback, where nothing listens, never to the Service's address.
    (target,) = [t for t in demo["summary"]["targets"] if t["job"] == "blackbox-services"]
    port = probe["instance"].rsplit(":", 1)[1].rstrip("/")
    assert f"target=http%3A%2F%2F127.0.0.1%3A{port}%2F" in target["scrape_url"]
    stdout = demo["stdout"]
    received = stdout.split("at the webhook receiver: ", 1)[1].splitlines()[0]
    for name in ("KubeJobFailed", "KubeHpaMaxedOut", "KubePersistentVolumeClaimPending"):
        assert name in received and f"[ok] {name} reached the webhook" in stdout
    assert "ProbeFailed" in received and "[ok] ProbeFailed reached the webhook" in stdout


def test_recovery_table_holds_the_killed_pods_as_recovered(demo: dict[str, Any]) -> None:
    recovery = demo["summary"]["recovery"]
    assert recovery["error"] is None and recovery["unrecovered"] == []
    pods = recovery["recovered"]
    assert len(pods) == 2 and len({p["pod_name"] for p in pods}) == 2
    for pod in pods:
        assert pod["namespace"] == "demo-shop" and pod["pod_name"].startswith("web-")
        assert pod["replacement_name"].startswith("web-")
        # Replacements are Ready 2 s after they appear (the kwok ready-after annotation).
        assert 0 <= pod["pod_rescheduling_time"] < 5
        assert 1.5 <= pod["pod_readiness_time"] < 10
        total = pod["pod_rescheduling_time"] + pod["pod_readiness_time"]
        assert pod["total_recovery_time"] == pytest.approx(total, abs=0.01)
        # pod_name is the replacement (krkn-lib's meaning); the table starts with the killed pod.
        assert pod["killed_pod_name"].startswith("web-")
        assert pod["killed_pod_name"] != pod["pod_name"] == pod["replacement_name"]
        assert f"{pod['namespace']}/{pod['killed_pod_name']}" in demo["stdout"]
    report = (demo["out"] / "recovery-report.html").read_text()
    assert all(p["pod_name"] in report for p in pods)


def test_pngs_exist_and_are_not_blank(demo: dict[str, Any]) -> None:
    pngs = [Path(p) for p in demo["summary"]["pngs"]]
    overviews = {p.name for p in pngs if p.parent.name == "dashboards"}
    assert {"cluster-overview.png", "workloads.png", "pod-recovery.png"} <= overviews
    assert len(pngs) > 30
    for path in pngs:
        pixels = imread(path)[..., :3]
        assert pixels.shape[0] > 50 and pixels.shape[1] > 100, path
        assert float(np.var(pixels)) > 1e-3, f"{path} looks blank"


# Panels allowed to show "No data" in the demo, with why. None: the demo's cluster, exporters,
# app, store and pod-kill run feed every panel of every dashboard.
EMPTY_IN_THE_DEMO: dict[tuple[str, str], str] = {}


def test_every_dashboard_panel_has_data(demo: dict[str, Any]) -> None:
    """A PNG of a "No data" panel still has pixel variance; render-dashboard's series count is
    what tells them apart."""
    dashboards = demo["summary"]["dashboards"]
    boards = deploy_dir() / "grafana" / "dashboards"
    assert list(dashboards) == list(DASHBOARDS)
    for name, panels in dashboards.items():
        board = json.loads((boards / f"{name}.json").read_text())
        every = [q for p in board["panels"] for q in [p, *p.get("panels", [])]]
        drawable = [p["title"] for p in every if p["type"] in RENDERED_TYPES]
        assert [p["title"] for p in panels] == drawable, name
        for panel in panels:
            key = (name, panel["title"])
            assert panel["errors"] == [], (key, panel["errors"])
            if key not in EMPTY_IN_THE_DEMO:
                assert panel["series"] > 0, f"{name} / {panel['title']} shows No data"
            assert Path(panel["png"]).is_file()
    stdout = demo["stdout"]
    drawn = sum(len(panels) for panels in dashboards.values())
    assert f"dashboards: {drawn} panels drawn, {len(EMPTY_IN_THE_DEMO)} with no data" in stdout


def test_nothing_is_left_running_or_bound(demo: dict[str, Any]) -> None:
    summary = demo["summary"]
    assert summary["teardown"]["processes_left"] == []
    assert summary["teardown"]["ports_still_bound"] == []
    assert summary["pids"] and not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        for pid in summary["pids"]
    )
    listening = {
        c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN
    }
    assert not listening & set(summary["ports"])
    assert not (clusters_dir() / demo["name"]).exists()
    logs = {p.stem for p in (demo["out"] / "logs").iterdir()}
    assert {"prometheus", "alertmanager", "cluster-exporter", "web-app", "pod-monitor"} <= logs


def test_peak_memory_is_reported_and_under_4_gb(demo: dict[str, Any]) -> None:
    peak = demo["summary"]["peak_memory_bytes"]
    assert 100 * 2**20 < peak < 4 * 2**30
    assert "peak memory: " in demo["stdout"]
