"""What the demo reports at the end: the summary text, and the peak memory of all it ran."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from kubepulse.demo.components import Component

__all__ = ["MemorySampler", "empty_panels", "human_bytes", "summary_lines"]


class MemorySampler:
    """Samples the summed RSS of the demo and every process it started, keeping the peak.

    kwokctl starts the cluster's components as daemons outside our process tree, so their pids
    are added explicitly (``extra_pids``).
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak = 0
        self.extra_pids: Callable[[], list[int]] = list
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory", daemon=True)

    def sample(self) -> int:
        me = psutil.Process()
        procs = {me.pid: me}
        with contextlib.suppress(psutil.Error):
            procs.update({p.pid: p for p in me.children(recursive=True)})
        for pid in self.extra_pids():
            with contextlib.suppress(psutil.Error):
                daemon = psutil.Process(pid)
                procs[pid] = daemon
                procs.update({p.pid: p for p in daemon.children(recursive=True)})
        total = 0
        for proc in procs.values():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        self.peak = max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def empty_panels(dashboards: dict[str, list[dict[str, Any]]]) -> list[str]:
    """``dashboard / title`` of every drawn panel whose queries returned no series."""
    return [
        f"{name} / {panel['title']}"
        for name, panels in dashboards.items()
        for panel in panels
        if panel["series"] == 0
    ]


def summary_lines(data: dict[str, Any], missing: Sequence[Component], out: Path) -> list[str]:
    """The summary printed at the end of a run, from ``summary.json``'s ``data``; ``missing``:
    the components that did not run, ``out`` the output directory."""
    lines = ["", "kubepulse demo: summary", ""]
    lines.append(f"targets: {data['targets_up']} up, {data['targets_down']} down")
    for t in data["targets"]:
        lines.append(
            f"  {t['health']:5} {t['job']:38} {t['scrape_url']}"
            + (f"  ({t['pod']})" if t["pod"] else "")
            + (f"  {t['last_error']}" if t["last_error"] else "")
        )
    lines.append("")
    lines.append(f"alerts firing in Prometheus: {len(data['alerts_firing'])}")
    for labels in data["alerts_firing"]:
        subject = ", ".join(
            f"{k}={labels[k]}"
            for k in (
                *("namespace", "deployment", "statefulset", "pod", "job", "job_name"),
                *("horizontalpodautoscaler", "persistentvolumeclaim", "service", "instance"),
            )
            if k in labels
        )
        lines.append(
            f"  {labels.get('alertname', '?'):34} {labels.get('severity', ''):9} {subject}"
        )
    received = sorted({a["labels"].get("alertname", "?") for a in data["notifications"]})
    lines.append(f"at the webhook receiver: {', '.join(received) or 'nothing yet'}")
    lines.append("")
    recovery = data["recovery"] or {"recovered": [], "unrecovered": [], "error": "not run"}
    lines.append(
        f"pod recovery: {len(recovery['recovered'])} recovered, "
        f"{len(recovery['unrecovered'])} unrecovered"
    )
    lines.append(
        f"  {'killed pod':32} {'replacement':32} {'rescheduling':>12} {'readiness':>10} "
        f"{'total':>8}"
    )
    for pod in recovery["recovered"]:
        name = f"{pod['namespace']}/{pod['killed_pod_name'] or pod['pod_name']}"
        lines.append(
            f"  {name:32} {pod['replacement_name'] or '':32} "
            f"{pod['pod_rescheduling_time']:10.2f} s {pod['pod_readiness_time']:8.2f} s "
            f"{pod['total_recovery_time']:6.2f} s"
        )
    for pod in recovery["unrecovered"]:
        name = f"{pod['namespace']}/{pod['killed_pod_name'] or pod['pod_name']}"
        replacement = pod["replacement_name"] or "-"
        lines.append(f"  {name:32} {replacement:32} not Ready in time")
    if recovery["error"]:
        lines.append(f"  error: {recovery['error']}")
    if data["dashboards"]:
        empty = empty_panels(data["dashboards"])
        drawn = sum(len(panels) for panels in data["dashboards"].values())
        lines.append("")
        lines.append(
            f"dashboards: {drawn} panels drawn, {len(empty)} with no data"
            + (f" ({', '.join(empty)})" if empty else "")
        )
    lines.append("")
    lines.append("URLs:")
    for name, url in data["urls"].items():
        lines.append(f"  {name:22} {url}")
    for component in missing:
        lines.append(f"  {component.name:22} ({component.status}: {component.detail})")
    lines.append("")
    lines.append(
        f"peak memory: {human_bytes(data['peak_memory_bytes'])} "
        "(summed RSS of the demo and every process it started, sampled every 0.5 s)"
    )
    lines.append(f"output: {out}/ (summary.json, recovery-report.html, dashboards/, logs/)")
    lines.append("")
    for name, ok in data["checks"].items():
        lines.append(f"  [{'ok' if ok else 'FAILED'}] {name}")
    return lines
