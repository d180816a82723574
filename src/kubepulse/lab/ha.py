"""Run highly available Prometheus and Alertmanager on loopback: replicas and a gossip cluster.

Each replica's config is ``kubepulse.stack.prometheus.replica_config`` of the cluster's: the
``replica`` external label (beside ``cluster``) and an alert relabelling that drops it, so the
alerts both replicas send are the same alert to Alertmanager.

- ``start_alertmanager_cluster`` starts Alertmanagers gossiping on 127.0.0.1 (every member lists
  every other as ``--cluster.peer``); the cluster shares silences and its notification log, so a
  notification goes out once however many members receive the alert, and the survivors go on
  sending when one dies.
- ``start_prometheus_replicas`` starts a cluster's replicas with the stack's config, all scraping
  the same targets and sending to every Alertmanager.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port, require_loopback
from kubepulse.lab.servers import start_prometheus, start_stack_alertmanager
from kubepulse.stack.prometheus import render_prometheus_config, replica_config

__all__ = [
    "alertmanager_cluster_args",
    "alertmanager_status",
    "reload",
    "start_alertmanager_cluster",
    "start_prometheus_replicas",
]


def alertmanager_cluster_args(
    gossip_ports: Sequence[int], member: int, *, peer_timeout: str = "2s"
) -> list[str]:
    """The ``--cluster.*`` flags of member ``member`` of a cluster gossiping on 127.0.0.1 at
    ``gossip_ports`` (one per member). ``peer_timeout`` is how long each member waits for the
    ones before it to notify (Alertmanager's default is 15 s)."""
    port = gossip_ports[member]
    return [
        f"--cluster.listen-address={LOOPBACK}:{port}",
        f"--cluster.advertise-address={LOOPBACK}:{port}",
        *(f"--cluster.peer={LOOPBACK}:{p}" for i, p in enumerate(gossip_ports) if i != member),
        f"--cluster.peer-timeout={peer_timeout}",
    ]


def start_alertmanager_cluster(
    group: ProcessGroup,
    workdir: Path,
    receiver_url: str,
    *,
    size: int = 2,
    clustered: bool = True,
    peer_timeout: str = "2s",
) -> list[str]:
    """Start ``size`` Alertmanagers with the stack's config, notifying ``receiver_url`` (see
    ``start_stack_alertmanager``); return their URLs. Processes are named ``alertmanager-N``
    and log at debug level (``Notify success`` lines say which member sent). With
    ``clustered=False`` they run side by side without gossip (each notifies on its own)."""
    gossip = [free_port() for _ in range(size)]
    urls = []
    for member in range(size):
        cluster = (
            alertmanager_cluster_args(gossip, member, peer_timeout=peer_timeout)
            if clustered
            else ["--cluster.listen-address="]
        )
        urls.append(
            start_stack_alertmanager(
                group,
                workdir / f"alertmanager-{member}",
                receiver_url,
                name=f"alertmanager-{member}",
                cluster_args=[*cluster, "--log.level=debug"],
            )
        )
    return urls


def alertmanager_status(alertmanager_url: str) -> dict[str, Any]:
    """Alertmanager's ``GET /api/v2/status`` (``cluster.status``, ``cluster.peers``, ...)."""
    url = require_loopback(alertmanager_url) + "/api/v2/status"
    with urllib.request.urlopen(url, timeout=5) as resp:
        status: dict[str, Any] = json.load(resp)
    return status


def start_prometheus_replicas(
    group: ProcessGroup,
    workdir: Path,
    *,
    cluster: str,
    replicas: Sequence[str],
    targets: Mapping[str, str],
    alertmanager_urls: Sequence[str],
    rule_files: Sequence[Path],
    static_targets: Mapping[str, str] | None = None,
    interval: str = "1s",
    retention: str = "1d",
) -> dict[str, str]:
    """Start one Prometheus per name in ``replicas`` for ``cluster``; return replica -> URL.

    Each runs the stack's config as the local overlay (``render_prometheus_config``) with
    ``targets`` (job -> loopback ``host:port``) shared by all replicas, except that its own
    ``prometheus`` job scrapes itself, and ``static_targets`` (job -> ``host:port``, jobs outside
    the stack's config, without discovery) are scraped by all replicas too; every replica sends
    alerts to every URL in ``alertmanager_urls``, re-sending firing alerts every second.
    Processes are named ``prometheus-CLUSTER-REPLICA``.
    """
    urls = {}
    for replica in replicas:
        port = free_port()
        config = render_prometheus_config(
            cluster=cluster,
            scrape_interval=interval,
            evaluation_interval=interval,
            targets={**targets, "prometheus": f"{LOOPBACK}:{port}"},
            alertmanagers=[urllib.parse.urlsplit(u).netloc for u in alertmanager_urls],
            rule_files=rule_files,
        )
        urls[replica] = start_prometheus(
            group,
            workdir / f"prometheus-{cluster}-{replica}",
            replica_config(config, replica, static_targets),
            port=port,
            retention=retention,
            # The default (1m) held a new alert back for longer than the tests wait.
            extra_args=["--rules.alert.resend-delay=1s"],
            name=f"prometheus-{cluster}-{replica}",
        )
    return urls


def reload(prometheus_url: str) -> None:
    """``POST /-/reload``: Prometheus re-reads its config and rule files."""
    request = urllib.request.Request(require_loopback(prometheus_url) + "/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()
