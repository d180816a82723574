"""Helpers for the pod monitor tests: where its metrics outputs are read back.

(A uniquely named module, not conftest: test directories share one ``conftest`` module name.)
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from kubepulse.processes import ProcessGroup, free_port

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
            "prometheus-node-exporter",
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
