"""Run the stack's servers (Prometheus, Alertmanager, the kubepulse cluster exporter) on loopback
and talk to their HTTP APIs.

Used by the stack tests, the benchmarks and ``kubepulse demo``. Every process goes through a
``ProcessGroup`` (loopback only, logs to a file, always cleaned up); every URL is checked to be
loopback. The Prometheus-project servers are the releases the Helm chart deploys
(``kubepulse.lab.releases``) unless a caller names another binary.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kubepulse.lab.manifests import deployment
from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port, require_loopback
from kubepulse.lab.releases import binary as release_binary
from kubepulse.stack import deploy_dir
from kubepulse.stack.alertmanager import render_alertmanager_config
from kubepulse.stack.prometheus import render_prometheus_config, render_rule_files

__all__ = [
    "STAND_INS",
    "alertmanager_alerts",
    "api_get",
    "cluster_exporter_argv",
    "post_alerts",
    "query",
    "stand_in_manifests",
    "start_alertmanager",
    "start_cluster_exporter",
    "start_prometheus",
    "start_stack_alertmanager",
    "start_stack_prometheus",
    "wait_until",
]


def cluster_exporter_argv(
    kubeconfig: str | Path,
    port: int,
    telemetry_port: int,
    extra_args: Sequence[str] = (),
    command: Sequence[str] = (sys.executable, "-m", "kubepulse"),
) -> list[str]:
    """The kubepulse cluster exporter's command line for the cluster of ``kubeconfig``, serving
    ``/metrics`` on 127.0.0.1:``port`` and its telemetry (``/readyz``) on ``telemetry_port``;
    ``extra_args`` follow; ``command`` runs kubepulse (default: this interpreter's)."""
    return [
        *command,
        *("exporter", "cluster", "--kubeconfig", str(kubeconfig)),
        *("--host", LOOPBACK, "--port", str(port)),
        *("--telemetry-host", LOOPBACK, "--telemetry-port", str(telemetry_port)),
        *extra_args,
    ]


def start_cluster_exporter(
    group: ProcessGroup,
    kubeconfig: str | Path,
    *,
    name: str = "cluster-exporter",
    extra_args: Sequence[str] = (),
    timeout: float = 60,
) -> tuple[int, int]:
    """Start the cluster exporter (``cluster_exporter_argv``) as process ``name``; return its
    metrics and telemetry ports once ``/readyz`` answers (its first lists are in)."""
    port, telemetry = free_port(), free_port()
    group.start(
        name,
        cluster_exporter_argv(kubeconfig, port, telemetry, extra_args),
        ready_url=f"http://{LOOPBACK}:{telemetry}/readyz",
        timeout=timeout,
    )
    return port, telemetry


# The flag that puts each server's data under its workdir.
_DATA_FLAG = {"prometheus": "--storage.tsdb.path", "alertmanager": "--storage.path"}


def _start_server(
    group: ProcessGroup,
    command: str,
    workdir: Path,
    config_text: str,
    *,
    binary: str | Path | None,
    port: int | None,
    name: str,
    flags: Sequence[str],
) -> str:
    """Start a Prometheus-project server, ``command`` (``prometheus``, ``alertmanager``: the
    release's unless ``binary`` names another), on 127.0.0.1 as the process ``name``, with its
    config in ``workdir/NAME.yml``, its data in ``workdir/data`` and ``flags`` after the common
    ones; return its URL once ``/-/ready`` answers."""
    executable = binary or release_binary(command)
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / f"{name}.yml"
    config.write_text(config_text, encoding="utf-8")
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        str(executable),
        f"--config.file={config}",
        f"--web.listen-address={LOOPBACK}:{port}",
        f"--web.external-url={url}",
        f"{_DATA_FLAG[command]}={workdir / 'data'}",
        *flags,
    ]
    group.start(name, argv, ready_url=f"{url}/-/ready", timeout=60)
    return url


