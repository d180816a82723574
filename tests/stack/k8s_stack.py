"""The Kubernetes stack the dashboard tests run: a kwok cluster's workloads scraped by Prometheus.

``k8s_stack`` starts, in a caller's ``ProcessGroup`` and all on loopback, what the Kubernetes
dashboards need from one cluster: node_exporter, the kubepulse cluster exporter, Alertmanager
(notifying a webhook receiver), and Prometheus (one, or one per replica) scraping them, the
cluster's kubelet and cAdvisor endpoints (kwok's Metric resources) and its API server (over TLS as
the cluster's admin). It then runs the workloads below in a fresh namespace, so every view has
something to show: a throttled, talkative Deployment under an HPA at its maximum, a
StatefulSet, a pod on a bound claim, a Job and a CronJob, and the stand-ins the other jobs
discover. ``tests/stack/test_dashboards_e2e.py`` runs it once; the Thanos test runs it for two
clusters of two replicas each.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kubepulse.lab.cluster import Cluster
from kubepulse.lab.manifests import cpu_hpa, deployment
from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.releases import binary
from kubepulse.lab.servers import (
    query,
    stand_in_manifests,
    start_cluster_exporter,
    start_prometheus,
    start_stack_alertmanager,
    wait_until,
)
from kubepulse.stack.dashboards import panel_queries, substitute, variable_queries
from kubepulse.stack.prometheus import render_prometheus_config, replica_config

CPU_PER_WEB_CONTAINER = 0.2  # the web pods' kwok.x-k8s.io/usage-cpu


@dataclass(frozen=True)
class K8sStack:
    """One cluster's running stack: its Prometheus URL and data dir per replica."""

    cluster: Cluster
    label: str  # the ``cluster`` external label
    namespace: str
    work: Path
    prometheus: dict[str, str]  # replica -> URL ("" for a single Prometheus)
    data_dirs: dict[str, Path]

    @property
    def url(self) -> str:
        """The first (or only) Prometheus."""
        return next(iter(self.prometheus.values()))


def _deployment(name: str, namespace: str, annotations: dict[str, str], **spec: Any) -> Any:
    container = {
        "name": name,
        "image": f"kubepulse/{name}:stand-in",
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "250m", "memory": "128Mi"},
        },
    }
    return deployment(
        name, namespace, [container], selector={"app": name}, annotations=annotations, **spec
    )


def workloads(namespace: str) -> list[dict[str, Any]]:
    """What the views show: a throttled, talkative Deployment under an HPA at its maximum, a
    StatefulSet, a pod on a claim, a Job and a CronJob."""
    busy = {
        "kwok.x-k8s.io/usage-cpu": f"{int(CPU_PER_WEB_CONTAINER * 1000)}m",
        "kwok.x-k8s.io/usage-memory": "96Mi",
        "kubepulse.dev/cpu-throttled-ratio": "0.3",
        "kubepulse.dev/network-receive": "20Ki",
        "kubepulse.dev/network-transmit": "8Ki",
    }
    claim = "data"
    job_pod = {
        "metadata": {"annotations": {"kwok.x-k8s.io/usage-cpu": "50m"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "run", "image": "kubepulse/batch:stand-in"}],
        },
    }
    return [
        _deployment("web", namespace, busy, replicas=2),
        _deployment("cache", namespace, busy, kind="StatefulSet", serviceName="cache"),
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            # Nothing mounts it: kwok's pods have no filesystem.
            "metadata": {"name": f"{namespace}-data"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "hostPath": {"path": f"/nonexistent/{namespace}"},
                "claimRef": {"namespace": namespace, "name": claim},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        _deployment(
            "db",
            namespace,
            {**busy, "kubepulse.dev/volume-claim": claim, "kubepulse.dev/volume-used": "700Mi"},
            pod_spec={"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]},
        ),
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "report", "namespace": namespace},
            "spec": {"template": job_pod},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": namespace},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": job_pod}}},
        },
        cpu_hpa(namespace, "web", min_replicas=2, max_replicas=2, utilization=80),
    ]


Query = tuple[str, str, str]  # dashboard, panel title or "$variable", expression


def panel_queries_of(boards: Mapping[str, Any]) -> set[Query]:
    """Every panel query of ``boards`` (name -> dashboard), its variables substituted."""
    return {
        (name, title, substitute(expr))
        for name, board in boards.items()
        for title, expr in panel_queries(board)
    }


def variable_queries_of(boards: Mapping[str, Any]) -> set[Query]:
    """Every template variable's selector in ``boards``, its variables substituted."""
    return {
        (name, f"${var}", substitute(selector))
        for name, board in boards.items()
        for var, selector in variable_queries(board)
    }


def assert_all_have_data(
    pending: set[Query], has_data: Callable[[str], object], *, timeout: float, interval: float
) -> None:
    """Ask ``has_data`` about every expression still without data, every ``interval`` seconds,
    until none is left; fail after ``timeout`` seconds naming those that are."""
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {(n, t, e) for n, t, e in pending if not has_data(e)}
        if pending:
            time.sleep(interval)
    assert not pending, "panels with no data:\n" + "\n".join(
        f"{n} / {t}: {e}" for n, t, e in sorted(pending)
    )


