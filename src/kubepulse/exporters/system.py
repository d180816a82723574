"""``kubepulse exporter system``: host CPU, load, memory, swap, filesystems and network.

Every value is read from psutil when Prometheus scrapes (a custom collector), never by a
background loop, so a scrape never returns stale numbers and an idle exporter does no work. One
scrape reads a handful of /proc files and one ``statvfs`` per mount: a millisecond or two
(``benchmarks/system_exporter``).

Names follow Prometheus conventions: base units, ``_bytes``, ``_seconds``, counters end in
``_total``. CPU time is a counter per CPU and mode, so ``rate()`` gives usage over any window;
``system_cpu_usage_ratio`` (a plain "CPU usage" figure) is the busy fraction since the previous
scrape, for people who want a ready-made gauge.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import click
import psutil
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from kubepulse.exposition.options import web_options
from kubepulse.exposition.server import (
    ExporterServer,
    Handler,
    Request,
    Response,
    WebConfig,
    server_metrics,
)
from kubepulse.exposition.text import CONTENT_TYPE, Family, sample

__all__ = ["SystemCollector", "command", "make_registry", "metrics_handler"]

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


Samples = list[tuple[tuple[tuple[str, str], ...], float]]


class SystemCollector(Collector):
    """Reads the host's state at each scrape; thread-safe (scrapes may overlap).

    ``render()`` is the exporter's fast path: text format 0.0.4 through
    ``kubepulse.exposition.text``, a few times cheaper than ``prometheus_client``'s generic
    exposition. ``collect()`` yields the same values for use in any ``prometheus_client`` registry.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_total = _busy_total(psutil.cpu_times())
        self._last_per_cpu = [_busy_total(t) for t in psutil.cpu_times(percpu=True)]

    def _usage(self, now: tuple[float, float], before: tuple[float, float]) -> float:
        busy, total = now[0] - before[0], now[1] - before[1]
        return min(1.0, max(0.0, busy / total)) if total > 0 else 0.0

    def read(self) -> list[tuple[Family, Samples]]:
        """Every family with its samples, read from the host now."""
        start = time.perf_counter()
        out: list[tuple[Family, Samples]] = []
        self._cpu(out)
        load1, load5, load15 = os.getloadavg()
        out.append((Family("system_load1", "1-minute load average."), [((), load1)]))
        out.append((Family("system_load5", "5-minute load average."), [((), load5)]))
        out.append((Family("system_load15", "15-minute load average."), [((), load15)]))
        self._memory(out)
        self._filesystems(out)
        self._network(out)
        out.append(
            (
                Family("system_boot_time_seconds", "Unix time the host booted."),
                [((), psutil.boot_time())],
            )
        )
        out.append(
            (
                Family(
                    "kubepulse_system_collect_duration_seconds",
                    "Time this scrape spent reading the host's state.",
                ),
                [((), time.perf_counter() - start)],
            )
        )
        return out

    def render(self) -> bytes:
        """The families in text format 0.0.4."""
        parts: list[str] = []
        for family, samples in self.read():
            parts.append(family.header)
            parts.extend(sample(family.name, labels, value) for labels, value in samples)
        return "".join(parts).encode()

    def collect(self) -> Iterator[Metric]:
        for family, samples in self.read():
            counter = family.type == "counter"
            metric = Metric(
                family.name.removesuffix("_total") if counter else family.name,
                family.help,
                family.type,
            )
            for labels, value in samples:
                metric.add_sample(family.name, dict(labels), value)
            yield metric

    def _cpu(self, out: list[tuple[Family, Samples]]) -> None:
        per_cpu = psutil.cpu_times(percpu=True)
        now_per_cpu = [_busy_total(t) for t in per_cpu]
        now_total = _busy_total(psutil.cpu_times())
        with self._lock:
            before_per_cpu, self._last_per_cpu = self._last_per_cpu, now_per_cpu
            before_total, self._last_total = self._last_total, now_total
        seconds: Samples = []
        usage: Samples = []
        for i, times in enumerate(per_cpu):
            cpu = str(i)
            for mode, value in times._asdict().items():
                if mode not in _NOT_MODES:
                    seconds.append(((("cpu", cpu), ("mode", mode)), value))
            if i < len(before_per_cpu):
                usage.append(((("cpu", cpu),), self._usage(now_per_cpu[i], before_per_cpu[i])))
        out.append(
            (
                Family(
                    "system_cpu_seconds_total",
                    "CPU time spent in each mode, per logical CPU.",
                    "counter",
                ),
                seconds,
            )
        )
        out.append(
            (
                Family(
                    "system_cpu_core_usage_ratio",
                    "Busy fraction (0-1) of each logical CPU since the previous scrape.",
                ),
                usage,
            )
        )
        out.append(
            (
                Family(
                    "system_cpu_usage_ratio",
                    "Busy fraction (0-1) of all CPUs together since the previous scrape.",
                ),
                [((), self._usage(now_total, before_total))],
            )
        )
        out.append((Family("system_cpus", "Logical CPUs."), [((), len(per_cpu))]))

    def _memory(self, out: list[tuple[Family, Samples]]) -> None:
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
                out.append((Family(f"system_memory_{field}_bytes", help_text), [((), value)]))
        swap = psutil.swap_memory()
        out.append((Family("system_swap_total_bytes", "Swap space."), [((), swap.total)]))
        out.append((Family("system_swap_used_bytes", "Swap space in use."), [((), swap.used)]))
        out.append((Family("system_swap_free_bytes", "Swap space free."), [((), swap.free)]))
        out.append(
            (
                Family("system_swap_in_bytes_total", "Bytes swapped in since boot.", "counter"),
                [((), swap.sin)],
            )
        )
        out.append(
            (
                Family("system_swap_out_bytes_total", "Bytes swapped out since boot.", "counter"),
                [((), swap.sout)],
            )
        )

    def _filesystems(self, out: list[tuple[Family, Samples]]) -> None:
        size: Samples = []
        used: Samples = []
        free: Samples = []
        avail: Samples = []
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
            labels = (
                ("mountpoint", part.mountpoint),
                ("device", part.device),
                ("fstype", part.fstype),
            )
            size.append((labels, st.f_blocks * st.f_frsize))
            used.append((labels, (st.f_blocks - st.f_bfree) * st.f_frsize))
            free.append((labels, st.f_bfree * st.f_frsize))
            avail.append((labels, st.f_bavail * st.f_frsize))
        out.append((Family("system_filesystem_size_bytes", "Filesystem size."), size))
        out.append((Family("system_filesystem_used_bytes", "Filesystem space in use."), used))
        out.append(
            (Family("system_filesystem_free_bytes", "Filesystem free space (root included)."), free)
        )
        out.append(
            (
                Family(
                    "system_filesystem_avail_bytes", "Filesystem space available to non-root users."
                ),
                avail,
            )
        )

    def _network(self, out: list[tuple[Family, Samples]]) -> None:
        counters = psutil.net_io_counters(pernic=True)
        for name, attr, help_text in _NETWORK:
            family = Family(
                f"system_network_{name}_total", f"{help_text} per network interface.", "counter"
            )
            out.append(
                (family, [((("device", dev),), getattr(c, attr)) for dev, c in counters.items()])
            )