def start_prometheus(
    group: ProcessGroup,
    workdir: Path,
    config_text: str,
    *,
    binary: str | Path | None = None,
    port: int | None = None,
    retention: str = "1d",
    extra_args: Sequence[str] = (),
    name: str = "prometheus",
) -> str:
    """Start Prometheus with ``config_text`` and a data dir under ``workdir``; return its URL.

    It listens on 127.0.0.1 only and has the lifecycle API on (``/-/reload``), so a caller can
    rewrite the config and reload. ``retention`` is ``--storage.tsdb.retention.time``; ``name``
    names its process and log (one per replica when several run).
    """
    flags = [f"--storage.tsdb.retention.time={retention}", "--web.enable-lifecycle", *extra_args]
    return _start_server(
        group, "prometheus", workdir, config_text, binary=binary, port=port, name=name, flags=flags
    )


def start_alertmanager(
    group: ProcessGroup,
    workdir: Path,
    config_text: str,
    *,
    binary: str | Path | None = None,
    port: int | None = None,
    name: str = "alertmanager",
    cluster_args: Sequence[str] = (),
) -> str:
    """Start Alertmanager with ``config_text`` on 127.0.0.1; return its URL.

    Without ``cluster_args`` clustering is switched off (``--cluster.listen-address=``): by
    default Alertmanager would bind its gossip port on every interface. ``cluster_args`` (the
    ``--cluster.*`` flags of one member, see ``kubepulse.lab.ha``) switch it on instead.
    """
    flags = cluster_args or ["--cluster.listen-address="]
    return _start_server(
        group,
        "alertmanager",
        workdir,
        config_text,
        binary=binary,
        port=port,
        name=name,
        flags=flags,
    )


def start_stack_alertmanager(
    group: ProcessGroup,
    workdir: Path,
    receiver_url: str,
    *,
    port: int | None = None,
    repeat_interval: str = "1h",
    name: str = "alertmanager",
    cluster_args: Sequence[str] = (),
    smarthost: str | None = None,
) -> str:
    """Start Alertmanager with the stack's config, notifying the webhook receiver
    (``kubepulse.lab.receiver.WebhookReceiver``) at ``receiver_url`` (webhooks to ``/webhook``,
    Slack to ``/slack``) within seconds rather than minutes; return its URL.
    ``repeat_interval`` replaces every route's (Watchdog's heartbeat included), for tests that
    watch notifications repeat. ``name`` and ``cluster_args`` are ``start_alertmanager``'s.
    Mail goes to the relay at ``smarthost`` (a loopback ``host:port``, without TLS); by default
    to a loopback port nothing listens on, so it fails locally and never leaves the machine."""
    smarthost = smarthost or f"{LOOPBACK}:{free_port()}"
    require_loopback(f"smtp://{smarthost}")
    config = render_alertmanager_config(
        smarthost=smarthost,
        smtp_require_tls=False,
        webhook_url=f"{receiver_url}/webhook",
        slack_api_url=f"{receiver_url}/slack",
        templates_dir=deploy_dir() / "alertmanager" / "templates",
        group_wait="1s",
        group_interval="2s",
        repeat_interval=repeat_interval,
    )
    return start_alertmanager(
        group, workdir, config, port=port, name=name, cluster_args=cluster_args
    )


def start_stack_prometheus(
    group: ProcessGroup,
    workdir: Path,
    *,
    port: int,
    targets: Mapping[str, str],
    alertmanager_url: str,
    cluster: str,
    kubeconfig: Path | None,
    sd_namespaces: Sequence[str],
    interval: str,
    for_overrides: Mapping[str, str],
) -> str:
    """Start Prometheus on ``port`` with the stack's rules and config as the local overlay;
    return its URL.

    It discovers ``sd_namespaces`` through ``kubeconfig``'s API server and scrapes ``targets``
    (job -> loopback ``host:port``, its own job included), scraping and evaluating every
    ``interval``; ``for_overrides`` shortens alerts' ``for:``. Alerts go to ``alertmanager_url``.
    """
    rules = render_rule_files(workdir / "rules", for_overrides=for_overrides)
    config = render_prometheus_config(
        cluster=cluster,
        scrape_interval=interval,
        evaluation_interval=interval,
        kubeconfig=kubeconfig,
        sd_namespaces=sd_namespaces,
        alertmanagers=[urllib.parse.urlsplit(alertmanager_url).netloc],
        rule_files=rules,
        targets=targets,
    )
    return start_prometheus(group, workdir, config, port=port)