def always_firing_rules(path: Path, namespace: str) -> Path:
    """One alert that fires at once, so Alertmanager has something to notify about."""
    rule = {
        "alert": "DashboardDataProbe",
        "expr": "vector(1)",
        "labels": {"severity": "warning", "namespace": namespace},
        "annotations": {"summary": "Fires so the Alertmanager views have notifications."},
    }
    path.write_text(yaml.safe_dump({"groups": [{"name": "probe", "rules": [rule]}]}))
    return path


def overlay_config(
    cluster: Cluster,
    targets: dict[str, str],
    namespace: str,
    rules: Path,
    alertmanager: str,
    *,
    label: str = "e2e",
    interval: str = "1s",
) -> str:
    """The local overlay discovering ``namespace``'s stand-ins, with the API server scraped
    over TLS as the cluster's admin (the one loopback target that speaks TLS); ``label`` is the
    ``cluster`` external label, ``interval`` the scrape and evaluation interval."""
    text = render_prometheus_config(
        cluster=label,
        scrape_interval=interval,
        evaluation_interval=interval,
        targets=targets,
        kubeconfig=cluster.kubeconfig,
        sd_namespaces=[namespace],
        alertmanagers=[alertmanager],
        rule_files=[rules],
    )
    config = yaml.safe_load(text)
    user = yaml.safe_load(cluster.kubeconfig.read_text())
    ca = user["clusters"][0]["cluster"]["certificate-authority"]
    creds = user["users"][0]["user"]
    for job in config["scrape_configs"]:
        if job["job_name"] == "kubernetes-apiservers":
            job["scheme"] = "https"
            job["tls_config"] = {
                "ca_file": ca,
                "cert_file": creds["client-certificate"],
                "key_file": creds["client-key"],
            }
            for rule in job["relabel_configs"]:
                if rule.get("target_label") == "__scheme__":
                    rule["replacement"] = "https"
    return yaml.safe_dump(config, sort_keys=False)


@contextmanager
def k8s_stack(
    group: ProcessGroup,
    cluster: Cluster,
    work: Path,
    receiver_url: str,
    *,
    label: str = "e2e",
    replicas: Sequence[str] = ("",),
    prometheus_args: Sequence[str] = (),
    interval: str = "1s",
) -> Iterator[K8sStack]:
    """Run the module docstring's stack for ``cluster`` in ``group``, its files under ``work``;
    yield it once every workload has rolled out; delete its namespace and volume afterwards.

    ``label`` is the ``cluster`` external label and names the processes (several clusters can
    share ``group``). ``replicas``: one Prometheus per name, each with external label
    ``replica`` (``kubepulse.stack.prometheus.replica_config``); the default ``("",)`` is one
    plain Prometheus. ``prometheus_args`` are added to each Prometheus's flags; ``interval`` is
    their scrape and evaluation interval.
    """
    namespace = f"dash-{label}-{os.getpid()}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        ne = free_port()
        group.start(
            f"node-exporter-{label}",
            [str(binary("node_exporter")), f"--web.listen-address={LOOPBACK}:{ne}"],
            ready_url=f"http://{LOOPBACK}:{ne}/metrics",
        )
        ce, _ = start_cluster_exporter(group, cluster.kubeconfig, name=f"cluster-exporter-{label}")
        am_url = start_stack_alertmanager(
            group, work / f"alertmanager-{label}", receiver_url, name=f"alertmanager-{label}"
        )
        kubelet = f"{LOOPBACK}:{cluster.kubelet_port}"
        rules = always_firing_rules(work / f"probe-{label}.yml", namespace)
        urls: dict[str, str] = {}
        data_dirs: dict[str, Path] = {}
        for replica in replicas:
            port = free_port()
            targets = {
                "prometheus": f"{LOOPBACK}:{port}",
                "kubernetes-apiservers": urlsplit(cluster.server).netloc,
                "kubernetes-nodes": kubelet,
                "kubernetes-cadvisor": kubelet,
                "node-exporter": f"{LOOPBACK}:{ne}",
                "kube-state-metrics": f"{LOOPBACK}:{ce}",
                "alertmanager": urlsplit(am_url).netloc,
            }
            config = overlay_config(
                cluster,
                targets,
                namespace,
                rules,
                urlsplit(am_url).netloc,
                label=label,
                interval=interval,
            )
            name = f"prometheus-{label}" + (f"-{replica}" if replica else "")
            if replica:
                config = replica_config(config, replica)
            home = work / name
            urls[replica] = start_prometheus(
                group, home, config, port=port, extra_args=prometheus_args, name=name
            )
            data_dirs[replica] = home / "data"
        # Pods start only once every kubelet is scraped, so their starts show as increases of
        # the pod start histograms rather than as where the counters began.
        started = 'count(kubelet_started_containers_total{job="kubernetes-nodes"})'
        nodes = str(len(cluster.kubectl("get", "nodes", "-o", "name").split()))

        def kubelets_scraped(url: str) -> bool:
            return [s["value"][1] for s in query(url, started)] == [nodes]

        for url in urls.values():
            wait_until(
                functools.partial(kubelets_scraped, url),
                timeout=60,
                what=f"{started} == {nodes} at {url}",
            )
        manifests = [*stand_in_manifests(namespace), *workloads(namespace)]
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
        for workload in ("deploy/web", "deploy/db", "statefulset/cache"):
            cluster.kubectl("-n", namespace, "rollout", "status", workload, "--timeout=90s")
        yield K8sStack(cluster, label, namespace, work, urls, data_dirs)
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        cluster.kubectl("delete", "pv", f"{namespace}-data", "--wait=false", "--ignore-not-found")