_NETWORK = (
    ("receive_bytes", "bytes_recv", "Bytes received"),
    ("transmit_bytes", "bytes_sent", "Bytes sent"),
    ("receive_packets", "packets_recv", "Packets received"),
    ("transmit_packets", "packets_sent", "Packets sent"),
    ("receive_errors", "errin", "Receive errors"),
    ("transmit_errors", "errout", "Transmit errors"),
    ("receive_drop", "dropin", "Incoming packets dropped"),
    ("transmit_drop", "dropout", "Outgoing packets dropped"),
)


def metrics_handler(process_metrics: bool = True) -> Handler:
    """The exporter's /metrics: the system families via ``render()``, then (optionally) the
    exporter's own process_*, python_* metrics from ``prometheus_client``'s collectors."""
    collector = SystemCollector()
    own = CollectorRegistry(auto_describe=False)
    if process_metrics:
        ProcessCollector(registry=own)
        PlatformCollector(registry=own)
        GCCollector(registry=own)
        own.register(server_metrics())  # kubepulse_http_*: connections, refusals, auth limits

    def handle(request: Request) -> Response:
        chunks = [collector.render()]
        if process_metrics:
            chunks.append(generate_latest(own))
        return Response(200, chunks, CONTENT_TYPE)

    return handle


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
    handler = metrics_handler(process_metrics=not no_process_metrics)
    try:
        server = ExporterServer({"/metrics": handler}, listen_address, web_config)
    except OSError as exc:
        click.echo(f"kubepulse exporter system: cannot listen on {listen_address}: {exc}", err=True)
        sys.exit(1)
    host = listen_address.rpartition(":")[0] or "all interfaces"
    click.echo(
        f"kubepulse exporter system: serving {server.url.split(':')[0]} on {host} "
        f"port {server.port} (/metrics, /healthz)",
        err=True,
    )
    # SIGTERM (systemd, Kubernetes) stops it like Ctrl-C: listening socket closed, exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
