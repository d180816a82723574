# PromQL reads best unbroken, so query lines may exceed the line length.
# ruff: noqa: E501
"""Grafana dashboards as code (grafana-foundation-sdk), written to ``deploy/grafana/dashboards``.

Run ``python -m kubepulse.stack.dashboards`` after changing a dashboard; the JSON is committed
and a test fails when it differs from what this module generates. Every panel query uses only
metrics the stack produces (kubepulse's exporters, node_exporter, the recording rules), and
counts that are legitimately empty use ``or vector(0)`` so a healthy cluster never shows
"No data". ``panel_queries`` and ``substitute`` let tests run each query against Prometheus.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import DataSourceRef
from grafana_foundation_sdk.models.dashboard import VariableRefresh

from kubepulse.render.grafana import substitute as grafana_substitute
from kubepulse.stack import deploy_dir
from kubepulse.stack.generated import generated_main

__all__ = ["DEFAULT_VARIABLES", "build_dashboards", "panel_queries", "substitute", "write"]

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# What a dashboard's variables expand to when its queries are checked outside Grafana: "All".
DEFAULT_VARIABLES = {
    "cluster": ".*",
    "namespace": ".*",
    "workload_type": ".*",
    "workload": ".*",
    "pod": ".*",
    "node": ".*",
    "persistentvolumeclaim": ".*",
    "horizontalpodautoscaler": ".*",
    "deployment": ".*",
    "instance": ".*",
    "route": ".*",
    "path": ".*",
    "__rate_interval": "5m",
}
# Dashboards look back over the same window as the recording rules.
RATE = "5m"


@dataclass(frozen=True)
class Q:
    """One query of a panel: PromQL and its legend."""

    expr: str
    legend: str = ""


def _rx_tx(expr: Callable[[str], str], legend: str = "") -> tuple[Q, ...]:
    """A query per direction, ``expr("receive")`` and ``expr("transmit")``, legended
    ``legend`` and the direction."""
    return tuple(Q(expr(direction), legend + direction) for direction in ("receive", "transmit"))


class _Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping at the edge."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_height = 0
        self.next_id = 1

    def place(self, panel: Any, width: int, height: int) -> Any:
        if self.x + width > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel.id(self.next_id).grid_pos(_grid(height, width, self.x, self.y))
        self.next_id += 1
        self.x += width
        self.row_height = max(self.row_height, height)
        return panel

    def row(self, title: str) -> Any:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        row = dash.Row(title).id(self.next_id).grid_pos(_grid(1, 24, 0, self.y))
        self.next_id += 1
        self.y += 1
        return row


def _grid(h: int, w: int, x: int, y: int) -> Any:
    from grafana_foundation_sdk.models.dashboard import GridPos

    return GridPos(h=h, w=w, x=x, y=y)


def _targets(panel: Any, queries: tuple[Q, ...], instant: bool) -> Any:
    for ref, q in zip("ABCDEFGH", queries, strict=False):
        target = prom.Dataquery().expr(q.expr).ref_id(ref).legend_format(q.legend or "__auto")
        if instant:
            target = target.instant()
        panel = panel.with_target(target)
    return panel


class _Board:
    """A dashboard under construction: rows, stat and time-series panels, variables.

    Its uid is ``kubepulse-<uid>`` and its title ``kubepulse / <title>``.
    """

    def __init__(self, uid: str, title: str, description: str) -> None:
        self.layout = _Layout()
        self.builder = (
            dash.Dashboard(f"kubepulse / {title}")
            .uid(f"kubepulse-{uid}")
            .description(description)
            .tags(["kubepulse"])
            .refresh("30s")
            .time("now-1h", "now")
            .timezone("browser")
            .with_variable(
                dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
            )
        )

    def variable(self, name: str, query: str, label: str) -> _Board:
        self.builder = self.builder.with_variable(
            dash.QueryVariable(name)
            .label(label)
            .datasource(DATASOURCE)
            .query(query)
            .definition(query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .multi(True)
        )
        return self

    def row(self, title: str) -> _Board:
        self.builder = self.builder.with_row(self.layout.row(title))
        return self

    def stat(self, title: str, expr: str, unit: str = "short", desc: str = "") -> _Board:
        """A stat panel: one instant query, no legend."""
        panel = stat.Panel().title(title).description(desc).datasource(DATASOURCE).unit(unit)
        panel = _targets(panel, (Q(expr),), instant=True)
        self.builder = self.builder.with_panel(self.layout.place(panel, 4, 4))
        return self

    def graph(
        self, title: str, *queries: Q, unit: str = "short", desc: str = "", width: int = 12
    ) -> _Board:
        panel = timeseries.Panel().title(title).description(desc).datasource(DATASOURCE).unit(unit)
        panel = _targets(panel, queries, instant=False)
        self.builder = self.builder.with_panel(self.layout.place(panel, width, 8))
        return self

    def build(self) -> dict[str, Any]:
        encoded: dict[str, Any] = json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))
        return encoded


# The dashboards: one panel a line, so each reads top to bottom as the table of its rows and
# panels (PromQL unbroken); the formatter would split the long ones into one argument a line.
# fmt: off
def cluster_overview() -> dict[str, Any]:
    not_ready_nodes = 'count(kube_node_status_condition{condition="Ready", status="true"} == 0)'
    return (
        _Board("cluster", "Cluster overview", "Nodes, pods by phase, deployment health and restarts, from kubepulse's cluster exporter.")
        .row("Health")
        .stat("Nodes", "count(kube_node_info)")
        .stat("Nodes not ready", f"{not_ready_nodes} or vector(0)")
        .stat("Pods running", 'sum(kube_pod_status_phase{phase="Running"})')
        .stat("Pods not ready", "sum(namespace:kube_pod_not_ready:count) or vector(0)")
        .stat("Deployments short of replicas", "count(kube_deployment_spec_replicas > kube_deployment_status_replicas_available) or vector(0)")
        .stat("Alerts firing", 'count(ALERTS{alertstate="firing"}) or vector(0)')
        .row("Workloads")
        .graph("Pods by phase", Q("sum by (phase) (namespace_phase:kube_pod_status_phase:sum)", "{{phase}}"))
        .graph("Deployment replicas", Q("sum(kube_deployment_spec_replicas)", "desired"), Q("sum(kube_deployment_status_replicas_available)", "available"), Q("sum(kube_deployment_status_replicas_updated)", "updated"))
        .graph("Container restarts (1h) by namespace", Q("namespace:kube_pod_container_status_restarts:increase1h", "{{namespace}}"))
        .graph("Unavailable replicas by namespace", Q("namespace:kube_deployment_replicas_unavailable:sum", "{{namespace}}"))
        .row("Capacity")
        .graph("CPU requested / allocatable", *(Q(f'sum(kube_pod_container_resource_requests{{resource="{r}"}}) / sum(kube_node_status_allocatable{{resource="{r}"}})', r) for r in ("cpu", "memory")), unit="percentunit")
        .graph("Pods / pod capacity", Q('sum(kube_pod_info) / sum(kube_node_status_allocatable{resource="pods"})', "pods"), unit="percentunit")
        .build()
    )


def workloads() -> dict[str, Any]:
    ns = 'namespace=~"$namespace"'
    dep = f'{ns}, deployment=~"$deployment"'
    return (
        _Board("workloads", "Workloads", "Drill down by namespace and deployment: replicas, pod states, restarts, requests.")
        .variable("namespace", "label_values(kube_namespace_status_phase, namespace)", "Namespace")
        .variable("deployment", 'label_values(kube_deployment_spec_replicas{namespace=~"$namespace"}, deployment)', "Deployment")
        .row("Deployments")
        .stat("Desired replicas", f"sum(kube_deployment_spec_replicas{{{dep}}})")
        .stat("Available replicas", f"sum(kube_deployment_status_replicas_available{{{dep}}})")
        .stat("Pods not ready", f'sum(kube_pod_status_ready{{{ns}, condition="false"}})')
        .stat("Restarts (1h)", f"sum(increase(kube_pod_container_status_restarts_total{{{ns}}}[1h]))")
        .graph("Replicas: desired vs available", Q(f"sum by (deployment) (kube_deployment_spec_replicas{{{dep}}})", "{{deployment}} desired"), Q(f"sum by (deployment) (kube_deployment_status_replicas_available{{{dep}}})", "{{deployment}} available"), width=24)
        .row("Pods")
        .graph("Pods by phase", Q(f"sum by (phase) (kube_pod_status_phase{{{ns}}})", "{{phase}}"))
        .graph("Container restarts (1h) by pod", Q(f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{ns}}}[1h]))", "{{pod}}"))
        .graph("CPU requests by pod", Q(f'sum by (pod) (kube_pod_container_resource_requests{{{ns}, resource="cpu"}})', "{{pod}}"), unit="cores")
        .graph("Memory requests by pod", Q(f'sum by (pod) (kube_pod_container_resource_requests{{{ns}, resource="memory"}})', "{{pod}}"), unit="bytes")
        .row("By label")
        .graph("CPU requests by label", Q(f'sum by (label_name, label_value) (kubepulse_pod_resource_requests_by_label{{{ns}, resource="cpu"}})', "{{label_name}}={{label_value}}"), unit="cores", width=24)
        .build()
    )


def nodes() -> dict[str, Any]:
    inst = 'instance=~"$instance"'
    fs = f'{inst}, fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs"'
    return (
        _Board("nodes", "Nodes", "node_exporter (and the kubepulse system exporter): CPU, memory, disk, network and saturation per host.")
        .variable("instance", "label_values(node_uname_info, instance)", "Instance")
        .row("Utilisation")
        .graph("CPU utilisation", Q(f"instance:node_cpu_utilisation:rate5m{{{inst}}}", "{{instance}}"), unit="percentunit")
        .graph("CPU by mode", Q(f'sum by (mode) (rate(node_cpu_seconds_total{{{inst}, mode!="idle"}}[{RATE}]))', "{{mode}}"), unit="cores")
        .graph("Memory utilisation", Q(f"instance:node_memory_utilisation:ratio{{{inst}}}", "{{instance}}"), unit="percentunit")
        .graph("Filesystem used", Q(f"1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}", "{{instance}} {{mountpoint}}"), unit="percentunit")
        .row("Saturation and I/O")
        .graph("Load per CPU", Q(f'node_load1{{{inst}}} / on (instance) group_left count by (instance) (node_cpu_seconds_total{{{inst}, mode="idle"}})', "{{instance}} 1m"))
        .graph("Disk busy", Q(f"rate(node_disk_io_time_seconds_total{{{inst}}}[{RATE}])", "{{instance}} {{device}}"), unit="percentunit")
        .graph("Network", *_rx_tx(lambda d: f"sum by (instance) (rate(node_network_{d}_bytes_total{{{inst}}}[{RATE}]))", "{{instance}} "), unit="Bps")
        .graph("Major page faults", Q(f"rate(node_vmstat_pgmajfault{{{inst}}}[{RATE}])", "{{instance}}"), unit="ops")
        .row("Hosts with the kubepulse system exporter")
        .graph("CPU busy", Q('system_cpu_usage_ratio{job="kubepulse-system-exporter"}', "{{instance}}"), unit="percentunit")
        .graph("Memory used", Q('1 - system_memory_available_bytes{job="kubepulse-system-exporter"} / system_memory_total_bytes{job="kubepulse-system-exporter"}', "{{instance}}"), unit="percentunit")
        .graph("Load per CPU", Q('system_load1{job="kubepulse-system-exporter"} / system_cpus{job="kubepulse-system-exporter"}', "{{instance}} 1m"))
        .graph("Network", *_rx_tx(lambda d: f'sum by (instance) (rate(system_network_{d}_bytes_total{{job="kubepulse-system-exporter"}}[5m]))', "{{instance}} "), unit="Bps")
        .build()
    )


def golden_signals() -> dict[str, Any]:
    sel = 'namespace=~"$namespace"'
    return (
        _Board("golden-signals", "Application golden signals", "Latency, traffic, errors and saturation of apps instrumented with kubepulse.webapp.")
        .variable("namespace", "label_values(http_requests_total, namespace)", "Namespace")
        .row("Golden signals")
        .stat("Requests/s", f"sum(rate(http_requests_total{{{sel}}}[{RATE}]))", unit="reqps")
        .stat("Error ratio (5xx)", f'(sum(rate(http_requests_total{{{sel}, status=~"5.."}}[{RATE}])) or vector(0)) / sum(rate(http_requests_total{{{sel}}}[{RATE}]))', unit="percentunit")
        .stat("p99 latency", f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RATE}])))", unit="s")
        .stat("In flight", f"sum(http_requests_in_progress{{{sel}}})")
        .graph("Traffic by route", Q(f"sum by (route) (rate(http_requests_total{{{sel}}}[{RATE}]))", "{{route}}"), unit="reqps")
        .graph("Latency", *(Q(f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{RATE}])))", f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)), unit="s")
        .graph("Responses by status", Q(f"sum by (status) (rate(http_requests_total{{{sel}}}[{RATE}]))", "{{status}}"), unit="reqps")
        .graph("Requests in progress", Q(f"sum by (pod) (http_requests_in_progress{{{sel}}})", "{{pod}}"))
        .row("Per job (recording rules)")
        .graph("Error ratio by job", Q("job:http_requests_error_ratio:rate5m", "{{job}}"), unit="percentunit")
        .graph("p99 latency by route", Q("job_route:http_request_duration_seconds:p99_5m", "{{job}} {{route}}"), unit="s")
        .build()
    )


def pod_recovery() -> dict[str, Any]:
    ns = 'namespace=~"$namespace"'
    # Each series holds the last run's observations (the monitor replaces them every run), so
    # buckets are summed as they are, not rate()d; summing across namespaces keeps the quantiles
    # right when several are selected.
    return (
        _Board("pod-recovery", "Pod recovery", "Chaos runs: how long killed pods took to be rescheduled and Ready again (last run).")
        .variable("namespace", "label_values(kubepulse_pods_recovered_total, namespace)", "Namespace")
        .row("Last run")
        .stat("Recovered", f"sum(kubepulse_pods_recovered_total{{{ns}}})")
        .stat("Unrecovered", f"sum(kubepulse_pods_unrecovered_total{{{ns}}})")
        .stat("p90 recovery", f'histogram_quantile(0.9, sum by (le) (kubepulse_pod_recovery_seconds_bucket{{{ns}, phase="total"}}))', unit="s")
        .stat("Monitor errors", "sum(kubepulse_pod_monitor_errors_total)")
        .stat("Run age", "time() - max(kubepulse_pod_monitor_last_run_timestamp_seconds)", unit="s")
        .graph("Recovery time by phase (p50 / p90 / max bucket)", *(Q(f"histogram_quantile({q}, sum by (phase, le) (kubepulse_pod_recovery_seconds_bucket{{{ns}}}))", f"{{{{phase}}}} p{int(q * 100)}") for q in (0.5, 0.9)), unit="s")
        .graph("Pods recovered within (cumulative buckets)", Q(f'sum by (le) (kubepulse_pod_recovery_seconds_bucket{{{ns}, phase="total"}})', "≤ {{le}} s"))
        .graph("Recovered vs unrecovered by namespace", Q(f"sum by (namespace) (kubepulse_pods_recovered_total{{{ns}}})", "{{namespace}} recovered"), Q(f"sum by (namespace) (kubepulse_pods_unrecovered_total{{{ns}}})", "{{namespace}} unrecovered"))
        .build()
    )


def store_textfile() -> dict[str, Any]:
    path = 'path=~"$path"'
    return (
        _Board("store", "Store (textfile)", "The XML store's rows, exported through node_exporter's textfile collector by kubepulse textfile.")
        .variable("path", "label_values(store_total_rows, path)", "Store")
        .row("Store")
        .stat("Total rows", f"sum(store_total_rows{{{path}}})")
        .stat("Parse OK", f"min(store_parse_success{{{path}}})")
        .stat("Since last parse", f"time() - max(store_last_parse_timestamp_seconds{{{path}}})", unit="s")
        .stat("Store size", f"sum(store_file_size_bytes{{{path}}})", unit="bytes")
        .graph("Rows by type", Q(f"sum by (type) (store_rows{{{path}}})", "{{type}}"))
        .graph("Total rows", Q(f"store_total_rows{{{path}}}", "{{path}}"))
        .row("Textfile collector")
        .graph("Age of .prom files", Q("time() - node_textfile_mtime_seconds", "{{file}}"), unit="s")
        .graph("Textfile scrape errors", Q("max by (instance) (node_textfile_scrape_error)", "{{instance}}"))
        .build()
    )


def blackbox() -> dict[str, Any]:
    probes = 'job=~"blackbox-.*", instance=~"$instance"'
    return (
        _Board("blackbox", "Blackbox probes", "Services, Ingresses and hosts as users reach them: blackbox_exporter's probes.")
        .variable("instance", 'label_values(probe_success{job=~"blackbox-.*"}, instance)', "Target")
        .row("Probes")
        .stat("Probes", f"count(probe_success{{{probes}}})")
        .stat("Failing", f"count(probe_success{{{probes}}} == 0) or vector(0)")
        .stat("Slowest probe", f"max(probe_duration_seconds{{{probes}}})", unit="s")
        .stat("Earliest certificate expiry", f"min(probe_ssl_earliest_cert_expiry{{{probes}}}) - time()", unit="s")
        .graph("Success", Q(f"probe_success{{{probes}}}", "{{instance}}"))
        .graph("Probe duration", Q(f"probe_duration_seconds{{{probes}}}", "{{instance}}"), unit="s")
        .row("HTTP and TLS")
        .graph("HTTP status code", Q(f"probe_http_status_code{{{probes}}}", "{{instance}}"))
        .graph("HTTP phases", Q(f"sum by (instance, phase) (probe_http_duration_seconds{{{probes}}})", "{{instance}} {{phase}}"), unit="s")
        .graph("Certificate expiry", Q(f"probe_ssl_earliest_cert_expiry{{{probes}}} - time()", "{{instance}}"), unit="s")
        .build()
    )
# fmt: on


def build_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard, keyed by its file name in ``deploy/grafana/dashboards``."""
    from kubepulse.stack.dashboards_kubernetes import KUBERNETES_DASHBOARDS

    return {
        "cluster-overview.json": cluster_overview(),
        "workloads.json": workloads(),
        "nodes.json": nodes(),
        "golden-signals.json": golden_signals(),
        "pod-recovery.json": pod_recovery(),
        "store-textfile.json": store_textfile(),
        "blackbox.json": blackbox(),
        **{name: make() for name, make in KUBERNETES_DASHBOARDS.items()},
    }