def api_get(base_url: str, path: str, params: Mapping[str, str] | None = None) -> Any:
    """GET ``base_url + path`` (loopback only) and return the JSON ``data`` of a Prometheus-style
    API answer, through the one API client (``kubepulse.render.prometheus``).

    Raises ``RuntimeError`` with the server's error text if the answer is not ``success``.
    """
    from kubepulse.render.prometheus import Prometheus

    return Prometheus(require_loopback(base_url), timeout=10).get(path, params or {})


def post_alerts(alertmanager_url: str, alerts: Sequence[Mapping[str, Any]]) -> None:
    """POST ``alerts`` to Alertmanager's ``/api/v2/alerts``, as Prometheus sends them."""
    request = urllib.request.Request(
        require_loopback(alertmanager_url) + "/api/v2/alerts",
        data=json.dumps(list(alerts)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        resp.read()


def alertmanager_alerts(alertmanager_url: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds (``GET /api/v2/alerts``), each with its ``status``."""
    with urllib.request.urlopen(
        require_loopback(alertmanager_url) + "/api/v2/alerts", timeout=5
    ) as resp:
        got: list[dict[str, Any]] = json.load(resp)
    return got


def query(base_url: str, expr: str) -> list[dict[str, Any]]:
    """Evaluate ``expr`` now; return the result as a list of ``{metric, value}`` samples.

    A scalar or string result is returned as one sample without labels.
    """
    data = api_get(base_url, "/api/v1/query", {"query": expr})
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    result: list[dict[str, Any]] = data["result"]
    return result


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    interval: float = 0.5,
    what: str = "condition",
    retry: tuple[type[Exception], ...] = (),
) -> Any:
    """Call ``check`` until it returns something truthy; return that. An exception of a
    ``retry`` type counts as not yet, and is raised again if it was the last answer at the
    timeout; otherwise the timeout is a ``TimeoutError`` naming ``what`` and the last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except retry as exc:
            if time.monotonic() > deadline:
                raise
            last = exc
        else:
            if last:
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not met after {timeout} s (last: {last!r})")
        time.sleep(interval)


# Stand-ins for what the Helm chart deploys: (component, labels' name, {port name: port}).
# The ports are never contacted (kwok pod IPs are fake); the names are what discovery matches.
STAND_INS: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("cluster-exporter", "cluster-exporter", {"metrics": 8080, "telemetry": 8081}),
    ("system-exporter", "system-exporter", {"metrics": 9999}),
    ("node-exporter", "node-exporter", {"metrics": 9100}),
    ("pushgateway", "pushgateway", {"metrics": 9091}),
    ("alertmanager", "alertmanager", {"web": 9093}),
)


def stand_in_manifests(namespace: str) -> list[dict[str, Any]]:
    """Deployments and Services labelled as the Helm chart labels kubepulse's components.

    Applied to a kwok cluster, they give Prometheus's Kubernetes discovery the same endpoints
    it finds in a real install (fake pod IPs), which the local overlay rewrites to the loopback
    processes standing in for them.
    """
    manifests: list[dict[str, Any]] = []
    for component, name, ports in STAND_INS:
        labels = {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/part-of": "kubepulse",
            "app.kubernetes.io/component": component,
        }
        container = {
            "name": name,
            "image": f"kubepulse/{name}:stand-in",
            "ports": [{"name": n, "containerPort": p} for n, p in ports.items()],
            "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
        }
        manifests.append(deployment(name, namespace, [container], selector=labels, labelled=True))
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {
                    "selector": labels,
                    "ports": [{"name": n, "port": p, "targetPort": n} for n, p in ports.items()],
                },
            }
        )
    return manifests
