"""Acceptance: a real (Debian) Prometheus scrapes the system exporter, the instrumented Flask app
(gunicorn, 2 workers) and the cluster exporter over TLS with basic auth, all on loopback, with the
golden-signal rules loaded. Assertions go through the Prometheus HTTP API."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from kubepulse.lab.cluster import Cluster
from kubepulse.lab.pki import LoopbackPKI, make_loopback_pki, write_web_config
from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.lab.releases import binary

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
USER, PASSWORD = "prometheus", "scrape-secret"


@dataclass
class PrometheusAPI:
    prometheus: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as resp:
            data = json.load(resp)
        assert data["status"] == "success", data
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def value(
        self,
        promql: str,
        timeout: float = 20.0,
        want: Any = None,
        ok: Callable[[float], bool] = lambda v: True,
    ) -> float:
        """The one value of ``promql``, once it exists, equals ``want`` and passes ``ok``."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if len(result) == 1:
                value = float(result[0]["value"][1])
                if (want is None or value == want) and ok(value):
                    return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql}: {result} (wanted {want})")
            time.sleep(0.25)


@dataclass
class Stack(PrometheusAPI):
    pki: LoopbackPKI
    system_port: int
    app_port: int
    logs: Path


def _job(
    name: str,
    port: int,
    pki: LoopbackPKI,
    *,
    password: str = PASSWORD,
    scheme: str = "https",
    interval: str | None = None,
) -> dict[str, Any]:
    return {
        "job_name": name,
        **({"scrape_interval": interval} if interval else {}),
        "scheme": scheme,
        "tls_config": {"ca_file": str(pki.ca_cert)},
        "basic_auth": {"username": USER, "password": password},
        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
    }


