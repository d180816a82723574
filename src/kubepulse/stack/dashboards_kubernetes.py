# PromQL reads best unbroken, so query lines may exceed the line length.
# ruff: noqa: E501
"""The Kubernetes views SREs expect: compute resources, storage, Jobs, HPAs, control plane, kubelet,
networking, the monitoring stack itself and the node USE method.

Every dashboard has a ``cluster`` variable (a single-cluster Prometheus has no ``cluster`` label,
and ``cluster=~".*"`` matches series without one, so "All" works there too), and the drill-downs
``namespace`` and a workload (Deployment, StatefulSet, DaemonSet or Job) or pod. Sources: the
cluster exporter (``job="kube-state-metrics"``), the kubelet and cAdvisor jobs
(``kubernetes-nodes``, ``kubernetes-cadvisor``), the API server job, node_exporter, Prometheus and
Alertmanager. A pod's workload is found from ``kube_pod_owner`` and, for Deployments, its
ReplicaSet's ``kube_replicaset_owner``, in the query itself, so no recording rule is needed.
"""

from __future__ import annotations

from typing import Any

from kubepulse.stack.dashboards import RATE, Q, _Board

__all__ = ["KUBERNETES_DASHBOARDS"]

CL = 'cluster=~"$cluster"'
NS = f'{CL}, namespace=~"$namespace"'
KSM = 'job="kube-state-metrics"'
CAD = 'job="kubernetes-cadvisor"'
KUBELET = 'job="kubernetes-nodes"'
APISERVER = 'job="kubernetes-apiservers"'
CONTAINERS = 'container!=""'
KINDS = "Deployment|StatefulSet|DaemonSet|Job"
# Workload names and kinds: Deployments from their ReplicaSets' owners, the rest from pods' owners.
_OWNERS = (
    f'{{__name__=~"kube_replicaset_owner|kube_pod_owner", {KSM}, {NS}, owner_kind=~"{KINDS}"}}'
)


def _relabel_owner(selector: str) -> str:
    return (
        f'label_replace(label_replace({selector}, "workload", "$1", "owner_name", "(.+)"),'
        ' "workload_type", "$1", "owner_kind", "(.+)")'
    )


def workload_pods(selected: bool = True) -> str:
    """PromQL: one series per pod of ``$namespace``, value 1, labelled with its workload and
    workload_type; if ``selected``, only pods of the ``$workload`` and ``$workload_type`` chosen."""
    ns = NS
    pick = 'owner_kind=~"$workload_type", owner_name=~"$workload"' if selected else 'owner_name!=""'
    direct = _relabel_owner(
        f'kube_pod_owner{{{KSM}, {ns}, owner_kind=~"StatefulSet|DaemonSet|Job", {pick}}}'
    )
    deployments = _relabel_owner(
        f'kube_replicaset_owner{{{KSM}, {ns}, owner_kind="Deployment", {pick}}}'
    )
    via_replicaset = (
        f'label_replace(kube_pod_owner{{{KSM}, {ns}, owner_kind="ReplicaSet"}}, "replicaset", "$1", "owner_name", "(.+)")'
        " * on (namespace, replicaset) group_left (workload, workload_type)"
        f" max by (namespace, replicaset, workload, workload_type) ({deployments})"
    )
    return f"max by (namespace, pod, workload, workload_type) ({direct} or {via_replicaset})"


def _by_workload(pod_expr: str, selected: bool = True) -> str:
    """``pod_expr`` (by namespace and pod) summed per workload."""
    return (
        f"sum by (workload, workload_type) ({pod_expr}"
        f" * on (namespace, pod) group_left (workload, workload_type) {workload_pods(selected)})"
    )


def _cpu(sel: str) -> str:
    return f"rate(container_cpu_usage_seconds_total{{{CAD}, {sel}, {CONTAINERS}}}[{RATE}])"


def _mem(sel: str) -> str:
    return f"container_memory_working_set_bytes{{{CAD}, {sel}, {CONTAINERS}}}"


def _throttled(by: str, sel: str) -> str:
    return (
        f"sum by ({by}) (rate(container_cpu_cfs_throttled_periods_total{{{CAD}, {sel}, {CONTAINERS}}}[{RATE}]))"
        f" / sum by ({by}) (rate(container_cpu_cfs_periods_total{{{CAD}, {sel}, {CONTAINERS}}}[{RATE}]))"
    )


def _resource(kind: str, resource: str, sel: str) -> str:
    return f'kube_pod_container_resource_{kind}{{{KSM}, {sel}, resource="{resource}"}}'


def _net(direction: str, what: str, sel: str) -> str:
    return f"rate(container_network_{direction}_{what}_total{{{CAD}, {sel}}}[{RATE}])"


