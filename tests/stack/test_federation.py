"""The global Prometheus (``deploy/prometheus/global/prometheus.yml``) federates two real clusters'
Prometheus servers, each cluster run as two replicas scraping the same target.

Two "clusters", ``east`` and ``west``, each have a kubepulse system exporter and two Prometheus
replicas (``a``, ``b``) with the stack's config and rules, both scraping it (external labels
``cluster`` and ``replica``). The global Prometheus runs the committed federation job with its
connection settings (https, basic auth, example hosts) replaced by the loopback address of each
cluster's replica ``a``, as a load-balanced Service would give one replica per cluster. Releases
are the ones the Helm chart deploys.
"""

from __future__ import annotations

import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kubepulse.lab.ha import start_prometheus_replicas
from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.servers import query, start_prometheus, wait_until
from kubepulse.stack.prometheus import render_global_config, render_rule_files

CLUSTERS = ("east", "west")
# A job outside the stack's config (whose exporter jobs all discover through Kubernetes).
SYSTEM_JOB = "system"
KUBEPULSE = (sys.executable, "-m", "kubepulse")


@dataclass(frozen=True)
class Lab:
    exporters: dict[str, str]  # cluster -> host:port of its system exporter
    replicas: dict[str, dict[str, str]]  # cluster -> replica -> URL
    global_url: str


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("federation")
    rules = render_rule_files(tmp / "rules")
    with ProcessGroup(tmp / "logs") as group:
        exporters, replicas = {}, {}
        for cluster in CLUSTERS:
            port = free_port()
            group.start(
                f"system-exporter-{cluster}",
                [*KUBEPULSE, "exporter", "system", "--web.listen-address", f"{LOOPBACK}:{port}"],
                ready_url=f"http://{LOOPBACK}:{port}/healthz",
            )
            exporters[cluster] = f"{LOOPBACK}:{port}"
            replicas[cluster] = start_prometheus_replicas(
                group,
                tmp,
                cluster=cluster,
                replicas=["a", "b"],
                targets={},
                static_targets={SYSTEM_JOB: exporters[cluster]},
                alertmanager_urls=[],
                rule_files=rules,
                interval="2s",
            )
        config = render_global_config([replicas[c]["a"] for c in CLUSTERS], scrape_interval="2s")
        global_url = start_prometheus(group, tmp / "global", config, name="prometheus-global")
        yield Lab(exporters, replicas, global_url)


def _up(url: str, job: str) -> set[tuple[str, str, str, str]]:
    return {
        (s["metric"]["cluster"], s["metric"]["replica"], s["metric"]["instance"], s["value"][1])
        for s in query(url, f'up{{job="{job}"}}')
    }


def test_both_replicas_of_a_cluster_scrape_the_same_target(lab: Lab) -> None:
    """Each replica scrapes its cluster's one exporter, and what it serves to federation carries
    its own ``cluster`` and ``replica`` external labels."""
    for cluster in CLUSTERS:
        for replica, url in lab.replicas[cluster].items():
            wait_until(lambda u=url: query(u, f'up{{job="{SYSTEM_JOB}"}} == 1'), 30, what="up")
            params = urllib.parse.urlencode({"match[]": f'up{{job="{SYSTEM_JOB}"}}'})
            with urllib.request.urlopen(f"{url}/federate?{params}", timeout=10) as resp:
                lines = [ln for ln in resp.read().decode().splitlines() if ln.startswith("up{")]
            assert len(lines) == 1
            labels = dict(re.findall(r'(\w+)="([^"]*)"', lines[0].split("}")[0]))
            assert labels == {
                "cluster": cluster,
                "replica": replica,
                "job": SYSTEM_JOB,
                "instance": lab.exporters[cluster],
            }


def test_global_prometheus_holds_both_clusters_series(lab: Lab) -> None:
    def federated() -> set[tuple[str, str, str, str]]:
        got = _up(lab.global_url, SYSTEM_JOB)
        return got if len(got) == 2 else set()

    got = wait_until(federated, 60, what="both clusters' exporters federated")
    assert got == {
        ("east", "a", lab.exporters["east"], "1"),
        ("west", "a", lab.exporters["west"], "1"),
    }
    # Each cluster's replica a scrapes itself too; honor_labels keeps its job and instance.
    # (Federated at the global server's next scrape of each cluster: waited for, not assumed.)
    selves = {(c, "a", lab.replicas[c]["a"].removeprefix("http://"), "1") for c in CLUSTERS}

    def federated_selves() -> set[tuple[str, str, str, str]]:
        got = _up(lab.global_url, "prometheus")
        return got if len(got) == len(selves) else set()

    assert wait_until(federated_selves, 30, what="both clusters' Prometheus federated") == selves

    # The stack's Watchdog fires in each cluster: its ALERTS series arrive with their cluster.
    # (Each cluster evaluates its rules, and is federated, at its own moment: both waited for.)
    def watchdogs() -> list[str]:
        found = query(lab.global_url, 'ALERTS{alertname="Watchdog", alertstate="firing"}')
        clusters = sorted(s["metric"]["cluster"] for s in found)
        return clusters if len(clusters) >= len(CLUSTERS) else []

    assert wait_until(watchdogs, 60, what="Watchdog federated from both") == ["east", "west"]


def test_global_prometheus_pulls_only_what_match_selects(lab: Lab) -> None:
    """Control: a raw series the clusters hold (``prometheus_build_info``) is not in the match[]
    list, so the global Prometheus, which federates and scrapes nothing else, does not have it."""
    wait_until(lambda: _up(lab.global_url, SYSTEM_JOB), 60, what="federation running")
    assert len(query(lab.replicas["east"]["a"], "prometheus_build_info")) == 1
    assert query(lab.global_url, "prometheus_build_info") == []
    assert query(lab.global_url, f'count(up{{job="{SYSTEM_JOB}", replica="b"}})') == []
