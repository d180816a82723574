"""Bad inputs are refused with ValueError naming the argument, before any thread starts.

No API server is needed: validation happens before anything connects (the ApiClient here points
at its default, unused address).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubepulse.podmonitor import PodsMonitorPool
from kubepulse.processes import free_port


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
    with pytest.raises(ValueError, match=r"^client: expected"):
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