def _quantile(q: float, metric: str, sel: str, by: str = "") -> str:
    by_le = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({by_le}) (rate({metric}_bucket{{{sel}}}[{RATE}])))"


def _board(uid: str, title: str, description: str) -> _Board:
    return _Board(f"kubepulse-{uid}", f"kubepulse / {title}", description).variable(
        "cluster", f"label_values(kube_node_info{{{KSM}}}, cluster)", "Cluster"
    )


def _namespaced(board: _Board) -> _Board:
    return board.variable(
        "namespace",
        f"label_values(kube_namespace_status_phase{{{KSM}, {CL}}}, namespace)",
        "Namespace",
    )


def compute_cluster() -> dict[str, Any]:
    alloc = f'sum(kube_node_status_allocatable{{{KSM}, {CL}, resource="{{r}}"}})'
    cpu_alloc, mem_alloc = alloc.replace("{r}", "cpu"), alloc.replace("{r}", "memory")
    return (
        _board(
            "compute-cluster",
            "Compute resources / Cluster",
            "CPU and memory used, requested and limited across the cluster, by namespace; CPU throttling.",
        )
        .row("Headroom")
        .stat("CPU utilisation", Q(f"sum({_cpu(CL)}) / {cpu_alloc}"), unit="percentunit")
        .stat(
            "CPU requests commitment",
            Q(f"sum({_resource('requests', 'cpu', CL)}) / {cpu_alloc}"),
            unit="percentunit",
        )
        .stat(
            "CPU limits commitment",
            Q(f"sum({_resource('limits', 'cpu', CL)}) / {cpu_alloc}"),
            unit="percentunit",
        )
        .stat("Memory utilisation", Q(f"sum({_mem(CL)}) / {mem_alloc}"), unit="percentunit")
        .stat(
            "Memory requests commitment",
            Q(f"sum({_resource('requests', 'memory', CL)}) / {mem_alloc}"),
            unit="percentunit",
        )
        .stat(
            "Memory limits commitment",
            Q(f"sum({_resource('limits', 'memory', CL)}) / {mem_alloc}"),
            unit="percentunit",
        )
        .row("CPU")
        .graph(
            "CPU usage by namespace",
            Q(f"sum by (namespace) ({_cpu(CL)})", "{{namespace}}"),
            unit="cores",
        )
        .graph(
            "CPU usage / requests by namespace",
            Q(
                f"sum by (namespace) ({_cpu(CL)}) / sum by (namespace) ({_resource('requests', 'cpu', CL)})",
                "{{namespace}}",
            ),
            unit="percentunit",
        )
        .graph(
            "CPU throttled periods by namespace",
            Q(_throttled("namespace", CL), "{{namespace}}"),
            unit="percentunit",
            desc="Share of CFS periods in which the namespace's containers hit their CPU limit.",
        )
        .row("Memory")
        .graph(
            "Memory working set by namespace",
            Q(f"sum by (namespace) ({_mem(CL)})", "{{namespace}}"),
            unit="bytes",
        )
        .graph(
            "Memory working set / requests by namespace",
            Q(
                f"sum by (namespace) ({_mem(CL)}) / sum by (namespace) ({_resource('requests', 'memory', CL)})",
                "{{namespace}}",
            ),
            unit="percentunit",
        )
        .build()
    )


def _usage_vs(
    board: _Board, title: str, usage: str, by: str, sel: str, resource: str, unit: str
) -> _Board:
    legend = "{{" + by + "}}"
    return board.graph(
        title,
        Q(f"sum by ({by}) ({usage})", f"{legend} usage"),
        Q(f"sum by ({by}) ({_resource('requests', resource, sel)})", f"{legend} requests"),
        Q(f"sum by ({by}) ({_resource('limits', resource, sel)})", f"{legend} limits"),
        unit=unit,
    )


def compute_namespace() -> dict[str, Any]:
    board = _namespaced(
        _board(
            "compute-namespace",
            "Compute resources / Namespace (pods)",
            "Per pod: CPU and memory used against requests and limits, CPU throttling.",
        )
    )
    board.row("Namespace")
    board.stat("CPU usage", Q(f"sum({_cpu(NS)})"), unit="cores")
    board.stat("CPU requests", Q(f"sum({_resource('requests', 'cpu', NS)})"), unit="cores")
    board.stat("Memory working set", Q(f"sum({_mem(NS)})"), unit="bytes")
    board.stat("Memory requests", Q(f"sum({_resource('requests', 'memory', NS)})"), unit="bytes")
    board.row("Pods")
    _usage_vs(board, "CPU by pod", _cpu(NS), "pod", NS, "cpu", "cores")
    _usage_vs(board, "Memory by pod", _mem(NS), "pod", NS, "memory", "bytes")
    board.graph(
        "CPU throttled periods by pod", Q(_throttled("pod", NS), "{{pod}}"), unit="percentunit"
    )
    board.graph(
        "CPU usage by workload",
        Q(
            _by_workload(f"sum by (namespace, pod) ({_cpu(NS)})", selected=False),
            "{{workload_type}} {{workload}}",
        ),
        unit="cores",
    )
    return board.build()


