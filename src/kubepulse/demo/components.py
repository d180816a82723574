"""The demo's servers as a table: name, command line, readiness URL and the scrape jobs each feeds.

``EXPORTERS`` lists what the demo starts before Prometheus, in order; each ``Spec`` builds its
command line from the ports it was given and the run's ``Context``. Everything listens on
127.0.0.1. Alertmanager, Prometheus, Grafana, the textfile exporter and the pod monitor are
started by the scenario itself (``kubepulse.demo.run``): their set-up depends on what ran before.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kubepulse.lab.processes import LOOPBACK
from kubepulse.lab.releases import binary as release_binary
from kubepulse.lab.servers import cluster_exporter_argv

__all__ = [
    "EXPORTERS",
    "Component",
    "Context",
    "DemoError",
    "Spec",
    "console_script",
    "examples_dir",
]


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


@dataclass
class Component:
    """One part of the stack: where it listens, and whether it is real or not available."""

    name: str
    url: str | None = None
    status: str = "running"
    detail: str = ""
    pid: int | None = None


@dataclass(frozen=True)
class Context:
    """What command lines need from the run: the cluster's kubeconfig and the output dirs."""

    kubeconfig: Path
    textfile_dir: Path
    multiproc_dir: Path


Ports = list[int]


@dataclass(frozen=True)
class Spec:
    """How to start one server: ``argv`` and ``env`` from the run's context and its ports (as
    many as ``ports``), ``jobs`` (Prometheus job name -> index of the port it scrapes), the path
    the summary links on the first port and the readiness path, on port ``ready_port``."""

    name: str
    argv: Callable[[Context, Ports], list[str]]
    jobs: Mapping[str, int]
    url_path: str = "/metrics"
    ready_path: str = "/metrics"
    ready_port: int = 0
    ports: int = 1
    env: Callable[[Context, Ports], dict[str, str]] = field(default=lambda ctx, ports: {})
    cwd: Callable[[], str] | None = None
    timeout: float = 30.0

    def url(self, ports: Ports) -> str:
        """The URL the summary links."""
        return _http(ports[0], self.url_path)

    def ready(self, ports: Ports) -> str:
        """The URL that answers once the server is ready."""
        return _http(ports[self.ready_port], self.ready_path)


def console_script(name: str) -> str:
    """A console script installed next to this interpreter (the venv's), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def examples_dir() -> Path:
    """The repository's ``examples/`` (the example app the demo runs under gunicorn)."""
    from kubepulse.stack import deploy_dir

    path = deploy_dir().parent / "examples"
    if not (path / "flask_app.py").is_file():
        raise DemoError(f"{path}: no flask_app.py (the demo's example app)")
    return path


def _http(port: int, path: str = "") -> str:
    return f"http://{LOOPBACK}:{port}{path}"


def _cluster_exporter(ctx: Context, ports: Ports) -> list[str]:
    port, telemetry = ports
    # The workloads' team label: kube_pod_labels and usage by label.
    team = ("--metric-labels-allowlist", "pods=[team]", "--usage-labels", "team")
    return cluster_exporter_argv(
        ctx.kubeconfig, port, telemetry, team, command=[console_script("kubepulse")]
    )


EXPORTERS: tuple[Spec, ...] = (
    Spec(
        "cluster-exporter",
        _cluster_exporter,
        jobs={"kube-state-metrics": 0, "kube-state-metrics-telemetry": 1},
        ready_path="/readyz",
        ready_port=1,
        ports=2,
        timeout=60,
    ),
    Spec(
        "system-exporter",
        lambda ctx, ports: [
            *(console_script("kubepulse"), "exporter", "system"),
            *("--web.listen-address", f"{LOOPBACK}:{ports[0]}"),
        ],
        jobs={"kubepulse-system-exporter": 0},
    ),
    Spec(
        "web-app",
        lambda ctx, ports: [
            *(console_script("gunicorn"), "-c", str(examples_dir() / "gunicorn.conf.py")),
            *("--pythonpath", str(examples_dir()), "flask_app:app"),
        ],
        jobs={"kubernetes-pods": 0},
        url_path="/",
        env=lambda ctx, ports: {
            "GUNICORN_BIND": f"{LOOPBACK}:{ports[0]}",
            "GUNICORN_WORKERS": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(ctx.multiproc_dir),
            "HELLO_MAX_LATENCY_SECONDS": "0.3",
        },
        cwd=lambda: str(examples_dir()),
    ),
    Spec(
        "node-exporter",
        lambda ctx, ports: [
            str(release_binary("node_exporter")),
            f"--web.listen-address={LOOPBACK}:{ports[0]}",
            f"--collector.textfile.directory={ctx.textfile_dir}",
        ],
        jobs={"node-exporter": 0},
    ),
    Spec(
        "pushgateway",
        lambda ctx, ports: [
            "prometheus-pushgateway",
            f"--web.listen-address={LOOPBACK}:{ports[0]}",
        ],
        jobs={"pushgateway": 0},
        url_path="",
        ready_path="/-/ready",
    ),
)
