"""The demo's parts that need no cluster: its workloads, flags, memory sampling, port check."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from kubepulse.demo import demo
from kubepulse.demo.run import _port_free
from kubepulse.demo.summary import MemorySampler
from kubepulse.demo.workloads import TAINT, manifests
from kubepulse.lab.cluster import clusters_dir
from kubepulse.lab.processes import LOOPBACK

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")


def by_name(docs: list[dict]) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_kwok_workloads_use_kwok_labels_and_the_tainted_node() -> None:
    docs = by_name(manifests(real=False, tainted_node="node-2", probe_port=40001))
    payments = docs["Deployment/payments"]["spec"]["template"]["metadata"]["labels"]
    assert payments["kubepulse.dev/never-ready"] == "true"
    crasher = docs["Pod/report-generator"]["metadata"]["labels"]
    assert crasher["kubepulse.dev/crashloop"] == "true"
    db = docs["StatefulSet/db"]["spec"]["template"]["spec"]
    assert db["nodeSelector"] == {"kubernetes.io/hostname": "node-2"}
    key, value_effect = TAINT.split("=")
    assert db["tolerations"] == [
        {
            "key": key,
            "operator": "Equal",
            "value": value_effect.split(":")[0],
            "effect": "NoSchedule",
        }
    ]
    web = docs["Deployment/web"]["spec"]["template"]["metadata"]["annotations"]
    assert web["prometheus.io/scrape"] == "true"
    assert {d["metadata"]["name"] for d in docs.values() if d["kind"] == "Namespace"} == {
        "demo-shop",
        "demo-data",
        "demo-batch",
        "kubepulse-demo",
    }


def test_real_cluster_workloads_fail_for_real_and_taint_nothing() -> None:
    docs = by_name(manifests(real=True, tainted_node=None, probe_port=40001))
    payments = docs["Deployment/payments"]["spec"]["template"]
    assert "kubepulse.dev/never-ready" not in payments["metadata"]["labels"]
    assert payments["spec"]["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": 1}
    crasher = docs["Pod/report-generator"]
    assert "kubepulse.dev/crashloop" not in crasher["metadata"]["labels"]
    assert crasher["spec"]["containers"][0]["command"] == ["sh", "-c", "exit 1"]
    assert "nodeSelector" not in docs["StatefulSet/db"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("real", [False, True])
def test_the_job_fails_the_hpa_is_maxed_the_claim_pends_and_the_probe_fails(real: bool) -> None:
    docs = by_name(manifests(real=real, tainted_node=None, probe_port=40001))
    job = docs["Job/nightly-export"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (0, 5)
    pod = job["template"]
    if real:
        assert pod["spec"]["containers"][0]["command"] == ["sh", "-c", "exit 1"]
    else:  # never Ready on kwok, so never Succeeded: the deadline fails it
        assert pod["metadata"]["labels"]["kubepulse.dev/never-ready"] == "true"
    hpa = docs["HorizontalPodAutoscaler/checkout"]["spec"]
    assert docs["Deployment/checkout"]["spec"]["replicas"] > hpa["maxReplicas"] > hpa["minReplicas"]
    claim = docs["PersistentVolumeClaim/uploads"]
    assert claim["metadata"]["namespace"] == "demo-data"
    assert claim["spec"]["storageClassName"] not in {d["metadata"]["name"] for d in docs.values()}
    probed = docs["Service/storefront"]
    assert probed["metadata"]["annotations"]["prometheus.io/probe"] == "true"
    assert probed["spec"]["ports"][0]["port"] == 40001


def test_flags_are_checked_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "kc.yaml"
    config.write_text("apiVersion: v1\n")
    result = CliRunner().invoke(
        demo, ["--kubeconfig", str(config), "--use-current-context", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2 and "not both" in result.output
    result = CliRunner().invoke(demo, ["--duration", "5"])
    assert result.exit_code == 2 and "--duration" in result.output
    result = CliRunner().invoke(
        demo, ["--use-current-context"], env={"KUBECONFIG": str(tmp_path / "missing")}
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(demo, ["--cluster-name", "../x", "--output", str(tmp_path)])
    assert result.exit_code == 2 and "--cluster-name: '../x' is not a DNS label" in result.output
    assert not list(tmp_path.glob("logs"))
    proc = subprocess.run(
        [KUBEPULSE, "demo", "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "Example: kubepulse demo" in proc.stdout


def test_memory_sampler_counts_child_processes() -> None:
    sampler = MemorySampler()
    alone = sampler.sample()
    # A child holding ~60 MiB must show up in the sum.
    child = subprocess.Popen(
        [sys.executable, "-c", "b = bytearray(60 * 2**20); import time; time.sleep(30)"]
    )
    try:
        for _ in range(50):
            if sampler.sample() >= alone + 60 * 2**20:
                break
            time.sleep(0.1)
        assert sampler.peak >= alone + 60 * 2**20
    finally:
        child.kill()
        child.wait()


def test_port_free_ignores_closed_connections_but_sees_listeners() -> None:
    server = socket.socket()
    # As the demo's servers (Go, gunicorn, Python's http.server) do.
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((LOOPBACK, 0))
    server.listen()
    port = server.getsockname()[1]
    assert not _port_free(port)
    client = socket.create_connection((LOOPBACK, port))
    conn, _ = server.accept()
    conn.close()  # the server side closes first: its end goes to TIME_WAIT
    client.close()
    server.close()
    for _ in range(50):  # the close handshake takes a moment
        if _port_free(port):
            break
        time.sleep(0.05)
    assert _port_free(port)


@pytest.mark.cluster
def test_ctrl_c_while_starting_tears_everything_down(tmp_path: Path) -> None:
    """SIGINT while the exporters start: exit 130, and the cluster and every process are gone."""
    name = f"demo-int-{os.getpid()}"
    proc = subprocess.Popen(
        [KUBEPULSE, "demo", "--output", str(tmp_path), "--cluster-name", name, "--no-render"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "starting exporters" in line:
            time.sleep(1)  # some servers are up by now, others starting
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    assert "interrupted" in output and "0 processes left, 0 ports still bound" in output
    assert not (clusters_dir() / name).exists()
    leftovers = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(str(tmp_path) in arg or name in arg for arg in p.info["cmdline"] or [])
    ]
    assert leftovers == []
