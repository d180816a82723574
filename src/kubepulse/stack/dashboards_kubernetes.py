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

Each dashboard reads top to bottom as a table of its rows and panels (``_Board`` calls, one a
panel, one a line); the helpers below build the query shapes the panels share (a series per label value, a
ratio of two such sums, a p99, a receive and transmit pair), so a panel names only what is its own.
"""

from __future__ import annotations

from typing import Any

from kubepulse.stack.dashboards import RATE, Q, _Board, _rx_tx

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


def _by_workload(expr: str, selected: bool = True) -> str:
    """``expr`` summed per pod, then per workload."""
    return (
        f"sum by (workload, workload_type) (sum by (namespace, pod) ({expr})"
        f" * on (namespace, pod) group_left (workload, workload_type) {workload_pods(selected)})"
    )


def _legend(labels: str) -> str:
    """``{{a}}/{{b}}`` for the labels ``a, b``."""
    return "/".join("{{" + label + "}}" for label in labels.split(", "))


def _by(labels: str, expr: str, op: str = "sum", legend: str = "") -> Q:
    """A series per value of ``labels``: ``op by (labels) (expr)``, legended by them."""
    return Q(f"{op} by ({labels}) ({expr})", legend or _legend(labels))


def _ratio(labels: str, num: str, den: str, op: str = "sum", legend: str = "") -> Q:
    """Per value of ``labels``, ``num`` over ``den``, each aggregated with ``op``."""
    return Q(f"{op} by ({labels}) ({num}) / {op} by ({labels}) ({den})", legend or _legend(labels))


def _quantile(q: float, metric: str, sel: str, by: str = "") -> str:
    by_le = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({by_le}) (rate({metric}_bucket{{{sel}}}[{RATE}])))"


def _p99(metric: str, sel: str, by: str) -> Q:
    """The 99th percentile of histogram ``metric`` per value of ``by``."""
    return Q(_quantile(0.99, metric, sel, by), _legend(by))


def _rate(metric: str, sel: str) -> str:
    return f"rate({metric}{{{sel}}}[{RATE}])"


def _containers(sel: str) -> str:
    """cAdvisor's series of real containers (not pods' sandboxes) matching ``sel``."""
    return f"{CAD}, {sel}, {CONTAINERS}"


def _cpu(sel: str) -> str:
    return _rate("container_cpu_usage_seconds_total", _containers(sel))


def _mem(sel: str) -> str:
    return f"container_memory_working_set_bytes{{{_containers(sel)}}}"


def _cfs(periods: str, sel: str) -> str:
    return _rate(f"container_cpu_cfs_{periods}_total", _containers(sel))


def _throttled(by: str, sel: str) -> Q:
    """Per value of ``by``, the share of CFS periods in which containers hit their CPU limit."""
    return _ratio(by, _cfs("throttled_periods", sel), _cfs("periods", sel))


def _resource(kind: str, resource: str, sel: str) -> str:
    return f'kube_pod_container_resource_{kind}{{{KSM}, {sel}, resource="{resource}"}}'


def _usage_vs(by: str, usage: str, sel: str, resource: str) -> tuple[Q, ...]:
    """Per value of ``by``: ``usage``, and the ``resource`` requested and limited."""
    legend = _legend(by)
    return (
        _by(by, usage, legend=f"{legend} usage"),
        _by(by, _resource("requests", resource, sel), legend=f"{legend} requests"),
        _by(by, _resource("limits", resource, sel), legend=f"{legend} limits"),
    )


def _net(direction: str, what: str, sel: str) -> str:
    return _rate(f"container_network_{direction}_{what}_total", f"{CAD}, {sel}")


def _board(uid: str, title: str, description: str, namespaced: bool = False) -> _Board:
    board = _Board(uid, title, description).variable(
        "cluster", f"label_values(kube_node_info{{{KSM}}}, cluster)", "Cluster"
    )
    if namespaced:
        board.variable(
            "namespace",
            f"label_values(kube_namespace_status_phase{{{KSM}, {CL}}}, namespace)",
            "Namespace",
        )
    return board


# The dashboards: one panel a line, so each reads top to bottom as the table of its rows and
# panels (PromQL unbroken); the formatter would split the long ones into one argument a line.
# fmt: off
def compute_cluster() -> dict[str, Any]:
    board = _board("compute-cluster", "Compute resources / Cluster", "CPU and memory used, requested and limited across the cluster, by namespace; CPU throttling.")
    board.row("Headroom")
    for name, resource, usage in (("CPU", "cpu", _cpu(CL)), ("Memory", "memory", _mem(CL))):
        alloc = f'sum(kube_node_status_allocatable{{{KSM}, {CL}, resource="{resource}"}})'
        board.stat(f"{name} utilisation", f"sum({usage}) / {alloc}", unit="percentunit")
        for kind in ("requests", "limits"):
            board.stat(f"{name} {kind} commitment", f"sum({_resource(kind, resource, CL)}) / {alloc}", unit="percentunit")
    return (
        board.row("CPU")
        .graph("CPU usage by namespace", _by("namespace", _cpu(CL)), unit="cores")
        .graph("CPU usage / requests by namespace", _ratio("namespace", _cpu(CL), _resource("requests", "cpu", CL)), unit="percentunit")
        .graph("CPU throttled periods by namespace", _throttled("namespace", CL), unit="percentunit", desc="Share of CFS periods in which the namespace's containers hit their CPU limit.")
        .row("Memory")
        .graph("Memory working set by namespace", _by("namespace", _mem(CL)), unit="bytes")
        .graph("Memory working set / requests by namespace", _ratio("namespace", _mem(CL), _resource("requests", "memory", CL)), unit="percentunit")
        .build()
    )


def compute_namespace() -> dict[str, Any]:
    return (
        _board("compute-namespace", "Compute resources / Namespace (pods)", "Per pod: CPU and memory used against requests and limits, CPU throttling.", namespaced=True)
        .row("Namespace")
        .stat("CPU usage", f"sum({_cpu(NS)})", unit="cores")
        .stat("CPU requests", f"sum({_resource('requests', 'cpu', NS)})", unit="cores")
        .stat("Memory working set", f"sum({_mem(NS)})", unit="bytes")
        .stat("Memory requests", f"sum({_resource('requests', 'memory', NS)})", unit="bytes")
        .row("Pods")
        .graph("CPU by pod", *_usage_vs("pod", _cpu(NS), NS, "cpu"), unit="cores")
        .graph("Memory by pod", *_usage_vs("pod", _mem(NS), NS, "memory"), unit="bytes")
        .graph("CPU throttled periods by pod", _throttled("pod", NS), unit="percentunit")
        .graph("CPU usage by workload", Q(_by_workload(_cpu(NS), selected=False), "{{workload_type}} {{workload}}"), unit="cores")
        .build()
    )


def compute_workload() -> dict[str, Any]:
    return (
        _board("compute-workload", "Compute resources / Workload", "Per Deployment, StatefulSet, DaemonSet or Job: CPU, memory, throttling and network against requests and limits.", namespaced=True)
        .variable("workload_type", f"label_values({_OWNERS}, owner_kind)", "Type")
        .variable("workload", f"label_values({_OWNERS}, owner_name)", "Workload")
        .row("Usage against requests")
        .graph("CPU by workload", Q(_by_workload(_cpu(NS)), "{{workload}} usage"), Q(_by_workload(_resource("requests", "cpu", NS)), "{{workload}} requests"), unit="cores")
        .graph("Memory by workload", Q(_by_workload(_mem(NS)), "{{workload}} working set"), Q(_by_workload(_resource("requests", "memory", NS)), "{{workload}} requests"), unit="bytes")
        .graph("CPU throttled periods by workload", Q(f"{_by_workload(_cfs('throttled_periods', NS))} / {_by_workload(_cfs('periods', NS))}", "{{workload}}"), unit="percentunit")
        .graph("Network by workload", *_rx_tx(lambda d: _by_workload(_net(d, "bytes", NS)), "{{workload}} "), unit="Bps")
        .row("Pods")
        .graph("Pods by workload", Q(f"count by (workload, workload_type) ({workload_pods()})", "{{workload_type}} {{workload}}"))
        .graph("CPU by pod", Q(f"sum by (namespace, pod) ({_cpu(NS)}) * on (namespace, pod) group_left () {workload_pods()}", "{{namespace}}/{{pod}}"), unit="cores")
        .build()
    )


def compute_pod() -> dict[str, Any]:
    sel = f'{NS}, pod=~"$pod"'
    return (
        _board("compute-pod", "Compute resources / Pod", "One pod's containers: CPU and memory against requests and limits, throttling, network and disk.", namespaced=True)
        .variable("pod", f"label_values(kube_pod_info{{{KSM}, {NS}}}, pod)", "Pod")
        .row("Containers")
        .graph("CPU by container", *_usage_vs("container", _cpu(sel), sel, "cpu"), unit="cores")
        .graph("Memory working set by container", *_usage_vs("container", _mem(sel), sel, "memory"), unit="bytes")
        .graph("CPU throttled periods by container", _throttled("container", sel), unit="percentunit")
        .graph("Memory by kind", *(Q(f"sum(container_memory_{m}{{{_containers(sel)}}})", m) for m in ("working_set_bytes", "rss", "cache")), unit="bytes")
        .row("Network and disk")
        .graph("Network bytes", *_rx_tx(lambda d: f"sum({_net(d, 'bytes', sel)})"), unit="Bps")
        .graph("Network packets dropped", *_rx_tx(lambda d: f"sum({_net(d, 'packets_dropped', sel)})"), unit="pps")
        .graph("Disk throughput by container", *(_by("container", _rate(f"container_fs_{io}s_bytes_total", _containers(sel)), legend="{{container}} " + io) for io in ("read", "write")), unit="Bps")
        .graph("Container restarts", _by("container", f"kube_pod_container_status_restarts_total{{{KSM}, {sel}}}"))
        .build()
    )


def persistent_volumes() -> dict[str, Any]:
    sel = f'{KUBELET}, {NS}, persistentvolumeclaim=~"$persistentvolumeclaim"'
    by = "namespace, persistentvolumeclaim"

    def stats(metric: str) -> str:
        return f"kubelet_volume_stats_{metric}{{{sel}}}"

    used = _ratio(by, stats("used_bytes"), stats("capacity_bytes"), op="max")
    return (
        _board("persistent-volumes", "Persistent volumes", "Claims' space and inodes as the kubelet measures them, claim and volume phases.", namespaced=True)
        .variable("persistentvolumeclaim", f"label_values(kube_persistentvolumeclaim_info{{{KSM}, {NS}}}, persistentvolumeclaim)", "Claim")
        .row("Usage")
        .stat("Claims", f"count(kube_persistentvolumeclaim_info{{{KSM}, {NS}}})")
        .stat("Claims not bound", f'sum(kube_persistentvolumeclaim_status_phase{{{KSM}, {NS}, phase!="Bound"}}) or vector(0)')
        .stat("Volumes failed or pending", f'sum(kube_persistentvolume_status_phase{{{KSM}, {CL}, phase=~"Failed|Pending"}}) or vector(0)')
        .stat("Fullest claim", f"max({used.expr})", unit="percentunit")
        .graph("Space used", used, unit="percentunit")
        .graph("Space available", _by(by, stats("available_bytes"), op="max"), unit="bytes")
        .graph("Inodes used", _ratio(by, stats("inodes_used"), stats("inodes"), op="max"), unit="percentunit")
        .graph("Storage requested by claim", _by(by, f"kube_persistentvolumeclaim_resource_requests_storage_bytes{{{KSM}, {NS}}}"), unit="bytes")
        .row("Phases")
        .graph("Claims by phase", _by("phase", f"kube_persistentvolumeclaim_status_phase{{{KSM}, {NS}}}"))
        .graph("Volumes by phase", _by("phase", f"kube_persistentvolume_status_phase{{{KSM}, {CL}}}"))
        .build()
    )


def jobs() -> dict[str, Any]:
    sel = f"{KSM}, {NS}"
    return (
        _board("jobs", "Jobs and CronJobs", "Jobs running, succeeded and failed; CronJobs' schedules and suspensions.", namespaced=True)
        .row("Jobs")
        .stat("Jobs active", f"sum(kube_job_status_active{{{sel}}})")
        .stat("Jobs failed", f'sum(kube_job_failed{{{sel}, condition="true"}}) or vector(0)')
        .stat("Jobs succeeded", f"sum(kube_job_status_succeeded{{{sel}}} > 0) or vector(0)")
        .stat("CronJobs suspended", f"sum(kube_cronjob_spec_suspend{{{sel}}})")
        .graph("Job pods by outcome", *(Q(f"sum(kube_job_status_{outcome}{{{sel}}})", outcome) for outcome in ("active", "succeeded", "failed")))
        .graph("Job run time", _by("namespace, job_name", f"kube_job_status_completion_time{{{sel}}} - kube_job_status_start_time{{{sel}}}", op="max"), unit="s", desc="Completed Jobs: from start to completion.")
        .row("CronJobs")
        .graph("Next run in", Q(f"max by (namespace, cronjob) (kube_cronjob_next_schedule_time{{{sel}}}) - time()", "{{namespace}}/{{cronjob}}"), unit="s")
        .graph("Active jobs by CronJob", _by("namespace, cronjob", f"kube_cronjob_status_active{{{sel}}}"))
        .build()
    )


def autoscaling() -> dict[str, Any]:
    sel = f'{KSM}, {NS}, horizontalpodautoscaler=~"$horizontalpodautoscaler"'
    by = "namespace, horizontalpodautoscaler"

    def hpa(metric: str) -> str:
        return f"max by ({by}) (kube_horizontalpodautoscaler_{metric}{{{sel}}})"

    current, maximum = hpa("status_current_replicas"), hpa("spec_max_replicas")
    replicas = {
        "current": current,
        "desired": hpa("status_desired_replicas"),
        "min": hpa("spec_min_replicas"),
        "max": maximum,
    }
    return (
        _board("hpa", "Horizontal pod autoscalers", "Replicas each HPA wants, has and may have; HPAs at their maximum.", namespaced=True)
        .variable("horizontalpodautoscaler", f"label_values(kube_horizontalpodautoscaler_info{{{KSM}, {NS}}}, horizontalpodautoscaler)", "HPA")
        .row("Autoscalers")
        .stat("HPAs", f"count(kube_horizontalpodautoscaler_info{{{sel}}})")
        .stat("At maximum", f"count({current} >= {maximum}) or vector(0)")
        .stat("Scaling limited", f'sum(kube_horizontalpodautoscaler_status_condition{{{sel}, condition="ScalingLimited", status="true"}}) or vector(0)')
        .graph("Replicas", *(Q(expr, "{{horizontalpodautoscaler}} " + name) for name, expr in replicas.items()), width=24)
        .graph("Target metric", _by(f"{by}, metric_name, metric_target_type", f"kube_horizontalpodautoscaler_spec_target_metric{{{sel}}}", op="max", legend="{{horizontalpodautoscaler}} {{metric_name}} {{metric_target_type}}"))
        .graph("Replicas / maximum", Q(f"{current} / {maximum}", "{{horizontalpodautoscaler}}"), unit="percentunit")
        .build()
    )


def apiserver() -> dict[str, Any]:
    sel = f'{APISERVER}, {CL}, instance=~"$instance"'
    reads, writes = 'verb=~"LIST|GET"', 'verb=~"POST|PUT|PATCH|DELETE"'
    requests = _rate("apiserver_request_total", sel)
    return (
        _board("apiserver", "API server", "Request rate, errors and latency, in-flight requests and the API server process.")
        .variable("instance", f"label_values(apiserver_request_total{{{APISERVER}, {CL}}}, instance)", "Instance")
        .row("Availability")
        .stat("API servers up", f"sum(up{{{sel}}})")
        .stat("Error ratio (5xx)", f'(sum(rate(apiserver_request_total{{{sel}, code=~"5.."}}[{RATE}])) or vector(0)) / sum({requests})', unit="percentunit")
        .stat("Read p99", _quantile(0.99, "apiserver_request_duration_seconds", f"{sel}, {reads}"), unit="s")
        .stat("Write p99", _quantile(0.99, "apiserver_request_duration_seconds", f"{sel}, {writes}"), unit="s")
        .row("Requests")
        .graph("Requests by code", _by("code", requests), unit="reqps")
        .graph("Requests by verb", _by("verb", requests), unit="reqps")
        .graph("Latency p99 by verb", _p99("apiserver_request_duration_seconds", f'{sel}, verb!~"WATCH|CONNECT"', "verb"), unit="s")
        .graph("In-flight requests", _by("request_kind", f"apiserver_current_inflight_requests{{{sel}}}"))
        .graph("Storage (etcd) latency p99", _p99("etcd_request_duration_seconds", sel, "operation"), unit="s")
        .graph("Work queue depth", _by("name", f"workqueue_depth{{{sel}}}"))
        .row("Process")
        .graph("CPU", Q(_rate("process_cpu_seconds_total", sel), "{{instance}}"), unit="cores")
        .graph("Memory", Q(f"process_resident_memory_bytes{{{sel}}}", "{{instance}}"), unit="bytes")
        .build()
    )


def kubelet() -> dict[str, Any]:
    sel = f'{KUBELET}, {CL}, node=~"$node"'
    return (
        _board("kubelet", "Kubelet", "Kubelets up, pods and containers they run, pod start and PLEG latency, runtime operations.")
        .variable("node", f"label_values(kubelet_node_name{{{KUBELET}, {CL}}}, node)", "Node")
        .row("Overview")
        .stat("Kubelets up", f"sum(up{{{sel}}})")
        .stat("Running pods", f"sum(kubelet_running_pods{{{sel}}})")
        .stat("Running containers", f'sum(kubelet_running_containers{{{sel}, container_state="running"}})')
        .stat("Config errors", f"sum(kubelet_node_config_error{{{sel}}})")
        .stat("Client cert expires in", f"min(kubelet_certificate_manager_client_ttl_seconds{{{sel}}})", unit="s")
        .stat("Pod start p99", _quantile(0.99, "kubelet_pod_start_duration_seconds", sel), unit="s")
        .row("Pods and runtime")
        .graph("Running pods by node", _by("node", f"kubelet_running_pods{{{sel}}}"))
        .graph("Pod start p99 by node", _p99("kubelet_pod_start_duration_seconds", sel, "node"), unit="s")
        .graph("Runtime operations by type", _by("operation_type", _rate("kubelet_runtime_operations_total", sel)), unit="ops")
        .graph("Runtime operation errors by type", _by("operation_type", _rate("kubelet_runtime_operations_errors_total", sel)), unit="ops")
        .graph("Runtime operation p99 by node", _p99("kubelet_runtime_operations_duration_seconds", sel, "node"), unit="s")
        .graph("Pod worker p99 by node", _p99("kubelet_pod_worker_duration_seconds", sel, "node"), unit="s")
        .row("PLEG")
        .graph("PLEG relist rate", _by("node", _rate("kubelet_pleg_relist_duration_seconds_count", sel)), unit="ops")
        .graph("PLEG relist p99", _p99("kubelet_pleg_relist_duration_seconds", sel, "node"), unit="s")
        .graph("PLEG relist interval p99", _p99("kubelet_pleg_relist_interval_seconds", sel, "node"), unit="s")
        .row("Process")
        .graph("Kubelet memory", Q(f"process_resident_memory_bytes{{{sel}}}", "{{node}}"), unit="bytes")
        .graph("Kubelet CPU", Q(_rate("process_cpu_seconds_total", sel), "{{node}}"), unit="cores")
        .graph("Goroutines", Q(f"go_goroutines{{{sel}}}", "{{node}}"))
        .build()
    )


def networking() -> dict[str, Any]:
    board = _board("networking", "Networking", "Bytes, packets and drops received and transmitted, by namespace and pod.", namespaced=True)
    directions = ("receive", "transmit")
    board.row("By namespace")
    for d in directions:
        board.graph(f"{d.capitalize()} bandwidth by namespace", _by("namespace", _net(d, "bytes", NS)), unit="Bps")
    board.row("By pod")
    for d in directions:
        board.graph(f"{d.capitalize()} bandwidth by pod", Q(f"topk(20, sum by (namespace, pod) ({_net(d, 'bytes', NS)}))", "{{namespace}}/{{pod}}"), unit="Bps")
    for d in directions:
        board.graph(f"{d.capitalize()} packets and drops", Q(f"sum({_net(d, 'packets', NS)})", "packets"), Q(f"sum({_net(d, 'packets_dropped', NS)})", "dropped"), unit="pps")
    return board.build()


def prometheus_self() -> dict[str, Any]:
    sel = f'job="prometheus", {CL}'
    return (
        _board("prometheus", "Prometheus", "The Prometheus server itself: targets, ingestion, rules, queries, notifications.")
        .row("Health")
        .stat("Targets up", f"sum(up{{{CL}}})")
        .stat("Targets down", f"count(up{{{CL}}} == 0) or vector(0)")
        .stat("Config reloaded", f"min(prometheus_config_last_reload_successful{{{sel}}})")
        .stat("Head series", f"sum(prometheus_tsdb_head_series{{{sel}}})")
        .row("Scraping and storage")
        .graph("Targets up by job", _by("job", f"up{{{CL}}}"))
        .graph("Scrape duration by job (max)", _by("job", f"scrape_duration_seconds{{{CL}}}", op="max"), unit="s")
        .graph("Samples appended", Q(f"sum({_rate('prometheus_tsdb_head_samples_appended_total', sel)})", "samples/s"))
        .graph("Samples scraped by job", _by("job", f"scrape_samples_scraped{{{CL}}}"))
        .row("Rules, queries and alerts")
        .graph("Rule group duration", _by("rule_group", f"prometheus_rule_group_last_duration_seconds{{{sel}}}", op="max"), unit="s")
        .graph("Rule evaluation failures", Q(f"sum({_rate('prometheus_rule_evaluation_failures_total', sel)})", "failures/s"))
        .graph("Query p90", _by("slice", f'prometheus_engine_query_duration_seconds{{{sel}, quantile="0.9"}}', op="max"), unit="s")
        .graph("Notifications", *(Q(f"sum({_rate(f'prometheus_notifications_{outcome}_total', sel)})", outcome) for outcome in ("sent", "errors", "dropped")), unit="ops")
        .build()
    )


def alertmanager() -> dict[str, Any]:
    sel = f'job="alertmanager", {CL}'
    return (
        _board("alertmanager", "Alertmanager", "Alerts received and active, notifications sent and failed per integration, silences.")
        .row("Alerts")
        .stat("Instances up", f"sum(up{{{sel}}})")
        .stat("Active alerts", f'sum(alertmanager_alerts{{{sel}, state="active"}})')
        .stat("Silences", f'sum(alertmanager_silences{{{sel}, state="active"}})')
        .stat("Config reloaded", f"min(alertmanager_config_last_reload_successful{{{sel}}})")
        .graph("Alerts by state", _by("state", f"alertmanager_alerts{{{sel}}}"))
        .graph("Alerts received", _by("status", _rate("alertmanager_alerts_received_total", sel)), unit="ops")
        .row("Notifications")
        .graph("Notifications by integration", _by("integration", _rate("alertmanager_notifications_total", sel)), unit="ops")
        .graph("Failed notifications by integration", _by("integration", _rate("alertmanager_notifications_failed_total", sel)), unit="ops")
        .graph("Notification latency p99 by integration", _p99("alertmanager_notification_latency_seconds", sel, "integration"), unit="s")
        .build()
    )


def node_use() -> dict[str, Any]:
    inst = f'job="node-exporter", {CL}, instance=~"$instance"'
    nic = f'{inst}, device!="lo"'
    fs = f'{inst}, fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs"'
    return (
        _board("node-use", "Node USE method", "Utilisation and saturation of each node's CPU, memory, network and disks (node_exporter).")
        .variable("instance", f'label_values(node_uname_info{{job="node-exporter", {CL}}}, instance)', "Instance")
        .row("CPU")
        .graph("CPU utilisation", Q(f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{inst}, mode="idle"}}[{RATE}]))', "{{instance}}"), unit="percentunit")
        .graph("CPU saturation (load1 per CPU)", Q(f'node_load1{{{inst}}} / on (instance) count by (instance) (node_cpu_seconds_total{{{inst}, mode="idle"}})', "{{instance}}"))
        .row("Memory")
        .graph("Memory utilisation", Q(f"1 - node_memory_MemAvailable_bytes{{{inst}}} / node_memory_MemTotal_bytes{{{inst}}}", "{{instance}}"), unit="percentunit")
        .graph("Memory saturation (major page faults)", Q(_rate("node_vmstat_pgmajfault", inst), "{{instance}}"), unit="ops")
        .row("Network")
        .graph("Network utilisation", *_rx_tx(lambda d: f"sum by (instance) ({_rate(f'node_network_{d}_bytes_total', nic)})", "{{instance}} "), unit="Bps")
        .graph("Network saturation (drops)", *_rx_tx(lambda d: f"sum by (instance) ({_rate(f'node_network_{d}_drop_total', nic)})", "{{instance}} "), unit="pps")
        .row("Disk")
        .graph("Disk I/O utilisation", Q(_rate("node_disk_io_time_seconds_total", inst), "{{instance}} {{device}}"), unit="percentunit")
        .graph("Disk I/O saturation", Q(_rate("node_disk_io_time_weighted_seconds_total", inst), "{{instance}} {{device}}"))
        .graph("Disk space utilisation", Q(f"1 - sum by (instance) (node_filesystem_avail_bytes{{{fs}}}) / sum by (instance) (node_filesystem_size_bytes{{{fs}}})", "{{instance}}"), unit="percentunit")
        .build()
    )
# fmt: on


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
