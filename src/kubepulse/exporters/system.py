"""``kubepulse exporter system``: host CPU, load, memory, swap, filesystems and network (seed 004).

Every value is read from psutil when Prometheus scrapes (a custom collector), never by a
background loop, so a scrape never returns stale numbers and an idle exporter does no work. One
scrape reads a handful of /proc files and one ``statvfs`` per mount: a millisecond or two
(``benchmarks/system_exporter``).

Names follow Prometheus conventions: base units, ``_bytes``, ``_seconds``, counters end in
``_total``. CPU time is a counter per CPU and mode, so ``rate()`` gives usage over any window;
``system_cpu_usage_ratio`` (the seed's "CPU usage") is the busy fraction since the previous
scrape, for people who want a ready-made gauge.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import click
import psutil
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from kubepulse.exposition.server import (
    ExporterServer,
    WebConfig,
    prometheus_client_handler,
    web_options,
)

__all__ = ["SystemCollector", "command", "make_registry"]

DEFAULT_LISTEN = ":9999"
# Guest time is already counted in user and nice (as in /proc/stat), so it is not a mode of its own.
_NOT_MODES = frozenset({"guest", "guest_nice"})
_IDLE_MODES = frozenset({"idle", "iowait"})
# Pseudo and container filesystems say nothing about the host's disks; node_exporter skips them too.
_SKIP_FSTYPES = frozenset(
    {"autofs", "binfmt_misc", "cgroup", "cgroup2", "devpts", "mqueue", "nsfs", "overlay", "proc",
     "squashfs", "sysfs", "tracefs", "fusectl", "securityfs", "pstore", "bpf", "configfs",
     "debugfs", "devtmpfs", "hugetlbfs", "rpc_pipefs", "tmpfs", "ramfs"}
)  # fmt: skip


def _busy_total(times: Any) -> tuple[float, float]:
    fields = times._asdict()
    total = sum(v for k, v in fields.items() if k not in _NOT_MODES)
    idle = sum(fields.get(k, 0.0) for k in _IDLE_MODES)
    return total - idle, total


class SystemCollector(Collector):
    """Reads the host's state at each ``collect()``; thread-safe (scrapes may overlap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_total = _busy_total(psutil.cpu_times())
        self._last_per_cpu = [_busy_total(t) for t in psutil.cpu_times(percpu=True)]

    def _usage(self, now: tuple[float, float], before: tuple[float, float]) -> float:
        busy, total = now[0] - before[0], now[1] - before[1]
        return min(1.0, max(0.0, busy / total)) if total > 0 else 0.0

    def collect(self) -> Iterator[Metric]:
        start = time.perf_counter()
        yield from self._cpu()
        yield from self._load()
        yield from self._memory()
        yield from self._filesystems()
        yield from self._network()
        boot = GaugeMetricFamily(
            "system_boot_time_seconds", "Unix time the host booted.", value=psutil.boot_time()
        )
        yield boot
        yield GaugeMetricFamily(
            "kubepulse_system_collect_duration_seconds",
            "Time this scrape spent reading the host's state.",
            value=time.perf_counter() - start,
        )

    def _cpu(self) -> Iterator[Metric]:
        per_cpu = psutil.cpu_times(percpu=True)
        seconds = CounterMetricFamily(
            "system_cpu_seconds",
            "CPU time spent in each mode, per logical CPU.",
            labels=["cpu", "mode"],
        )
        usage = GaugeMetricFamily(
            "system_cpu_core_usage_ratio",
            "Busy fraction (0-1) of each logical CPU since the previous scrape.",
            labels=["cpu"],
        )
        now_per_cpu = [_busy_total(t) for t in per_cpu]
        now_total = _busy_total(psutil.cpu_times())
        with self._lock:
            before_per_cpu, self._last_per_cpu = self._last_per_cpu, now_per_cpu
            before_total, self._last_total = self._last_total, now_total
        for i, times in enumerate(per_cpu):
            cpu = str(i)
            for mode, value in times._asdict().items():
                if mode not in _NOT_MODES:
                    seconds.add_metric([cpu, mode], value)
            if i < len(before_per_cpu):
                usage.add_metric([cpu], self._usage(now_per_cpu[i], before_per_cpu[i]))
        yield seconds
        yield usage
        yield GaugeMetricFamily(
            "system_cpu_usage_ratio",
            "Busy fraction (0-1) of all CPUs together since the previous scrape.",
            value=self._usage(now_total, before_total),
        )
        yield GaugeMetricFamily("system_cpus", "Logical CPUs.", value=len(per_cpu))

    def _load(self) -> Iterator[Metric]:
        load1, load5, load15 = os.getloadavg()
        yield GaugeMetricFamily("system_load1", "1-minute load average.", value=load1)
        yield GaugeMetricFamily("system_load5", "5-minute load average.", value=load5)
        yield GaugeMetricFamily("system_load15", "15-minute load average.", value=load15)

    def _memory(self) -> Iterator[Metric]:
        mem = psutil.virtual_memory()
        for field, help_text in (
            ("total", "Physical memory."),
            ("available", "Memory available to start new programs without swapping."),
            ("used", "Memory in use (total - free - buffers - cache on Linux)."),
            ("free", "Memory not used at all."),
            ("buffers", "Memory in kernel buffers."),
            ("cached", "Memory in the page cache."),
        ):
            value = getattr(mem, field, None)
            if value is not None:
                yield GaugeMetricFamily(f"system_memory_{field}_bytes", help_text, value=value)
        swap = psutil.swap_memory()
        yield GaugeMetricFamily("system_swap_total_bytes", "Swap space.", value=swap.total)
        yield GaugeMetricFamily("system_swap_used_bytes", "Swap space in use.", value=swap.used)
        yield GaugeMetricFamily("system_swap_free_bytes", "Swap space free.", value=swap.free)
        yield CounterMetricFamily(
            "system_swap_in_bytes", "Bytes swapped in from disk since boot.", value=swap.sin
        )
        yield CounterMetricFamily(
            "system_swap_out_bytes", "Bytes swapped out to disk since boot.", value=swap.sout
        )

    def _filesystems(self) -> Iterator[Metric]:
        labels = ["mountpoint", "device", "fstype"]
        size = GaugeMetricFamily("system_filesystem_size_bytes", "Filesystem size.", labels=labels)
        used = GaugeMetricFamily(
            "system_filesystem_used_bytes", "Filesystem space in use.", labels=labels
        )
        free = GaugeMetricFamily(
            "system_filesystem_free_bytes", "Filesystem free space (root included).", labels=labels
        )
        avail = GaugeMetricFamily(
            "system_filesystem_avail_bytes",
            "Filesystem space available to non-root users.",
            labels=labels,
        )
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _SKIP_FSTYPES or part.mountpoint in seen:
                continue
            seen.add(part.mountpoint)
            try:
                st = os.statvfs(part.mountpoint)
            except OSError:
                # Unmounted since listing, or not ours to read: leave it out of this scrape.
                continue
            values = [part.mountpoint, part.device, part.fstype]
            size.add_metric(values, st.f_blocks * st.f_frsize)
            used.add_metric(values, (st.f_blocks - st.f_bfree) * st.f_frsize)
            free.add_metric(values, st.f_bfree * st.f_frsize)
            avail.add_metric(values, st.f_bavail * st.f_frsize)
        yield from (size, used, free, avail)

    def _network(self) -> Iterator[Metric]:
        counters = psutil.net_io_counters(pernic=True)
        families = [
            ("receive_bytes", "bytes_recv", "Bytes received."),
            ("transmit_bytes", "bytes_sent", "Bytes sent."),
            ("receive_packets", "packets_recv", "Packets received."),
            ("transmit_packets", "packets_sent", "Packets sent."),
            ("receive_errors", "errin", "Receive errors."),
            ("transmit_errors", "errout", "Transmit errors."),
            ("receive_drop", "dropin", "Incoming packets dropped."),
            ("transmit_drop", "dropout", "Outgoing packets dropped."),
        ]
        for name, attr, help_text in families:
            family = CounterMetricFamily(
                f"system_network_{name}", f"{help_text} per network interface.", labels=["device"]
            )
            for device, c in counters.items():
                family.add_metric([device], getattr(c, attr))
            yield family