def compute_workload() -> dict[str, Any]:
    board = _namespaced(
        _board(
            "compute-workload",
            "Compute resources / Workload",
            "Per Deployment, StatefulSet, DaemonSet or Job: CPU, memory, throttling and network against requests and limits.",
        )
    )
    board.variable("workload_type", f"label_values({_OWNERS}, owner_kind)", "Type")
    board.variable("workload", f"label_values({_OWNERS}, owner_name)", "Workload")
    per_pod_requests = {
        r: f"sum by (namespace, pod) ({_resource('requests', r, NS)})" for r in ("cpu", "memory")
    }
    board.row("Usage against requests")
    board.graph(
        "CPU by workload",
        Q(_by_workload(f"sum by (namespace, pod) ({_cpu(NS)})"), "{{workload}} usage"),
        Q(_by_workload(per_pod_requests["cpu"]), "{{workload}} requests"),
        unit="cores",
    )
    board.graph(
        "Memory by workload",
        Q(_by_workload(f"sum by (namespace, pod) ({_mem(NS)})"), "{{workload}} working set"),
        Q(_by_workload(per_pod_requests["memory"]), "{{workload}} requests"),
        unit="bytes",
    )
    board.graph(
        "CPU throttled periods by workload",
        Q(
            _by_workload(
                f"sum by (namespace, pod) (rate(container_cpu_cfs_throttled_periods_total{{{CAD}, {NS}, {CONTAINERS}}}[{RATE}]))"
            )
            + " / "
            + _by_workload(
                f"sum by (namespace, pod) (rate(container_cpu_cfs_periods_total{{{CAD}, {NS}, {CONTAINERS}}}[{RATE}]))"
            ),
            "{{workload}}",
        ),
        unit="percentunit",
    )
    board.graph(
        "Network by workload",
        Q(
            _by_workload(f"sum by (namespace, pod) ({_net('receive', 'bytes', NS)})"),
            "{{workload}} receive",
        ),
        Q(
            _by_workload(f"sum by (namespace, pod) ({_net('transmit', 'bytes', NS)})"),
            "{{workload}} transmit",
        ),
        unit="Bps",
    )
    board.row("Pods")
    board.graph(
        "Pods by workload",
        Q(
            f"count by (workload, workload_type) ({workload_pods()})",
            "{{workload_type}} {{workload}}",
        ),
    )
    board.graph(
        "CPU by pod",
        Q(
            f"sum by (namespace, pod) ({_cpu(NS)}) * on (namespace, pod) group_left () {workload_pods()}",
            "{{namespace}}/{{pod}}",
        ),
        unit="cores",
    )
    return board.build()


def compute_pod() -> dict[str, Any]:
    board = _namespaced(
        _board(
            "compute-pod",
            "Compute resources / Pod",
            "One pod's containers: CPU and memory against requests and limits, throttling, network and disk.",
        )
    )
    board.variable("pod", f"label_values(kube_pod_info{{{KSM}, {NS}}}, pod)", "Pod")
    sel = f'{NS}, pod=~"$pod"'
    board.row("Containers")
    _usage_vs(board, "CPU by container", _cpu(sel), "container", sel, "cpu", "cores")
    _usage_vs(
        board, "Memory working set by container", _mem(sel), "container", sel, "memory", "bytes"
    )
    board.graph(
        "CPU throttled periods by container",
        Q(_throttled("container", sel), "{{container}}"),
        unit="percentunit",
    )
    board.graph(
        "Memory by kind",
        *(
            Q(f"sum(container_memory_{m}{{{CAD}, {sel}, {CONTAINERS}}})", m)
            for m in ("working_set_bytes", "rss", "cache")
        ),
        unit="bytes",
    )
    board.row("Network and disk")
    board.graph(
        "Network bytes",
        Q(f"sum({_net('receive', 'bytes', sel)})", "receive"),
        Q(f"sum({_net('transmit', 'bytes', sel)})", "transmit"),
        unit="Bps",
    )
    board.graph(
        "Network packets dropped",
        Q(f"sum({_net('receive', 'packets_dropped', sel)})", "receive"),
        Q(f"sum({_net('transmit', 'packets_dropped', sel)})", "transmit"),
        unit="pps",
    )
    board.graph(
        "Disk throughput by container",
        Q(
            f"sum by (container) (rate(container_fs_reads_bytes_total{{{CAD}, {sel}, {CONTAINERS}}}[{RATE}]))",
            "{{container}} read",
        ),
        Q(
            f"sum by (container) (rate(container_fs_writes_bytes_total{{{CAD}, {sel}, {CONTAINERS}}}[{RATE}]))",
            "{{container}} write",
        ),
        unit="Bps",
    )
    board.graph(
        "Container restarts",
        Q(
            f"sum by (container) (kube_pod_container_status_restarts_total{{{KSM}, {sel}}})",
            "{{container}}",
        ),
    )
    return board.build()


