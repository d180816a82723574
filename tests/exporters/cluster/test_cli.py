"""``kubepulse exporter cluster`` as a real process: start-up errors, serving, telemetry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers_cluster_exporter import fetch, parse, select, value, wait_until
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from kubepulse.lab.cluster import Cluster
from kubepulse.lab.processes import ProcessGroup, free_port

CMD = [sys.executable, "-m", "kubepulse", "exporter", "cluster"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--resources", "pods,widgets"], "--resources: unknown resource(s) widgets"),
        (["--shard", "2", "--total-shards", "2"], "--shard 2 must be less than --total-shards"),
        (["--metric-labels-allowlist", "pods=app"], "--metric-labels-allowlist"),
        (
            ["--metric-allowlist", "kube_pod_info", "--metric-denylist", "kube_node_info"],
            "--metric-allowlist and --metric-denylist are mutually exclusive",
        ),
        (
            ["--metric-denylist", "kube_(pod"],
            "--metric-denylist: bad regular expression 'kube_(pod'",
        ),
        (["--metric-opt-in-list", "*x"], "--metric-opt-in-list: bad regular expression"),
        (["--metric-annotations-allowlist", "pods=[a"], "--metric-annotations-allowlist: cannot"),
        (["--metric-annotations-allowlist", "widgets=[a]"], "unknown resource(s) widgets"),
        (["--usage-labels", "a b"], "--usage-labels"),
        (["--host", "example.com"], "--host: listen address 'example.com:0'"),
        (["--web.listen-address", "127.0.0.1"], "--web.listen-address: listen address"),
        # --web.listen-address and --host/--port name the same address: they must agree.
        (["--web.listen-address", "127.0.0.1:9000"], "127.0.0.1:9000 contradicts --port 0"),
        (["--web.listen-address", "127.0.0.2:0"], "127.0.0.2:0 contradicts --host 127.0.0.1"),
        (["--port", "8081", "--telemetry-port", "8081"], "both listen on port 8081"),
    ],
)
def test_bad_flags_fail_with_one_line(args: list[str], needle: str) -> None:
    result = run("--port", "0", "--telemetry-port", "0", "--host", "127.0.0.1", *args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_listen_address_overrides_default_port_but_not_telemetry_port() -> None:
    """Without --port, --web.listen-address decides; it may not take the telemetry port."""
    result = run("--web.listen-address", ":8081")
    assert result.returncode == 2
    assert "both listen on port 8081: give --telemetry-port another port" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_bad_web_config_is_one_line_naming_flag_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "web.yml"
    bad.write_text("tls_server_config: {cert_file: missing.crt, key_file: missing.key}\n")
    result = run("--web.config.file", str(bad))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.endswith(
        f"kubepulse exporter cluster: --web.config.file: {bad}: tls_server_config.cert_file: "
        f"no such file {tmp_path / 'missing.crt'}"
    )


def test_unreachable_api_fails_at_startup(tmp_path: Path) -> None:
    """A kubeconfig pointing at a closed loopback port: one-line error, exit 1, quickly."""
    port = free_port()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "insecure-skip-tls-verify": True,
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    result = run(
        "--kubeconfig",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--telemetry-port",
        "0",
        timeout=20,
    )
    assert result.returncode == 1
    assert "Error: cannot use the Kubernetes API" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run("--kubeconfig", "/nonexistent/kubeconfig", "--port", "0", "--telemetry-port", "0")
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        "Error: cannot use the Kubernetes API: --kubeconfig: /nonexistent/kubeconfig does not exist"
    ]


@pytest.mark.cluster
def test_command_serves_metrics_and_telemetry(cluster: Cluster, tmp_path: Path) -> None:
    port, telemetry = free_port(), free_port()
    with ProcessGroup(tmp_path) as group:
        group.start(
            "cluster-exporter",
            [
                *CMD,
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--telemetry-host",
                "127.0.0.1",
                "--telemetry-port",
                str(telemetry),
                "--resources",
                "nodes,namespaces,pods",
                "--metric-labels-allowlist",
                "nodes=[*]",
            ],
            ready_url=f"http://127.0.0.1:{port}/readyz",
            timeout=30,
        )
        status, body, _ = fetch(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        series = parse(body.decode())
        assert select(series, "kube_node_info")
        assert not select(series, "kube_deployment_spec_replicas")  # not in --resources
        assert value(series, "kube_node_labels", node="node-000000", label_type="kwok") == 1
        status, body, headers = fetch(f"http://127.0.0.1:{port}/metrics", gzip_ok=True)
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert parse(body.decode()).keys() >= {k for k in series if k[0] == "kube_node_info"}

        # OpenMetrics when asked (as Prometheus asks), gzip members included.
        status, body, headers = fetch(
            f"http://127.0.0.1:{port}/metrics",
            gzip_ok=True,
            accept="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        assert status == 200
        assert headers["content-type"].startswith("application/openmetrics-text")
        om = {f.name: f for f in om_parse(body.decode())}
        assert om["kube_node_info"].samples
        assert body.endswith(b"# EOF\n")

        def telemetry_ok() -> dict[object, float]:
            _, text, _ = fetch(f"http://127.0.0.1:{telemetry}/metrics")
            tel = parse(text.decode())
            # KSM's self-metrics, with its names and labels (its alerts select them).
            node_type = {"resource": "*v1.Node", "result": "success"}
            assert value(tel, "kube_state_metrics_list_total", **node_type) >= 1
            assert value(tel, "kube_state_metrics_watch_total", **node_type) >= 1
            assert value(tel, "kube_state_metrics_shard_ordinal", shard_ordinal="0") == 0
            assert value(tel, "kube_state_metrics_total_shards") == 1
            assert select(tel, "kube_state_metrics_build_info")
            scrapes = {"handler": "metrics", "method": "get"}
            assert value(tel, "http_request_duration_seconds_count", **scrapes) >= 2
            assert select(tel, "process_resident_memory_bytes")
            assert value(tel, "kubepulse_cluster_store_objects", resource="nodes") >= 3
            assert value(tel, "kubepulse_cluster_resource_synced", resource="pods") == 1
            assert select(tel, "kubepulse_cluster_scrape_duration_seconds_count")
            return tel

        wait_until(telemetry_ok, timeout=5)
        assert fetch(f"http://127.0.0.1:{telemetry}/readyz")[0] == 200