def render(board: Mapping[str, Any]) -> str:
    """A dashboard's committed JSON text (stable key order, trailing newline)."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path | None = None) -> list[Path]:
    """Write every dashboard's JSON into ``directory`` (default ``deploy/grafana/dashboards``)."""
    directory = directory or deploy_dir() / "grafana" / "dashboards"
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, board in build_dashboards().items():
        path = directory / name
        path.write_text(render(board), encoding="utf-8")
        paths.append(path)
    return paths


def panel_queries(board: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel, rows included."""
    for panel in board.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                if target.get("expr"):
                    yield inner.get("title", ""), target["expr"]


def variable_queries(board: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(variable name, metric selector) for every ``label_values(SELECTOR, label)`` variable."""
    for variable in board.get("templating", {}).get("list", []):
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", str(variable.get("query", "")))
        if match:
            yield variable["name"], match.group(1)


def substitute(expr: str, variables: Mapping[str, str] | None = None) -> str:
    """``expr`` with ``$var`` / ``${var}`` replaced as Grafana would (default: every "All")."""
    values = {**DEFAULT_VARIABLES, **(variables or {})}
    return grafana_substitute(expr, values, strict=True)


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards, or with ``--check`` exit 1 if the committed JSON is stale."""
    return generated_main(
        argv,
        module="kubepulse.stack.dashboards",
        directory=deploy_dir() / "grafana" / "dashboards",
        texts=lambda: {name: render(board) for name, board in build_dashboards().items()},
    )


if __name__ == "__main__":
    sys.exit(main())
