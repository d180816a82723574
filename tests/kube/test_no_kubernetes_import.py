"""The cluster exporter starts without importing the ``kubernetes`` package (~0.4 s of imports).

Its start path (CLI parse, kubeconfig load, first lists, ready) reads the kubeconfig with
``kubepulse.kube.kubeconfig`` and quantities with ``kubepulse.kube.quantity``; the official client
is imported only for what needs it (exec and auth-provider kubeconfigs, objects from it). Each
check runs in a fresh interpreter, and each has a control: an exec-plugin kubeconfig, which does
go through ``kubernetes.config``, shows that the same check sees the import when there is one.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers_cluster_exporter import fetch, parse, select

from kubepulse.lab.cluster import Cluster
from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.lab.servers import cluster_exporter_argv

EXEC_API = "client.authentication.k8s.io/v1beta1"

# CLI parse -> the sub-command's import -> kubeconfig load -> the API check (which fails here:
# nothing listens), as ``python -m kubepulse exporter cluster`` runs them; then what got imported.
CLI_CHILD = """
import json, sys
from kubepulse.cli import main
path = sys.argv[1]
sys.argv = ["kubepulse", "exporter", "cluster", "--kubeconfig", path, "--host",
            "127.0.0.1", "--port", "0", "--telemetry-host", "127.0.0.1", "--telemetry-port", "0"]
try:
    main()
except SystemExit as exc:
    code = exc.code
import kubepulse.exporters.cluster.exporter  # every family module, as the exporter imports them
import kubepulse.podmonitor  # the pod monitor, given a kubeconfig path below
from kubepulse.kube.client import connect
from kubepulse.podmonitor._kube import kube_client
kube_client(path)
client = connect(path)
print(json.dumps({
    "exit": code,
    "configuration": type(client.configuration).__module__,
    "kubernetes": sorted(m for m in sys.modules if m.split(".")[0] == "kubernetes"),
    "exporter": "kubepulse.exporters.cluster.cli" in sys.modules,
}))
"""


def kubeconfig(path: Path, server: str, user: dict[str, Any], ca: Path | None = None) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca is None:
        cluster["insecure-skip-tls-verify"] = True
    else:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path


def exec_user(tmp_path: Path, status: dict[str, str]) -> dict[str, Any]:
    """An exec-plugin user whose plugin prints ``status`` as its ExecCredential."""
    plugin = tmp_path / "plugin.py"
    credential = {"apiVersion": EXEC_API, "kind": "ExecCredential", "status": status}
    plugin.write_text(f"import json\nprint(json.dumps({credential!r}))\n")
    return {"exec": {"apiVersion": EXEC_API, "command": sys.executable, "args": [str(plugin)]}}


def run_cli_child(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CLI_CHILD, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert out["exit"] == 1, result.stderr  # reached the API check: cannot use the Kubernetes API
    assert "cannot use the Kubernetes API" in result.stderr
    assert out["exporter"]
    return out


@pytest.mark.parametrize(
    "user",
    [
        {"token": "abc"},
        {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"},
        {"username": "ann", "password": "pw"},
    ],
    ids=["token", "client-certificate-data", "basic-auth"],
)
def test_cli_start_path_does_not_import_kubernetes(user: dict[str, Any], tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{free_port()}"  # nothing listens
    out = run_cli_child(kubeconfig(tmp_path / "kubeconfig", server, user))
    assert out["configuration"] == "kubepulse.kube.kubeconfig"
    assert out["kubernetes"] == []


def test_the_check_sees_the_import_for_an_exec_plugin(tmp_path: Path) -> None:
    """Control: the same child, with an exec-plugin kubeconfig, has imported kubernetes."""
    server = f"https://127.0.0.1:{free_port()}"
    user = exec_user(tmp_path, {"token": "from-plugin"})
    out = run_cli_child(kubeconfig(tmp_path / "kubeconfig", server, user))
    assert out["configuration"] == "kubernetes.client.configuration"
    assert "kubernetes.config" in out["kubernetes"]


# ``python -m kubepulse ARGS``, writing the names in sys.modules to OUT when it exits (the
# exporter exits on SIGTERM after shutting its servers down).
EXPORTER_CHILD = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
def dump():
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
atexit.register(dump)
sys.argv[0] = "kubepulse"
runpy.run_module("kubepulse", run_name="__main__", alter_sys=True)
"""


def imported_until_ready(cluster: Cluster, config: Path, log_dir: Path) -> set[str]:
    """Every module the real exporter process had imported when it exited, after it became
    ready and served /metrics (checked to hold the cluster's nodes)."""
    port, telemetry = free_port(), free_port()
    out = log_dir / "modules.json"
    with ProcessGroup(log_dir) as group:
        proc = group.start(
            "cluster-exporter",
            cluster_exporter_argv(
                config, port, telemetry, command=(sys.executable, "-c", EXPORTER_CHILD, str(out))
            ),
            ready_url=f"http://127.0.0.1:{port}/readyz",
            timeout=60,
        )
        status, body, _ = fetch(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        series = parse(body.decode())
        nodes = {dict(labels)["node"] for labels in select(series, "kube_node_info")}
        assert {"node-000000", "node-000001", "node-000002"} <= nodes
        assert select(series, "kube_namespace_status_phase", namespace="kube-system")
        assert proc.stop() == 0, proc.log_tail()
    modules: list[str] = json.loads(out.read_text())
    return set(modules)


@pytest.mark.cluster
def test_exporter_is_ready_without_importing_kubernetes(cluster: Cluster, tmp_path: Path) -> None:
    """The real exporter on the test cluster's own kubeconfig (client certificate files)."""
    modules = imported_until_ready(cluster, cluster.kubeconfig, tmp_path)
    # Control: the list is the start path's (the command, the families, the kubeconfig reader).
    assert {
        "kubepulse.exporters.cluster.cli",
        "kubepulse.exporters.cluster.pods",
        "kubepulse.kube.kubeconfig",
        "kubepulse.kube.quantity",
    } <= modules
    assert sorted(m for m in modules if m.split(".")[0] == "kubernetes") == []


@pytest.mark.cluster
def test_exporter_with_an_exec_plugin_imports_kubernetes(cluster: Cluster, tmp_path: Path) -> None:
    """Control: an exec plugin giving the cluster's admin certificate; kubernetes.config runs
    it, so the same check finds the import, and the exporter still serves the cluster."""
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    admin = doc["users"][0]["user"]
    status = {
        "clientCertificateData": Path(admin["client-certificate"]).read_text(),
        "clientKeyData": Path(admin["client-key"]).read_text(),
    }
    ca = Path(doc["clusters"][0]["cluster"]["certificate-authority"])
    config = kubeconfig(tmp_path / "kubeconfig", cluster.server, exec_user(tmp_path, status), ca)
    modules = imported_until_ready(cluster, config, tmp_path)
    assert {"kubernetes", "kubernetes.config", "kubernetes.client"} <= modules
