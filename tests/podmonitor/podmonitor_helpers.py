"""Helpers for the pod monitor tests: workloads on the test cluster, and where the monitor's
metrics outputs are read back.

(A uniquely named module, not conftest: test directories share one ``conftest`` module name.)
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.lab.releases import binary
from kubepulse.podmonitor._kube import KubeApi
from kubepulse.podmonitor.tracker import is_ready

TOLERATION = "[{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]"


def deployment(
    name: str,
    ns: str,
    replicas: int = 1,
    ready_after: str | None = None,
    never_ready: bool = False,
    kind: str = "Deployment",
) -> str:
    labels = f"{{app: {name}" + (', kubepulse.dev/never-ready: "true"' if never_ready else "") + "}"
    annotations = f'{{kubepulse.dev/ready-after: "{ready_after}"}}' if ready_after else "{}"
    extra = f"\n  serviceName: {name}" if kind == "StatefulSet" else ""
    return f"""apiVersion: apps/v1
kind: {kind}
metadata: {{name: {name}, namespace: {ns}}}
spec:{extra}
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {labels}, annotations: {annotations}}}
    spec:
      tolerations: {TOLERATION}
      containers: [{{name: app, image: app}}]
"""


def bare_pod(
    name: str,
    ns: str,
    app: str | None = None,
    ready_after: str | None = None,
    never_ready: bool = False,
) -> str:
    """A pod without a controller, labelled ``app: <app or name>``."""
    labels = f"{{app: {app or name}" + (
        ', kubepulse.dev/never-ready: "true"' if never_ready else ""
    )
    annotations = f'{{kubepulse.dev/ready-after: "{ready_after}"}}' if ready_after else "{}"
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}, annotations: {annotations}}}
spec:
  tolerations: {TOLERATION}
  containers: [{{name: app, image: app}}]
"""


def apply(cluster: Any, tmp_path: Path, *docs: str) -> None:
    path = tmp_path / f"manifest-{time.monotonic_ns()}.yaml"
    path.write_text("---\n".join(docs))
    cluster.kubectl("apply", "-f", str(path))


def wait_pods(api: KubeApi, ns: str, label: str, count: int, ready: bool = True) -> list[str]:
    """Names of the ``count`` pods once they exist (and are Ready, if ``ready``)."""
    deadline = time.monotonic() + 30
    while True:
        pods, _ = api.list_pods(ns, label)
        live = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
        if len(live) == count and (not ready or all(is_ready(p) for p in live)):
            return sorted(p["metadata"]["name"] for p in live)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ns}: pods {label} not {'Ready' if ready else 'there'}")
        time.sleep(0.2)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample at ``url`` as (name, sorted label pairs) -> value."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def start_node_exporter(group: ProcessGroup, textdir: Path) -> str:
    """A node_exporter whose only collector reads the textfiles in ``textdir``; its metrics URL."""
    address = f"127.0.0.1:{free_port()}"
    group.start(
        "node_exporter",
        [
            str(binary("node_exporter")),
            f"--web.listen-address={address}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textdir}",
        ],
        ready_url=f"http://{address}/metrics",
    )
    return f"http://{address}/metrics"


def start_pushgateway(group: ProcessGroup) -> str:
    """A Pushgateway; its base URL."""
    address = f"127.0.0.1:{free_port()}"
    group.start(
        "pushgateway",
        ["prometheus-pushgateway", f"--web.listen-address={address}"],
        ready_url=f"http://{address}/-/ready",
    )
    return f"http://{address}"