def persistent_volumes() -> dict[str, Any]:
    board = _namespaced(
        _board(
            "persistent-volumes",
            "Persistent volumes",
            "Claims' space and inodes as the kubelet measures them, claim and volume phases.",
        )
    )
    board.variable(
        "persistentvolumeclaim",
        f"label_values(kube_persistentvolumeclaim_info{{{KSM}, {NS}}}, persistentvolumeclaim)",
        "Claim",
    )
    sel = f'{KUBELET}, {NS}, persistentvolumeclaim=~"$persistentvolumeclaim"'
    by = "namespace, persistentvolumeclaim"
    board.row("Usage")
    board.stat("Claims", Q(f"count(kube_persistentvolumeclaim_info{{{KSM}, {NS}}})"))
    board.stat(
        "Claims not bound",
        Q(
            f'sum(kube_persistentvolumeclaim_status_phase{{{KSM}, {NS}, phase!="Bound"}}) or vector(0)'
        ),
    )
    board.stat(
        "Volumes failed or pending",
        Q(
            f'sum(kube_persistentvolume_status_phase{{{KSM}, {CL}, phase=~"Failed|Pending"}}) or vector(0)'
        ),
    )
    board.stat(
        "Fullest claim",
        Q(
            f"max(max by ({by}) (kubelet_volume_stats_used_bytes{{{sel}}}) / max by ({by}) (kubelet_volume_stats_capacity_bytes{{{sel}}}))"
        ),
        unit="percentunit",
    )
    board.graph(
        "Space used",
        Q(
            f"max by ({by}) (kubelet_volume_stats_used_bytes{{{sel}}}) / max by ({by}) (kubelet_volume_stats_capacity_bytes{{{sel}}})",
            "{{namespace}}/{{persistentvolumeclaim}}",
        ),
        unit="percentunit",
    )
    board.graph(
        "Space available",
        Q(
            f"max by ({by}) (kubelet_volume_stats_available_bytes{{{sel}}})",
            "{{namespace}}/{{persistentvolumeclaim}}",
        ),
        unit="bytes",
    )
    board.graph(
        "Inodes used",
        Q(
            f"max by ({by}) (kubelet_volume_stats_inodes_used{{{sel}}}) / max by ({by}) (kubelet_volume_stats_inodes{{{sel}}})",
            "{{namespace}}/{{persistentvolumeclaim}}",
        ),
        unit="percentunit",
    )
    board.graph(
        "Storage requested by claim",
        Q(
            f"sum by ({by}) (kube_persistentvolumeclaim_resource_requests_storage_bytes{{{KSM}, {NS}}})",
            "{{namespace}}/{{persistentvolumeclaim}}",
        ),
        unit="bytes",
    )
    board.row("Phases")
    board.graph(
        "Claims by phase",
        Q(f"sum by (phase) (kube_persistentvolumeclaim_status_phase{{{KSM}, {NS}}})", "{{phase}}"),
    )
    board.graph(
        "Volumes by phase",
        Q(f"sum by (phase) (kube_persistentvolume_status_phase{{{KSM}, {CL}}})", "{{phase}}"),
    )
    return board.build()


def jobs() -> dict[str, Any]:
    board = _namespaced(
        _board(
            "jobs",
            "Jobs and CronJobs",
            "Jobs running, succeeded and failed; CronJobs' schedules and suspensions.",
        )
    )
    sel = f"{KSM}, {NS}"
    board.row("Jobs")
    board.stat("Jobs active", Q(f"sum(kube_job_status_active{{{sel}}})"))
    board.stat(
        "Jobs failed",
        Q(f'sum(kube_job_failed{{{sel}, condition="true"}}) or vector(0)'),
    )
    board.stat("Jobs succeeded", Q(f"sum(kube_job_status_succeeded{{{sel}}} > 0) or vector(0)"))
    board.stat("CronJobs suspended", Q(f"sum(kube_cronjob_spec_suspend{{{sel}}})"))
    board.graph(
        "Job pods by outcome",
        Q(f"sum(kube_job_status_active{{{sel}}})", "active"),
        Q(f"sum(kube_job_status_succeeded{{{sel}}})", "succeeded"),
        Q(f"sum(kube_job_status_failed{{{sel}}})", "failed"),
    )
    board.graph(
        "Job run time",
        Q(
            f"max by (namespace, job_name) (kube_job_status_completion_time{{{sel}}} - kube_job_status_start_time{{{sel}}})",
            "{{namespace}}/{{job_name}}",
        ),
        unit="s",
        desc="Completed Jobs: from start to completion.",
    )
    board.row("CronJobs")
    board.graph(
        "Next run in",
        Q(
            f"max by (namespace, cronjob) (kube_cronjob_next_schedule_time{{{sel}}}) - time()",
            "{{namespace}}/{{cronjob}}",
        ),
        unit="s",
    )
    board.graph(
        "Active jobs by CronJob",
        Q(
            f"sum by (namespace, cronjob) (kube_cronjob_status_active{{{sel}}})",
            "{{namespace}}/{{cronjob}}",
        ),
    )
    return board.build()