def make_registry(process_metrics: bool = True) -> CollectorRegistry:
    """A registry with the system collector (and the exporter's own process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector())
    if process_metrics:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


@click.command(
    epilog="""\b
Example:
  kubepulse exporter system --web.listen-address 127.0.0.1:9999
  curl -s http://127.0.0.1:9999/metrics | grep system_memory
  kubepulse exporter system --web.config.file web.yml   # TLS and basic auth
"""
)
@web_options(DEFAULT_LISTEN)
@click.option(
    "--no-process-metrics",
    is_flag=True,
    help="Leave out the exporter's own process_*, python_* metrics.",
)
def command(listen_address: str, web_config: WebConfig | None, no_process_metrics: bool) -> None:
    """Serve host CPU, load, memory, swap, filesystem and network metrics on /metrics.

    Values are read at scrape time (never stale). /healthz answers "ok".
    """
    registry = make_registry(process_metrics=not no_process_metrics)
    try:
        server = ExporterServer(
            {"/metrics": prometheus_client_handler(registry)}, listen_address, web_config
        )
    except OSError as exc:
        click.echo(f"kubepulse exporter system: cannot listen on {listen_address}: {exc}", err=True)
        sys.exit(1)
    host = listen_address.rpartition(":")[0] or "all interfaces"
    click.echo(
        f"kubepulse exporter system: serving {server.url.split(':')[0]} on {host} "
        f"port {server.port} (/metrics, /healthz)",
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
