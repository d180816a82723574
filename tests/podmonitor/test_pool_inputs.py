"""Bad inputs are refused with ValueError naming the argument, before any thread starts.

No API server is needed: validation happens before anything connects (the ApiClient here points
at its default, unused address).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubepulse.lab.processes import free_port
from kubepulse.podmonitor import PodsMonitorPool


@pytest.mark.parametrize(
    ("call", "kwargs", "argument"),
    [
        (
            "select_and_monitor_by_label",
            {"label_selector": "app=a=b", "max_timeout": 5},
            "label_selector",
        ),
        ("select_and_monitor_by_label", {"label_selector": "", "max_timeout": 5}, "label_selector"),
        (
            "select_and_monitor_by_label",
            {"label_selector": "app=a", "max_timeout": 0},
            "max_timeout",
        ),
        (
            "select_and_monitor_by_label",
            {"label_selector": "app=a", "max_timeout": "5"},
            "max_timeout",
        ),
        (
            "select_and_monitor_by_name_pattern_and_namespace_pattern",
            {"pod_name_pattern": "web-(", "namespace_pattern": "ns", "max_timeout": 5},
            "pod_name_pattern",
        ),
        (
            "select_and_monitor_by_name_pattern_and_namespace_pattern",
            {"pod_name_pattern": "web", "namespace_pattern": "*ns", "max_timeout": 5},
            "namespace_pattern",
        ),
        (
            "select_and_monitor_by_namespace_pattern_and_label",
            {"namespace_pattern": "ns", "label_selector": "app in (a"},
            "label_selector",
        ),
    ],
)
def test_bad_inputs_raise_before_any_thread(
    call: str, kwargs: dict[str, Any], argument: str
) -> None:
    pool = PodsMonitorPool(k8s.ApiClient())
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        getattr(pool, call)(**kwargs)
    assert pool.threads == [] and pool.events == []


def test_bad_client_and_settle_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^client: kubeconfig .* does not exist"):
        PodsMonitorPool(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match=r"^client: expected a KrknKubernetes, a kubernetes "):
        PodsMonitorPool(42)
    with pytest.raises(ValueError, match=r"^settle_seconds: "):
        PodsMonitorPool(k8s.ApiClient(), settle_seconds=-1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Config\nclusters: [\n", "not YAML"),
        ("just a string\n", "not a kubeconfig"),
        ("contexts: [{name: a}]\n", "field 'clusters' is missing or empty"),
        ("clusters: [{name: a}]\ncontexts: [x]\n", "field 'contexts' must be a list of mappings"),
    ],
)
def test_a_malformed_kubeconfig_is_refused_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "kc.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"^client: --kubeconfig: {path}: {message}") as info:
        PodsMonitorPool(path)
    assert "\n" not in str(info.value)


def test_cli_refuses_a_bad_pushgateway_url_before_watching(tmp_path: Path) -> None:
    """Refused before any connection: the kubeconfig names a loopback port nothing listens on,
    and the Pushgateway address (host:port without a scheme) is a loopback one too, so even a
    broken check connects nowhere but 127.0.0.1."""
    from click.testing import CliRunner

    from kubepulse.podmonitor.cli import pods

    kubeconfig = tmp_path / "kc.yaml"
    kubeconfig.write_text(
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{free_port()}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    gateway = f"127.0.0.1:{free_port()}"
    args = ["--kubeconfig", str(kubeconfig), "--label", "app=web", "--pushgateway", gateway]
    result = CliRunner().invoke(pods, args)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"kubepulse monitor pods: --pushgateway: '{gateway}' is not an http(s):// URL"
    )


def test_select_waits_for_the_api_and_names_the_selection_when_it_never_answers() -> None:
    """select_and_monitor_* returns only once its pods are selected; an API that accepts the
    connection and never answers (a loopback socket that reads nothing) gets a TimeoutError
    naming the selection after ``select_timeout``, instead of a monitor that silently saw
    nothing. A stand-in server: no real API server can be made to hang like this."""
    import socket
    import time

    with socket.create_server(("127.0.0.1", free_port())) as silent:
        cfg = k8s.Configuration()
        cfg.host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        pool = PodsMonitorPool(k8s.ApiClient(cfg), select_timeout=1.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"label 'app=web'.*did not answer.*1\.5 s"):
            pool.select_and_monitor_by_label("app=web", 30)
        assert time.monotonic() - started >= 1.5  # it did wait for the selection
    with pytest.raises(ValueError, match="select_timeout: must be a positive finite number"):
        PodsMonitorPool(k8s.ApiClient(), select_timeout=0)


def _kubeconfig(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kc.yaml"
    path.write_text(
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    return path


class _RecordingProxy:
    """A loopback HTTP proxy stand-in that records each request line and answers 503 (a real
    proxy would forward; what is checked is that the request went through it, addressed to the
    API server)."""

    def __init__(self) -> None:
        import http.server
        import threading

        lines: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                lines.append(self.requestline)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.lines = lines
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        # setenv first, so the original state (usually unset) is restored afterwards even when
        # KrknKubernetes sets os.environ["HTTP_PROXY"] itself.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    server = _RecordingProxy()
    yield server
    server.close()
    # KrknKubernetes installs its configuration as the kubernetes client's default.
    k8s.Configuration.set_default(None)


def test_a_krkn_kubernetes_object_is_used_with_its_proxy(
    tmp_path: Path, proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """krkn's plugins pass their ``KrknKubernetes``; krkn-lib sets its proxy from
    ``http_proxy``. The pool's requests go through that proxy, addressed to the API server."""
    from krkn_lib.k8s import KrknKubernetes

    api_port = free_port()
    monkeypatch.setenv("http_proxy", proxy.url)
    krkn = KrknKubernetes(kubeconfig_path=str(_kubeconfig(tmp_path, api_port)))
    pool = PodsMonitorPool(krkn, select_timeout=10)
    monitor = pool.select_and_monitor_by_label("app=web", "status.phase=Running", 5)
    status = pool.join()
    assert proxy.lines and all(
        line.startswith(f"GET http://127.0.0.1:{api_port}/api/v1/pods?") for line in proxy.lines
    ), proxy.lines
    assert "labelSelector=app%3Dweb" in proxy.lines[0]
    assert monitor.requests >= 1 and status.error is not None and "503" in status.error


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_http_proxy_from_the_environment_and_no_proxy(
    tmp_path: Path, proxy: Any, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """A kubeconfig path or an ApiClient uses the kubernetes client's proxy settings (from
    HTTP(S)_PROXY); NO_PROXY naming the server sends it direct (where nothing listens here)."""
    api_port = free_port()
    kubeconfig = _kubeconfig(tmp_path, api_port)
    monkeypatch.setenv(variable, proxy.url)
    pool = PodsMonitorPool(kubeconfig, select_timeout=10)
    pool.select_and_monitor_by_label("app=web", 5)
    assert "503" in (pool.join().error or "")
    assert len(proxy.lines) >= 1
    seen = len(proxy.lines)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    pool = PodsMonitorPool(kubeconfig, select_timeout=10)
    pool.select_and_monitor_by_label("app=web", 5)
    error = pool.join().error or ""
    assert "503" not in error and "cannot reach" in error, error
    assert len(proxy.lines) == seen


def test_both_krkn_lib_signatures_and_a_core_v1_api() -> None:
    """Before krkn-lib 5.1: ``(selection..., max_timeout)``; from 5.1: ``(selection...,
    field_selector, max_timeout)``, positionally or by keyword. The ApiClient points at a
    loopback port nothing listens on, so each monitor ends at once; its parsed arguments are
    what is checked."""
    cfg = k8s.Configuration()
    cfg.host = f"http://127.0.0.1:{free_port()}"
    pool = PodsMonitorPool(k8s.CoreV1Api(k8s.ApiClient(cfg)))
    running = "status.phase=Running"
    monitors = [
        pool.select_and_monitor_by_label("app=a", 7),
        pool.select_and_monitor_by_label("app=a", running, 8),
        pool.select_and_monitor_by_label(
            label_selector="app=a", field_selector=running, max_timeout=9
        ),
        pool.select_and_monitor_by_name_pattern_and_namespace_pattern("web", "ns$", 10),
        pool.select_and_monitor_by_name_pattern_and_namespace_pattern("web", "ns", running, 11),
        pool.select_and_monitor_by_namespace_pattern_and_label("ns", "app=a"),
        pool.select_and_monitor_by_namespace_pattern_and_label("ns", "app=a", 12),
        pool.select_and_monitor_by_namespace_pattern_and_label(
            namespace_pattern="ns", label_selector="app=a", max_timeout=13, field_selector=running
        ),
    ]
    pool.join()
    assert [
        (m.max_timeout, m.selection.field_selector and m.selection.field_selector.text)
        for m in monitors
    ] == [
        (7, None),
        (8, running),
        (9, running),
        (10, None),
        (11, running),
        (30, None),
        (12, None),
        (13, running),
    ]
    assert monitors[3].selection.namespace == "ns" and monitors[4].selection.namespace is None
    with pytest.raises(ValueError, match=r"^field_selector: expected a string"):
        pool.select_and_monitor_by_label("app=a", 5, 6)
    with pytest.raises(ValueError, match=r"^field_selector: pods have no field 'status\.foo'"):
        pool.select_and_monitor_by_label("app=a", "status.foo=x", 6)


def test_cli_field_selector_is_checked_before_watching(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kubepulse.podmonitor.cli import pods

    kubeconfig = _kubeconfig(tmp_path, free_port())
    args = ["--kubeconfig", str(kubeconfig), "--label", "app=web"]
    result = CliRunner().invoke(pods, [*args, "--field-selector", "status.phse=Running"])
    assert result.exit_code == 2
    assert result.output.strip().startswith(
        "kubepulse monitor pods: --field-selector: pods have no field 'status.phse' (known: "
    )
