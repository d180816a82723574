"""The demo's exit code: non-zero, with the failed check named, when a check fails.

The README promises the demo exits 0 only if every check passed. Here a check fails for a real
reason, cheaply: ``kubepulse demo --kubeconfig`` on the session's kwok cluster deploys the
real-cluster workloads (a failing readiness probe, a container that exits), which kwok runs as
healthy pods. So the crash-looping pod never crash-loops, ``KubePodCrashLooping`` never fires and
never reaches the webhook, and that check fails. Everything else is the real demo (exporters,
Prometheus, Alertmanager, the pod-kill run); ``--no-render`` skips the PNGs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubepulse.demo.workloads import NAMESPACES
from kubepulse.lab.cluster import Cluster

pytestmark = pytest.mark.cluster

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")


def test_a_failed_check_makes_the_demo_exit_1_and_says_which(
    cluster: Cluster, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [
            KUBEPULSE,
            "demo",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--duration",
            "10",
            "--no-render",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]
    lines = proc.stdout.splitlines()
    # The reason is one line per check, the failed one marked FAILED.
    assert "  [FAILED] KubePodCrashLooping reached the webhook" in lines, output[-4000:]
    # The rest of the stack came up: this is the check failing, not a step.
    assert "  [ok] every target up" in lines, output[-4000:]
    assert "  [ok] killed pods recovered" in lines, output[-4000:]
    assert not any(line.split("] ", 1)[-1].startswith("error:") for line in lines), output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["checks"]["KubePodCrashLooping reached the webhook"] is False
    assert summary["checks"]["every target up"] is True
    received = {a["labels"]["alertname"] for a in summary["notifications"]}
    assert "KubePodCrashLooping" not in received
    # The demo deletes the namespaces it created on a cluster it did not start.
    phases = cluster.kubectl(
        "get", "namespaces", *NAMESPACES, "--ignore-not-found", "-o", "jsonpath={..phase}"
    ).split()
    assert set(phases) <= {"Terminating"}, phases
