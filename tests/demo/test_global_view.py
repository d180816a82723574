"""``kubepulse demo --clusters 2``: the global view through real Thanos Query, end to end.

Runs the command as a user would (its own process: two local kwok clusters over real control
planes, real Prometheus 3.5.0 replicas, Thanos sidecars, Store Gateway and Query on 127.0.0.1)
and reads what it wrote and printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from kubepulse.lab.cluster import cluster_workdir


@pytest.mark.cluster
@pytest.mark.timeout(480)
def test_two_clusters_through_thanos_query(tmp_path: Path) -> None:
    out = tmp_path / "global"
    argv = [sys.executable, "-m", "kubepulse", "demo", "--clusters", "2", "--duration", "30"]
    argv += ["--nodes", "2", "--cluster-name", f"glob-{os.getpid()}"]
    proc = subprocess.run(
        [*argv, "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=460,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((out / "summary.json").read_text())
    clusters = data["seen"]["clusters"]
    assert sorted(clusters) == ["a", "b"]
    nodes = {"a": 2, "b": 1}  # --nodes, one fewer for the next cluster
    for name, cluster in clusters.items():
        # Each cluster: its two exporters, scraped by both replicas, and each replica itself.
        assert (cluster["targets"], cluster["targets_up"]) == (4, 4), (name, cluster)
        # Its nodes and its Deployment's pods (two per node), once each through Query, as its
        # API server lists them; one series per replica without deduplication.
        assert cluster["api"] == {"nodes": nodes[name], "pods_running": 2 * nodes[name]}
        assert (cluster["nodes"], cluster["pods_running"]) == (nodes[name], 2 * nodes[name])
        assert cluster["nodes_without_dedup"] == 2 * nodes[name]
        # The exporter's series is one through Query, one per replica without deduplication.
        assert (cluster["exporter_series"], cluster["exporter_series_without_dedup"]) == (1, 2)
        assert cluster["replicas"] == ["0", "1"]
        # The stack's rules run in every replica: Watchdog always fires.
        assert "Watchdog" in cluster["alerts_firing"], cluster
    assert data["seen"]["up_series"] == 8
    assert data["seen"]["replica_label_left"] is False
    assert all(data["checks"].values()) and len(data["checks"]) == 5
    assert "the global view through Thanos Query" in proc.stdout
    assert data["urls"]["Thanos Query"].startswith("http://127.0.0.1:")
    assert data["urls"]["Kubernetes API b"].startswith("https://127.0.0.1:")
    # Nothing of the lab is left running.
    left = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(str(tmp_path) in arg for arg in (p.info["cmdline"] or []))
    ]
    assert left == []
    # Nor either cluster: their directories are gone.
    for name in ("a", "b"):
        assert not cluster_workdir(f"glob-{os.getpid()}-{name}").exists()


def test_clusters_refuses_a_kubeconfig(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "kubepulse", "demo", "--clusters", "2", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--clusters" in proc.stderr and "--kubeconfig" in proc.stderr