def autoscaling() -> dict[str, Any]:
    board = _namespaced(
        _board(
            "hpa",
            "Horizontal pod autoscalers",
            "Replicas each HPA wants, has and may have; HPAs at their maximum.",
        )
    )
    board.variable(
        "horizontalpodautoscaler",
        f"label_values(kube_horizontalpodautoscaler_info{{{KSM}, {NS}}}, horizontalpodautoscaler)",
        "HPA",
    )
    sel = f'{KSM}, {NS}, horizontalpodautoscaler=~"$horizontalpodautoscaler"'
    by = "namespace, horizontalpodautoscaler"
    board.row("Autoscalers")
    board.stat("HPAs", Q(f"count(kube_horizontalpodautoscaler_info{{{sel}}})"))
    board.stat(
        "At maximum",
        Q(
            f"count(max by ({by}) (kube_horizontalpodautoscaler_status_current_replicas{{{sel}}})"
            f" >= max by ({by}) (kube_horizontalpodautoscaler_spec_max_replicas{{{sel}}})) or vector(0)"
        ),
    )
    board.stat(
        "Scaling limited",
        Q(
            f'sum(kube_horizontalpodautoscaler_status_condition{{{sel}, condition="ScalingLimited", status="true"}}) or vector(0)'
        ),
    )
    board.graph(
        "Replicas",
        Q(
            f"max by ({by}) (kube_horizontalpodautoscaler_status_current_replicas{{{sel}}})",
            "{{horizontalpodautoscaler}} current",
        ),
        Q(
            f"max by ({by}) (kube_horizontalpodautoscaler_status_desired_replicas{{{sel}}})",
            "{{horizontalpodautoscaler}} desired",
        ),
        Q(
            f"max by ({by}) (kube_horizontalpodautoscaler_spec_min_replicas{{{sel}}})",
            "{{horizontalpodautoscaler}} min",
        ),
        Q(
            f"max by ({by}) (kube_horizontalpodautoscaler_spec_max_replicas{{{sel}}})",
            "{{horizontalpodautoscaler}} max",
        ),
        width=24,
    )
    board.graph(
        "Target metric",
        Q(
            f"max by ({by}, metric_name, metric_target_type) (kube_horizontalpodautoscaler_spec_target_metric{{{sel}}})",
            "{{horizontalpodautoscaler}} {{metric_name}} {{metric_target_type}}",
        ),
    )
    board.graph(
        "Replicas / maximum",
        Q(
            f"max by ({by}) (kube_horizontalpodautoscaler_status_current_replicas{{{sel}}})"
            f" / max by ({by}) (kube_horizontalpodautoscaler_spec_max_replicas{{{sel}}})",
            "{{horizontalpodautoscaler}}",
        ),
        unit="percentunit",
    )
    return board.build()