def _start_prometheus(
    group: ProcessGroup, tmp: Path, jobs: list[dict[str, Any]], rule_files: Sequence[str] = ()
) -> PrometheusAPI:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": list(rule_files),
        "scrape_configs": jobs,
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    group.start(
        "prometheus",
        [
            str(binary("prometheus")),
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        ready_url=f"http://127.0.0.1:{port}/-/ready",
    )
    return PrometheusAPI(f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("tls-stack")
    pki = make_loopback_pki(tmp / "pki")
    web = write_web_config(tmp / "web.yml", pki, {USER: PASSWORD}, rounds=10)
    system_port, app_port = free_port(), free_port()
    mp_dir = tmp / "mp"
    mp_dir.mkdir()
    with ProcessGroup(tmp / "logs") as group:
        group.start(
            "system-exporter",
            [
                *(sys.executable, "-m", "kubepulse", "exporter", "system"),
                *(f"--web.listen-address=127.0.0.1:{system_port}", f"--web.config.file={web}"),
            ],
            ready_port=system_port,
        )
        group.start(
            "gunicorn",
            [
                *(GUNICORN, "-c", str(ROOT / "examples/gunicorn.conf.py")),
                *("--pythonpath", str(ROOT / "examples"), "flask_app:app"),
            ],
            env={
                "PROMETHEUS_MULTIPROC_DIR": str(mp_dir),
                "KUBEPULSE_WEB_CONFIG": str(web),
                "GUNICORN_BIND": f"127.0.0.1:{app_port}",
                "GUNICORN_WORKERS": "2",
                "HELLO_MAX_LATENCY_SECONDS": "0.01",
            },
            ready_port=app_port,
        )
        prometheus = _start_prometheus(
            group,
            tmp,
            [
                _job("system", system_port, pki),
                _job("webapp", app_port, pki),
                # Every 10 s: its failures from 127.0.0.1 (6 a minute, with the tests' own
                # wrong logins still under the exporter's 10 a minute) never lock out the
                # address the good jobs and the tests share. At 1 s they did after 10 s, and a
                # good job whose first login had not gone through by then (load) stayed down.
                _job("system-wrong-password", system_port, pki, password="guess", interval="10s"),
                _job("system-plain-http", system_port, pki, scheme="http"),
            ],
            [str(ROOT / "deploy/prometheus/rules/golden-signals.yml")],
        )
        yield Stack(prometheus.prometheus, pki, system_port, app_port, tmp / "logs")


def _https(pki: LoopbackPKI, port: int, path: str, auth: tuple[str, str] | None) -> int:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}")
    if auth:
        import base64

        req.add_header(
            "Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        assert exc.code != 401 or exc.headers["WWW-Authenticate"].startswith("Basic")
        return exc.code


def test_targets_up_over_tls_with_basic_auth(stack: Stack) -> None:
    assert stack.value('up{job="system"}', want=1) == 1
    assert stack.value('up{job="webapp"}', want=1) == 1
    assert stack.value('up{job="system-wrong-password"}') == 0
    assert stack.value('up{job="system-plain-http"}') == 0
    with urllib.request.urlopen(f"{stack.prometheus}/api/v1/targets", timeout=10) as resp:
        targets = {t["labels"]["job"]: t for t in json.load(resp)["data"]["activeTargets"]}
    # Refused: 401, or 429 when its check met another uncached one from 127.0.0.1 (one at a
    # time per address).
    assert re.search(r"\b(401|429)\b", targets["system-wrong-password"]["lastError"])
    assert "400" in targets["system-plain-http"]["lastError"]


def test_system_values_scraped_are_right(stack: Stack) -> None:
    total = stack.value('system_memory_total_bytes{job="system"}')
    assert total == psutil.virtual_memory().total
    cpus = stack.value('count(system_cpu_seconds_total{job="system",mode="idle"})')
    assert cpus == psutil.cpu_count()
    st = os.statvfs("/")
    size = stack.value('system_filesystem_size_bytes{job="system",mountpoint="/"}')
    assert size == st.f_blocks * st.f_frsize
    busy = stack.value('instance:system_cpu_utilisation:rate5m{job="system"}', timeout=30)
    assert 0 <= busy <= 1


def test_webapp_requests_scraped_and_golden_signals_recorded(stack: Stack) -> None:
    items = 'sum(http_requests_total{job="webapp",route="/items/<int:item_id>",status="200"})'
    # Two batches, each seen by a scrape: rate() needs the series to grow after it first appears.
    fails = 'sum(http_requests_total{job="webapp",route="/fail",status="500"})'
    for i in range(10):
        assert _https(stack.pki, stack.app_port, f"/items/{i}", None) == 200
    assert _https(stack.pki, stack.app_port, "/fail", None) == 500
    assert stack.value(items, want=10) == 10
    assert stack.value(fails, want=1) == 1
    for i in range(10, 25):
        assert _https(stack.pki, stack.app_port, f"/items/{i}", None) == 200
    for _ in range(2):
        assert _https(stack.pki, stack.app_port, "/fail", None) == 500
    assert stack.value(items, want=25) == 25
    assert stack.value('sum(http_request_exceptions_total{job="webapp"})', want=3) == 3
    assert stack.value(fails, want=3) == 3
    # The recording rules turn these into the golden signals.
    rate = 'job_route:http_requests:rate5m{job="webapp",route="/items/<int:item_id>"}'
    assert stack.value(rate, timeout=30, ok=lambda v: v > 0) > 0
    ratio = 'job:http_requests_error_ratio:rate5m{job="webapp"}'
    assert 0 < stack.value(ratio, timeout=30, ok=lambda v: v > 0) < 1
    p99 = (
        'job_route:http_request_duration_seconds:p99_5m{job="webapp",route="/items/<int:item_id>"}'
    )
    assert 0 < stack.value(p99, timeout=30) <= 1
    assert stack.value('job:http_requests_in_progress:sum{job="webapp"}', timeout=30) == 0


def test_wrong_credentials_get_401_and_plain_http_fails_cleanly(stack: Stack) -> None:
    for port in (stack.system_port, stack.app_port):
        wrong = _https(stack.pki, port, "/metrics", (USER, "wrong"))
        if wrong == 429:  # met the wrong-password job's check (one at a time per address)
            time.sleep(1)
            wrong = _https(stack.pki, port, "/metrics", (USER, "wrong"))
        assert wrong == 401
        assert _https(stack.pki, port, "/metrics", None) == 401
        assert _https(stack.pki, port, "/metrics", (USER, PASSWORD)) == 200
        assert _https(stack.pki, port, "/healthz", None) == 401
        assert _https(stack.pki, port, "/healthz", (USER, PASSWORD)) == 200
    # Plain HTTP to the TLS ports: an answer or a closed connection, no hang (the socket's 5 s
    # timeout raises TimeoutError if a server waits instead; kubepulse's own handshake timeout
    # is 10 s).
    for port in (stack.system_port, stack.app_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            try:
                while chunk := sock.recv(4096):
                    data += chunk
            except ConnectionResetError:
                pass
        assert b"200 OK" not in data
        if port == stack.system_port:
            assert data.startswith(b"HTTP/1.0 400 Bad Request")
    # Bad clients are routine for an exporter: they leave no traceback in its log.
    assert "Traceback" not in (stack.logs / "system-exporter.log").read_text()


@pytest.mark.cluster
def test_cluster_exporter_scraped_over_tls_with_basic_auth(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The cluster exporter, given --web.listen-address and --web.config.file like the others:
    Prometheus scrapes /metrics and the telemetry port over TLS with basic auth, and the values
    are the API server's."""
    pki = make_loopback_pki(tmp_path / "pki")
    web = write_web_config(tmp_path / "web.yml", pki, {USER: PASSWORD}, rounds=10)
    port, telemetry = free_port(), free_port()
    with ProcessGroup(tmp_path / "logs") as group:
        group.start(
            "cluster-exporter",
            [
                *(sys.executable, "-m", "kubepulse", "exporter", "cluster"),
                *("--kubeconfig", str(cluster.kubeconfig), "--resources", "nodes,namespaces"),
                *(f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web}"),
                *("--telemetry-host", "127.0.0.1", "--telemetry-port", str(telemetry)),
            ],
            ready_port=port,
        )
        prom = _start_prometheus(
            group,
            tmp_path,
            [
                _job("cluster", port, pki),
                _job("cluster-telemetry", telemetry, pki),
                _job("cluster-wrong-password", port, pki, password="guess"),
            ],
        )
        assert prom.value('up{job="cluster"}', want=1) == 1
        assert prom.value('up{job="cluster-telemetry"}', want=1) == 1
        assert prom.value('up{job="cluster-wrong-password"}') == 0

        nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
        names = {n["metadata"]["name"] for n in nodes}
        assert prom.value('count(kube_node_info{job="cluster"})', want=len(names)) == len(names)
        scraped = {r["metric"]["node"] for r in prom.query('kube_node_info{job="cluster"}')}
        assert scraped == names
        active = 'kube_namespace_status_phase{job="cluster",namespace="default",phase="Active"}'
        assert prom.value(active, want=1) == 1
        synced = 'kubepulse_cluster_resource_synced{job="cluster-telemetry",resource="nodes"}'
        assert prom.value(synced, want=1) == 1
        with urllib.request.urlopen(f"{prom.prometheus}/api/v1/targets", timeout=10) as resp:
            targets = {t["labels"]["job"]: t for t in json.load(resp)["data"]["activeTargets"]}
        # Refused: 401, or 429 once the job's failures from 127.0.0.1 pass the per-address
        # limit; the right job's scrapes still succeed (up == 1 above).
        assert re.search(r"\b(401|429)\b", targets["cluster-wrong-password"]["lastError"])
        assert _https(pki, port, "/metrics", (USER, "wrong")) in (401, 429)
        assert _https(pki, port, "/healthz", (USER, PASSWORD)) == 200
