"""``kubepulse exporter``: the exporters, each a sub-command imported only when run."""

from __future__ import annotations

import click

from kubepulse.cli import LazyGroup

EXPORTERS: dict[str, tuple[str, str]] = {
    "system": (
        "kubepulse.exporters.system:command",
        "Host CPU, memory, disk and network (psutil).",
    ),
    "cluster": (
        "kubepulse.exporters.cluster.cli:command",
        "kube-state-metrics-compatible cluster metrics.",
    ),
}


@click.group(
    cls=LazyGroup,
    commands=EXPORTERS,
    epilog="Example: kubepulse exporter system --web.listen-address 127.0.0.1:9999",
)
def exporter() -> None:
    """Run a Prometheus exporter (TLS and basic auth via --web.config.file)."""