def apiserver() -> dict[str, Any]:
    sel = f'{APISERVER}, {CL}, instance=~"$instance"'
    reads, writes = 'verb=~"LIST|GET"', 'verb=~"POST|PUT|PATCH|DELETE"'
    return (
        _board(
            "apiserver",
            "API server",
            "Request rate, errors and latency, in-flight requests and the API server process.",
        )
        .variable(
            "instance",
            f"label_values(apiserver_request_total{{{APISERVER}, {CL}}}, instance)",
            "Instance",
        )
        .row("Availability")
        .stat("API servers up", Q(f"sum(up{{{sel}}})"))
        .stat(
            "Error ratio (5xx)",
            Q(
                f'(sum(rate(apiserver_request_total{{{sel}, code=~"5.."}}[{RATE}])) or vector(0)) / sum(rate(apiserver_request_total{{{sel}}}[{RATE}]))'
            ),
            unit="percentunit",
        )
        .stat(
            "Read p99",
            Q(_quantile(0.99, "apiserver_request_duration_seconds", f"{sel}, {reads}")),
            unit="s",
        )
        .stat(
            "Write p99",
            Q(_quantile(0.99, "apiserver_request_duration_seconds", f"{sel}, {writes}")),
            unit="s",
        )
        .row("Requests")
        .graph(
            "Requests by code",
            Q(f"sum by (code) (rate(apiserver_request_total{{{sel}}}[{RATE}]))", "{{code}}"),
            unit="reqps",
        )
        .graph(
            "Requests by verb",
            Q(f"sum by (verb) (rate(apiserver_request_total{{{sel}}}[{RATE}]))", "{{verb}}"),
            unit="reqps",
        )
        .graph(
            "Latency p99 by verb",
            Q(
                _quantile(
                    0.99,
                    "apiserver_request_duration_seconds",
                    f'{sel}, verb!~"WATCH|CONNECT"',
                    "verb",
                ),
                "{{verb}}",
            ),
            unit="s",
        )
        .graph(
            "In-flight requests",
            Q(
                f"sum by (request_kind) (apiserver_current_inflight_requests{{{sel}}})",
                "{{request_kind}}",
            ),
        )
        .graph(
            "Storage (etcd) latency p99",
            Q(_quantile(0.99, "etcd_request_duration_seconds", sel, "operation"), "{{operation}}"),
            unit="s",
        )
        .graph("Work queue depth", Q(f"sum by (name) (workqueue_depth{{{sel}}})", "{{name}}"))
        .row("Process")
        .graph(
            "CPU",
            Q(f"rate(process_cpu_seconds_total{{{sel}}}[{RATE}])", "{{instance}}"),
            unit="cores",
        )
        .graph("Memory", Q(f"process_resident_memory_bytes{{{sel}}}", "{{instance}}"), unit="bytes")
        .build()
    )


def kubelet() -> dict[str, Any]:
    sel = f'{KUBELET}, {CL}, node=~"$node"'
    return (
        _board(
            "kubelet",
            "Kubelet",
            "Kubelets up, pods and containers they run, pod start and PLEG latency, runtime operations.",
        )
        .variable("node", f"label_values(kubelet_node_name{{{KUBELET}, {CL}}}, node)", "Node")
        .row("Overview")
        .stat("Kubelets up", Q(f"sum(up{{{sel}}})"))
        .stat("Running pods", Q(f"sum(kubelet_running_pods{{{sel}}})"))
        .stat(
            "Running containers",
            Q(f'sum(kubelet_running_containers{{{sel}, container_state="running"}})'),
        )
        .stat("Config errors", Q(f"sum(kubelet_node_config_error{{{sel}}})"))
        .stat(
            "Client cert expires in",
            Q(f"min(kubelet_certificate_manager_client_ttl_seconds{{{sel}}})"),
            unit="s",
        )
        .stat(
            "Pod start p99", Q(_quantile(0.99, "kubelet_pod_start_duration_seconds", sel)), unit="s"
        )
        .row("Pods and runtime")
        .graph(
            "Running pods by node", Q(f"sum by (node) (kubelet_running_pods{{{sel}}})", "{{node}}")
        )
        .graph(
            "Pod start p99 by node",
            Q(_quantile(0.99, "kubelet_pod_start_duration_seconds", sel, "node"), "{{node}}"),
            unit="s",
        )
        .graph(
            "Runtime operations by type",
            Q(
                f"sum by (operation_type) (rate(kubelet_runtime_operations_total{{{sel}}}[{RATE}]))",
                "{{operation_type}}",
            ),
            unit="ops",
        )
        .graph(
            "Runtime operation errors by type",
            Q(
                f"sum by (operation_type) (rate(kubelet_runtime_operations_errors_total{{{sel}}}[{RATE}]))",
                "{{operation_type}}",
            ),
            unit="ops",
        )
        .graph(
            "Runtime operation p99 by node",
            Q(
                _quantile(0.99, "kubelet_runtime_operations_duration_seconds", sel, "node"),
                "{{node}}",
            ),
            unit="s",
        )
        .graph(
            "Pod worker p99 by node",
            Q(_quantile(0.99, "kubelet_pod_worker_duration_seconds", sel, "node"), "{{node}}"),
            unit="s",
        )
        .row("PLEG")
        .graph(
            "PLEG relist rate",
            Q(
                f"sum by (node) (rate(kubelet_pleg_relist_duration_seconds_count{{{sel}}}[{RATE}]))",
                "{{node}}",
            ),
            unit="ops",
        )
        .graph(
            "PLEG relist p99",
            Q(_quantile(0.99, "kubelet_pleg_relist_duration_seconds", sel, "node"), "{{node}}"),
            unit="s",
        )
        .graph(
            "PLEG relist interval p99",
            Q(_quantile(0.99, "kubelet_pleg_relist_interval_seconds", sel, "node"), "{{node}}"),
            unit="s",
        )
        .row("Process")
        .graph(
            "Kubelet memory", Q(f"process_resident_memory_bytes{{{sel}}}", "{{node}}"), unit="bytes"
        )
        .graph(
            "Kubelet CPU",
            Q(f"rate(process_cpu_seconds_total{{{sel}}}[{RATE}])", "{{node}}"),
            unit="cores",
        )
        .graph("Goroutines", Q(f"go_goroutines{{{sel}}}", "{{node}}"))
        .build()
    )


