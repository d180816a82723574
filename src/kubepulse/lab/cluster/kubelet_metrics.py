"""kwok Metric resources: every test node serves kubelet and cAdvisor endpoints, computed with CEL.

A real kubelet serves ``/metrics`` (its own families) and ``/metrics/cadvisor`` (per-container
usage). kwok has no kubelet, but its ``Metric`` resource (``kwok.x-k8s.io/v1alpha1``) serves
Prometheus text on a path with a ``{nodeName}`` part, each series computed by a CEL expression
over the node, its pods and their containers. The test cluster's kwok controller serves, for
every node, on the node's kubelet port (``Cluster.kubelet_port``, at the node's 127.0.0.1):

- ``KUBELET_PATH`` (``/metrics/nodes/NODE/metrics``): ``kubelet_node_name``,
  ``kubelet_running_pods`` and ``kubelet_running_containers`` (one series per pod, see below),
  ``kubelet_started_containers_total``, ``kubelet_pod_start_duration_seconds`` and
  ``kubelet_pod_start_sli_duration_seconds``,
  ``kubelet_pleg_relist_duration_seconds``, ``kubelet_pleg_relist_interval_seconds``,
  ``kubelet_runtime_operations_total`` / ``_errors_total`` (by ``operation_type``),
  ``kubelet_runtime_operations_duration_seconds``,
  ``kubelet_pod_worker_duration_seconds``, ``kubelet_volume_stats_*`` (pods naming a claim,
  below), client and server certificate TTL and renewal errors, ``kubelet_node_config_error``,
  ``process_*``, ``go_goroutines``;
- ``CADVISOR_PATH`` (``/metrics/nodes/NODE/metrics/cadvisor``): per container
  ``container_cpu_usage_seconds_total``, ``container_memory_working_set_bytes`` / ``_rss`` /
  ``_cache`` / ``_usage_bytes``, ``container_cpu_cfs_periods_total`` /
  ``_throttled_periods_total``, ``container_fs_usage_bytes`` / ``_reads_bytes_total`` /
  ``_writes_bytes_total``; per pod (``interface="eth0"``, no ``container``, as cAdvisor reports a
  pod's network) ``container_network_{receive,transmit}_{bytes,packets,packets_dropped}_total``.

What the numbers are, per pod (annotations set in the pod template, read at every scrape):

- CPU and memory: ``kwok.x-k8s.io/usage-cpu`` and ``kwok.x-k8s.io/usage-memory`` (quantities per
  container, default 1m and 1Mi), the annotations kwok's metrics-server support reads, so the
  metrics API and cAdvisor agree; a pod that is not Running (a finished Job's) uses nothing, so
  its counters stop where it finished (kwok keeps serving a finished pod's series; a kubelet
  drops them);
- network: ``kubepulse.dev/network-receive`` and ``kubepulse.dev/network-transmit`` in bytes per
  second (default 1Ki and 512), packets at 1 KiB each, nothing dropped;
- throttling: ``kubepulse.dev/cpu-throttled-ratio`` of CFS periods throttled (default 0), ten
  100 ms periods a second since the pod was created;
- volumes: a pod annotated ``kubepulse.dev/volume-claim: NAME`` reports claim NAME with
  ``kubepulse.dev/volume-capacity`` and ``kubepulse.dev/volume-used`` (default 1Gi and 100Mi;
  kwok's CEL cannot walk a pod's volume list, so the claim is named in an annotation);
- kubelet: each node's started containers counted by kwok, each observed once in the 1 s bucket
  of ``kubelet_pod_start_duration_seconds`` (the 0.5 s bucket of the SLI one); one PLEG relist
  a second, all within 10 ms.

Two shapes differ from a kubelet's, because a node-level CEL expression cannot count pods:
``kubelet_running_pods`` and ``kubelet_running_containers`` are one series per running pod
(labels ``namespace`` and ``pod`` added) with the pod's count as value, so ``sum`` by node gives the
kubelet's number; and ``kubelet_volume_stats_*`` come from pods, so two pods sharing a claim give
it twice (``max by (namespace, persistentvolumeclaim)`` reads it once, as for a real kubelet
mounting a claim on two nodes).

kwok v0.8.0 counts a node's started containers (``StartedContainersTotal``, behind
``kubelet_started_containers_total`` and both pod-start histograms) only for pods it sees added
with the node already set, and starts the count afresh whenever it sees the Node change (its node
controller stores a new record on every add, update or re-list of the Node): the count is the
containers started since the node's last change (a heartbeat every 10 min), and may drop to 0,
which ``rate()`` reads as a counter reset.

kwok v0.8.0 leaves the families computed from usage (CPU, memory, network) out of a node's very
first answer; every later one has them. It keeps one registry per node for all of that node's
paths: two scrapes of one node's two paths at the same instant can each see the other's families
and miss their own. Scrape jobs keep only their own families (``deploy/prometheus/prometheus.yml``
does), so such a scrape loses a sample, never mixes.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = [
    "CADVISOR_PATH",
    "KUBELET_PATH",
    "RESOURCE_USAGE",
    "kubelet_metrics_yaml",
]

KUBELET_PATH = "/metrics/nodes/{nodeName}/metrics"
CADVISOR_PATH = "/metrics/nodes/{nodeName}/metrics/cadvisor"

_CONTAINER = [
    ("container", "container.name"),
    ("image", "container.image"),
    ("namespace", "pod.metadata.namespace"),
    ("pod", "pod.metadata.name"),
]
_POD = [("namespace", "pod.metadata.namespace"), ("pod", "pod.metadata.name")]
_POD_NET = [*_POD, ("interface", '"eth0"')]
_NODE = [("node", "node.metadata.name")]


def _annotation(name: str, default: str) -> str:
    """CEL: the pod annotation ``name`` as a quantity, else ``default``."""
    return (
        f'Quantity("{name}" in pod.metadata.annotations'
        f' ? pod.metadata.annotations["{name}"] : "{default}")'
    )


def _metric(
    name: str,
    kind: str,
    dimension: str,
    value: str = "",
    labels: list[tuple[str, str]] | None = None,
    buckets: list[tuple[float, str]] | None = None,
    help: str = "",
) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "dimension": dimension,
        "help": help or name.replace("_", " "),
    }
    if labels:
        metric["labels"] = [{"name": n, "value": v} for n, v in labels]
    if buckets is not None:
        metric["buckets"] = [{"le": le, "value": v} for le, v in buckets]
    else:
        metric["value"] = value
    return metric


# kwok v0.8.0 counts the +Inf bucket only from observations stored above the last bound: a hidden,
# empty bucket there makes +Inf the total, as Prometheus expects.
_BEYOND = 1e9


def _histogram(
    name: str, dimension: str, bounds: list[float], counts: dict[float, str], **kw: Any
) -> dict[str, Any]:
    """A histogram with ``bounds``; ``counts`` maps a bound to the CEL count of observations in
    that bucket alone (kwok accumulates them), every other bucket holds none. No labels: kwok
    v0.8.0 writes a histogram without its labels, so two of one name would collide."""
    buckets = [(b, counts.get(b, "0")) for b in bounds]
    metric = _metric(name, "histogram", dimension, buckets=[*buckets, (_BEYOND, "0")], **kw)
    metric["buckets"][-1]["hidden"] = True
    return metric


_LATENCY_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
_POD_START_BOUNDS = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0]
_SINCE_NODE = "node.SinceSecond()"
_RUNNING = 'pod.status.phase == "Running"'
_CLAIM = '"kubepulse.dev/volume-claim" in pod.metadata.annotations'
_PVC_NAME = f'{_CLAIM} ? pod.metadata.annotations["kubepulse.dev/volume-claim"] : ""'
_VOLUME_LABELS = [("namespace", "pod.metadata.namespace"), ("persistentvolumeclaim", _PVC_NAME)]
_CAPACITY = _annotation("kubepulse.dev/volume-capacity", "1Gi")
_USED = _annotation("kubepulse.dev/volume-used", "100Mi")


def _volume(name: str, value: str) -> dict[str, Any]:
    # Pods without a claim give 0 under an empty claim label; scrape jobs drop those.
    return _metric(name, "gauge", "pod", f'{_CLAIM} ? {value} : Quantity("0")', _VOLUME_LABELS)


def _runtime_ops(operation: str, per_second: str) -> list[dict[str, Any]]:
    op = [("operation_type", f'"{operation}"')]
    return [
        _metric(
            "kubelet_runtime_operations_total",
            "counter",
            "node",
            f"{_SINCE_NODE} * {per_second}",
            op,
        ),
        _metric("kubelet_runtime_operations_errors_total", "counter", "node", "0", op),
    ]


_KUBELET = [
    _metric("kubelet_node_name", "gauge", "node", "1", _NODE),
    _metric("kubelet_running_pods", "gauge", "pod", f"{_RUNNING} ? 1 : 0", _POD),
    _metric(
        "kubelet_running_containers",
        "gauge",
        "pod",
        f"{_RUNNING} ? size(pod.spec.containers) : 0",
        [*_POD, ("container_state", '"running"')],
    ),
    _metric(
        "kubelet_started_containers_total",
        "counter",
        "node",
        "StartedContainersTotal(node.metadata.name)",
    ),
    _histogram(
        "kubelet_pod_start_duration_seconds",
        "node",
        _POD_START_BOUNDS,
        {1.0: "StartedContainersTotal(node.metadata.name)"},
    ),
    _histogram(
        "kubelet_pod_start_sli_duration_seconds",
        "node",
        _POD_START_BOUNDS,
        {0.5: "StartedContainersTotal(node.metadata.name)"},
    ),
    _histogram(
        "kubelet_pleg_relist_duration_seconds",
        "node",
        _LATENCY_BOUNDS,
        {0.005: f"{_SINCE_NODE} * 0.9", 0.01: f"{_SINCE_NODE} * 0.1"},
    ),
    _histogram(
        "kubelet_pleg_relist_interval_seconds",
        "node",
        [0.5, 1.0, 1.5, 2.0, 5.0, 10.0],
        {1.5: _SINCE_NODE},
    ),
    _histogram(
        "kubelet_pod_worker_duration_seconds",
        "node",
        _LATENCY_BOUNDS,
        {0.01: "StartedContainersTotal(node.metadata.name) * 4"},
    ),
    _histogram(
        "kubelet_runtime_operations_duration_seconds",
        "node",
        _LATENCY_BOUNDS,
        {0.005: f"{_SINCE_NODE} * 3.0"},
    ),
    *_runtime_ops("container_status", "2.0"),
    *_runtime_ops("list_containers", "1.0"),
    _volume("kubelet_volume_stats_capacity_bytes", _CAPACITY),
    _volume("kubelet_volume_stats_used_bytes", _USED),
    _volume("kubelet_volume_stats_available_bytes", f"{_CAPACITY} - {_USED}"),
    _volume("kubelet_volume_stats_inodes", 'Quantity("65536")'),
    _volume("kubelet_volume_stats_inodes_used", 'Quantity("1024")'),
    _volume("kubelet_volume_stats_inodes_free", 'Quantity("64512")'),
    # A year-long client certificate issued when the node joined.
    _metric(
        "kubelet_certificate_manager_client_ttl_seconds",
        "gauge",
        "node",
        f"31536000.0 - {_SINCE_NODE}",
    ),
    _metric(
        "kubelet_certificate_manager_server_ttl_seconds",
        "gauge",
        "node",
        f"31536000.0 - {_SINCE_NODE}",
    ),
    _metric("kubelet_certificate_manager_client_expiration_renew_errors", "counter", "node", "0"),
    _metric("kubelet_server_expiration_renew_errors", "counter", "node", "0"),
    _metric("kubelet_node_config_error", "gauge", "node", "0"),
    _metric("process_resident_memory_bytes", "gauge", "node", 'Quantity("96Mi")'),
    _metric("process_cpu_seconds_total", "counter", "node", f"{_SINCE_NODE} * 0.02"),
    _metric("go_goroutines", "gauge", "node", "180"),
]

_CPU = 'pod.CumulativeUsage("cpu", container.name)'
_MEMORY = 'pod.Usage("memory", container.name)'
_PERIODS = "pod.SinceSecond() * 10.0"
_THROTTLED = _annotation("kubepulse.dev/cpu-throttled-ratio", "0")


def _network(direction: str) -> list[dict[str, Any]]:
    bytes_ = f'pod.CumulativeUsage("network-{direction}")'
    return [
        _metric(f"container_network_{direction}_bytes_total", "counter", "pod", bytes_, _POD_NET),
        _metric(
            f"container_network_{direction}_packets_total",
            "counter",
            "pod",
            f"{bytes_} / 1024.0",
            _POD_NET,
        ),
        _metric(
            f"container_network_{direction}_packets_dropped_total", "counter", "pod", "0", _POD_NET
        ),
    ]


_CADVISOR = [
    _metric("container_cpu_usage_seconds_total", "counter", "container", _CPU, _CONTAINER),
    _metric("container_memory_working_set_bytes", "gauge", "container", _MEMORY, _CONTAINER),
    _metric("container_memory_rss", "gauge", "container", f"{_MEMORY} * 0.8", _CONTAINER),
    _metric("container_memory_cache", "gauge", "container", f"{_MEMORY} * 0.2", _CONTAINER),
    _metric("container_memory_usage_bytes", "gauge", "container", f"{_MEMORY} * 1.2", _CONTAINER),
    _metric("container_cpu_cfs_periods_total", "counter", "container", _PERIODS, _CONTAINER),
    _metric(
        "container_cpu_cfs_throttled_periods_total",
        "counter",
        "container",
        f"{_THROTTLED} * ({_PERIODS})",
        _CONTAINER,
    ),
    _metric("container_fs_usage_bytes", "gauge", "container", 'Quantity("16Mi")', _CONTAINER),
    _metric(
        "container_fs_reads_bytes_total",
        "counter",
        "container",
        "pod.SinceSecond() * 4096.0",
        _CONTAINER,
    ),
    _metric(
        "container_fs_writes_bytes_total",
        "counter",
        "container",
        "pod.SinceSecond() * 8192.0",
        _CONTAINER,
    ),
    *_network("receive"),
    *_network("transmit"),
]


def _resource(name: str, path: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Metric",
        "metadata": {"name": name},
        "spec": {"path": path, "metrics": metrics},
    }


def _usage(annotation: str, default: str) -> dict[str, str]:
    # A pod that is not running (a finished Job's) uses nothing: its counters stop growing.
    return {"expression": f'{_RUNNING} ? {_annotation(annotation, default)} : Quantity("0")'}


RESOURCE_USAGE: dict[str, Any] = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1",
    "kind": "ClusterResourceUsage",
    "metadata": {"name": "kubepulse-usage"},
    "spec": {
        "usages": [
            {
                "usage": {
                    "cpu": _usage("kwok.x-k8s.io/usage-cpu", "1m"),
                    "memory": _usage("kwok.x-k8s.io/usage-memory", "1Mi"),
                    "network-receive": _usage("kubepulse.dev/network-receive", "1Ki"),
                    "network-transmit": _usage("kubepulse.dev/network-transmit", "512"),
                }
            }
        ]
    },
}
"""Per-container usage (CPU cores, memory bytes, network bytes per second) from annotations, while
the pod runs."""


def kubelet_metrics_yaml(*, resource_usage: bool = True) -> str:
    """The kubelet and cAdvisor Metric documents as multi-document YAML for the kwok controller's
    ``--config``, with ``RESOURCE_USAGE`` first unless ``resource_usage`` is false."""
    docs = [
        *([RESOURCE_USAGE] if resource_usage else []),
        _resource("kubelet", KUBELET_PATH, _KUBELET),
        _resource("cadvisor", CADVISOR_PATH, _CADVISOR),
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)
