"""Run blackbox_exporter (the release the chart deploys) on loopback with the stack's modules.

``start_blackbox_exporter`` is what the stack tests and the demo probe through: the modules are
``deploy/blackbox/blackbox.yml`` unchanged, and the Prometheus local overlay rewrites every probe
target's host to 127.0.0.1 (``kubepulse.stack.prometheus``), so nothing but loopback is probed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.releases import binary
from kubepulse.stack import blackbox_config_path

__all__ = ["probed_service", "start_blackbox_exporter"]


def start_blackbox_exporter(
    group: ProcessGroup, *, port: int | None = None, config: Path | None = None
) -> str:
    """Start blackbox_exporter on 127.0.0.1 with ``config`` (default the stack's modules);
    return its URL once ``/-/healthy`` answers."""
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        str(binary("blackbox_exporter")),
        f"--config.file={config or blackbox_config_path()}",
        f"--web.listen-address={LOOPBACK}:{port}",
    ]
    group.start("blackbox_exporter", argv, ready_url=f"{url}/-/healthy", timeout=60)
    return url


def probed_service(namespace: str, name: str, port: int, **annotations: str) -> dict[str, Any]:
    """A Service without pods that opts in to probing (``prometheus.io/probe``, plus the other
    probe ``annotations`` given). Locally its port is the loopback port to probe: the overlay
    probes ``127.0.0.1:port`` in place of ``name.namespace.svc:port``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"prometheus.io/probe": "true", **annotations},
        },
        "spec": {"ports": [{"name": "web", "port": port, "targetPort": port}]},
    }