def networking() -> dict[str, Any]:
    board = _namespaced(
        _board(
            "networking",
            "Networking",
            "Bytes, packets and drops received and transmitted, by namespace and pod.",
        )
    )
    board.row("By namespace")
    for direction in ("receive", "transmit"):
        board.graph(
            f"{direction.capitalize()} bandwidth by namespace",
            Q(f"sum by (namespace) ({_net(direction, 'bytes', NS)})", "{{namespace}}"),
            unit="Bps",
        )
    board.row("By pod")
    for direction in ("receive", "transmit"):
        board.graph(
            f"{direction.capitalize()} bandwidth by pod",
            Q(
                f"topk(20, sum by (namespace, pod) ({_net(direction, 'bytes', NS)}))",
                "{{namespace}}/{{pod}}",
            ),
            unit="Bps",
        )
    for direction in ("receive", "transmit"):
        board.graph(
            f"{direction.capitalize()} packets and drops",
            Q(f"sum({_net(direction, 'packets', NS)})", "packets"),
            Q(f"sum({_net(direction, 'packets_dropped', NS)})", "dropped"),
            unit="pps",
        )
    return board.build()


def prometheus_self() -> dict[str, Any]:
    sel = f'job="prometheus", {CL}'
    return (
        _board(
            "prometheus",
            "Prometheus",
            "The Prometheus server itself: targets, ingestion, rules, queries, notifications.",
        )
        .row("Health")
        .stat("Targets up", Q(f"sum(up{{{CL}}})"))
        .stat("Targets down", Q(f"count(up{{{CL}}} == 0) or vector(0)"))
        .stat("Config reloaded", Q(f"min(prometheus_config_last_reload_successful{{{sel}}})"))
        .stat("Head series", Q(f"sum(prometheus_tsdb_head_series{{{sel}}})"))
        .row("Scraping and storage")
        .graph("Targets up by job", Q(f"sum by (job) (up{{{CL}}})", "{{job}}"))
        .graph(
            "Scrape duration by job (max)",
            Q(f"max by (job) (scrape_duration_seconds{{{CL}}})", "{{job}}"),
            unit="s",
        )
        .graph(
            "Samples appended",
            Q(
                f"sum(rate(prometheus_tsdb_head_samples_appended_total{{{sel}}}[{RATE}]))",
                "samples/s",
            ),
        )
        .graph(
            "Samples scraped by job", Q(f"sum by (job) (scrape_samples_scraped{{{CL}}})", "{{job}}")
        )
        .row("Rules, queries and alerts")
        .graph(
            "Rule group duration",
            Q(
                f"max by (rule_group) (prometheus_rule_group_last_duration_seconds{{{sel}}})",
                "{{rule_group}}",
            ),
            unit="s",
        )
        .graph(
            "Rule evaluation failures",
            Q(
                f"sum(rate(prometheus_rule_evaluation_failures_total{{{sel}}}[{RATE}]))",
                "failures/s",
            ),
        )
        .graph(
            "Query p90",
            Q(
                f'max by (slice) (prometheus_engine_query_duration_seconds{{{sel}, quantile="0.9"}})',
                "{{slice}}",
            ),
            unit="s",
        )
        .graph(
            "Notifications",
            Q(f"sum(rate(prometheus_notifications_sent_total{{{sel}}}[{RATE}]))", "sent"),
            Q(f"sum(rate(prometheus_notifications_errors_total{{{sel}}}[{RATE}]))", "errors"),
            Q(f"sum(rate(prometheus_notifications_dropped_total{{{sel}}}[{RATE}]))", "dropped"),
            unit="ops",
        )
        .build()
    )


def alertmanager() -> dict[str, Any]:
    sel = f'job="alertmanager", {CL}'
    return (
        _board(
            "alertmanager",
            "Alertmanager",
            "Alerts received and active, notifications sent and failed per integration, silences.",
        )
        .row("Alerts")
        .stat("Instances up", Q(f"sum(up{{{sel}}})"))
        .stat("Active alerts", Q(f'sum(alertmanager_alerts{{{sel}, state="active"}})'))
        .stat("Silences", Q(f'sum(alertmanager_silences{{{sel}, state="active"}})'))
        .stat("Config reloaded", Q(f"min(alertmanager_config_last_reload_successful{{{sel}}})"))
        .graph("Alerts by state", Q(f"sum by (state) (alertmanager_alerts{{{sel}}})", "{{state}}"))
        .graph(
            "Alerts received",
            Q(
                f"sum by (status) (rate(alertmanager_alerts_received_total{{{sel}}}[{RATE}]))",
                "{{status}}",
            ),
            unit="ops",
        )
        .row("Notifications")
        .graph(
            "Notifications by integration",
            Q(
                f"sum by (integration) (rate(alertmanager_notifications_total{{{sel}}}[{RATE}]))",
                "{{integration}}",
            ),
            unit="ops",
        )
        .graph(
            "Failed notifications by integration",
            Q(
                f"sum by (integration) (rate(alertmanager_notifications_failed_total{{{sel}}}[{RATE}]))",
                "{{integration}}",
            ),
            unit="ops",
        )
        .graph(
            "Notification latency p99 by integration",
            Q(
                _quantile(0.99, "alertmanager_notification_latency_seconds", sel, "integration"),
                "{{integration}}",
            ),
            unit="s",
        )
        .build()
    )


def node_use() -> dict[str, Any]:
    inst = f'job="node-exporter", {CL}, instance=~"$instance"'
    fs = f'{inst}, fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs"'
    return (
        _board(
            "node-use",
            "Node USE method",
            "Utilisation and saturation of each node's CPU, memory, network and disks (node_exporter).",
        )
        .variable(
            "instance",
            f'label_values(node_uname_info{{job="node-exporter", {CL}}}, instance)',
            "Instance",
        )
        .row("CPU")
        .graph(
            "CPU utilisation",
            Q(
                f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{inst}, mode="idle"}}[{RATE}]))',
                "{{instance}}",
            ),
            unit="percentunit",
        )
        .graph(
            "CPU saturation (load1 per CPU)",
            Q(
                f'node_load1{{{inst}}} / on (instance) count by (instance) (node_cpu_seconds_total{{{inst}, mode="idle"}})',
                "{{instance}}",
            ),
        )
        .row("Memory")
        .graph(
            "Memory utilisation",
            Q(
                f"1 - node_memory_MemAvailable_bytes{{{inst}}} / node_memory_MemTotal_bytes{{{inst}}}",
                "{{instance}}",
            ),
            unit="percentunit",
        )
        .graph(
            "Memory saturation (major page faults)",
            Q(f"rate(node_vmstat_pgmajfault{{{inst}}}[{RATE}])", "{{instance}}"),
            unit="ops",
        )
        .row("Network")
        .graph(
            "Network utilisation",
            Q(
                f'sum by (instance) (rate(node_network_receive_bytes_total{{{inst}, device!="lo"}}[{RATE}]))',
                "{{instance}} receive",
            ),
            Q(
                f'sum by (instance) (rate(node_network_transmit_bytes_total{{{inst}, device!="lo"}}[{RATE}]))',
                "{{instance}} transmit",
            ),
            unit="Bps",
        )
        .graph(
            "Network saturation (drops)",
            Q(
                f'sum by (instance) (rate(node_network_receive_drop_total{{{inst}, device!="lo"}}[{RATE}]))',
                "{{instance}} receive",
            ),
            Q(
                f'sum by (instance) (rate(node_network_transmit_drop_total{{{inst}, device!="lo"}}[{RATE}]))',
                "{{instance}} transmit",
            ),
            unit="pps",
        )
        .row("Disk")
        .graph(
            "Disk I/O utilisation",
            Q(
                f"rate(node_disk_io_time_seconds_total{{{inst}}}[{RATE}])",
                "{{instance}} {{device}}",
            ),
            unit="percentunit",
        )
        .graph(
            "Disk I/O saturation",
            Q(
                f"rate(node_disk_io_time_weighted_seconds_total{{{inst}}}[{RATE}])",
                "{{instance}} {{device}}",
            ),
        )
        .graph(
            "Disk space utilisation",
            Q(
                f"1 - sum by (instance) (node_filesystem_avail_bytes{{{fs}}}) / sum by (instance) (node_filesystem_size_bytes{{{fs}}})",
                "{{instance}}",
            ),
            unit="percentunit",
        )
        .build()
    )


KUBERNETES_DASHBOARDS = {
    "k8s-compute-cluster.json": compute_cluster,
    "k8s-compute-namespace.json": compute_namespace,
    "k8s-compute-workload.json": compute_workload,
    "k8s-compute-pod.json": compute_pod,
    "k8s-persistent-volumes.json": persistent_volumes,
    "k8s-jobs.json": jobs,
    "k8s-hpa.json": autoscaling,
    "k8s-apiserver.json": apiserver,
    "k8s-kubelet.json": kubelet,
    "k8s-networking.json": networking,
    "prometheus.json": prometheus_self,
    "alertmanager.json": alertmanager,
    "node-use.json": node_use,
}
"""File name in ``deploy/grafana/dashboards`` to the function building it."""
