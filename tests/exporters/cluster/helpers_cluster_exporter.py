"""Shared helpers for the cluster exporter tests: applying objects; scraping, parsing /metrics."""

from __future__ import annotations

import gzip
import json
import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_until as wait_until  # re-exported for the cluster exporter tests

from kubepulse.lab.cluster import Cluster, ClusterError

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]

# A crash-looping Deployment pod as the API server returns it, shared by the store tests.
CRASHLOOP_POD: dict[str, Any] = {
    "metadata": {
        "name": "api-7d9f-x2k",
        "namespace": "shop",
        "uid": "0b7c5e8e-1111-4a2b-9c3d-5e6f7a8b9c0d",
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": {"app": "api", "team": 'pay"ments\\'},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "api-7d9f",
                "uid": "r1",
                "controller": True,
            }
        ],
    },
    "spec": {
        "nodeName": "node-1",
        "containers": [
            {
                "name": "app",
                "image": "registry.example/api:2",
                "resources": {
                    "requests": {"cpu": "100m", "memory": "1Gi", "nvidia.com/gpu": "1"},
                    "limits": {"cpu": "1500m", "ephemeral-storage": "2G"},
                },
            },
        ],
    },
    "status": {
        "phase": "Running",
        "hostIP": "10.0.0.5",
        "podIP": "10.1.2.3",
        "startTime": "2026-01-02T03:04:06Z",
        "conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-02T03:04:07Z"},
            {"type": "ContainersReady", "status": "False"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "containerStatuses": [
            {
                "name": "app",
                "ready": False,
                "restartCount": 7,
                "image": "registry.example/api:2",
                "imageID": "sha256:abc",
                "containerID": "containerd://c1",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 2}},
            },
        ],
    },
}


def apply(cluster: Cluster, namespace: str, *objects: dict[str, Any]) -> None:
    """kubectl apply; retried while a new namespace's default ServiceAccount is not made yet."""
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    deadline = time.monotonic() + 30
    while True:
        try:
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=doc)
            return
        except ClusterError as exc:
            if "serviceaccount" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def fetch(
    url: str, gzip_ok: bool = False, timeout: float = 10, accept: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url)
    if accept:
        request.add_header("Accept", accept)
    if gzip_ok:
        request.add_header("Accept-Encoding", "gzip")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            return response.status, body, headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), {}


def parse(text: str) -> Series:
    """Every sample as (name, labels) → value; raises if the text does not parse."""
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in series, f"duplicate series {key}"
            series[key] = s.value
    return series


def scrape(url: str) -> Series:
    status, body, _ = fetch(url + "/metrics")
    assert status == 200, body[:200]
    return parse(body.decode())


def select(series: Series, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return {lbl: v for (n, lbl), v in series.items() if n == name and want <= lbl}


def value(series: Series, name: str, **labels: str) -> float | None:
    found = select(series, name, **labels)
    assert len(found) <= 1, f"{name}{labels}: {len(found)} series"
    return next(iter(found.values())) if found else None


Keyed = dict[tuple[str, frozenset[tuple[str, str]]], float]


def assert_same_series(theirs: Keyed, ours: Keyed, title: str) -> None:
    """Print the parity figure (series equal / KSM's) and fail on any missing, extra or
    different series, listing the first 40 of each."""
    equal = sum(1 for k, v in theirs.items() if ours.get(k) == v)
    missing = sorted(k for k in theirs if k not in ours)
    extra = sorted(k for k in ours if k not in theirs)
    differ = sorted(k for k in theirs if k in ours and ours[k] != theirs[k])
    families = {name for name, _ in theirs}
    print(
        f"\n{title}: {equal}/{len(theirs)} series equal "
        f"({100 * equal / max(len(theirs), 1):.1f} %), {len(families)} families, "
        f"{len(extra)} extra"
    )

    def show(keys: list[tuple[str, frozenset[tuple[str, str]]]]) -> str:
        return "\n".join(
            f"  {n}{dict(sorted(lbl))} ksm={theirs.get((n, lbl))} ours={ours.get((n, lbl))}"
            for n, lbl in keys[:40]
        )

    assert not missing and not extra and not differ, (
        f"missing ({len(missing)}):\n{show(missing)}\nextra ({len(extra)}):\n{show(extra)}\n"
        f"different ({len(differ)}):\n{show(differ)}"
    )


def table_series(
    module: Any, obj: dict[str, Any], labels: tuple[str, ...] | None = None
) -> list[str]:
    """A kind table's exposition lines for one object (headers aside), sorted: the table-driven
    tests' view, as KSM's ``*_test.go`` compare them."""
    from kubepulse.exporters.cluster.store import KindStore

    store = KindStore("x", module.families(labels), module.prefix)
    store.apply([obj], (), True)
    text = b"".join(store.chunks()).decode()
    return sorted(line for line in text.splitlines() if line and not line.startswith("#"))


# A kind table's case: what it shows (the test id), the kind module, the API object, the labels
# allowlist, and the object's exact series (any order).
SeriesCase = tuple[str, Any, dict[str, Any], tuple[str, ...] | None, list[str]]


def series_cases(cases: list[SeriesCase]) -> pytest.MarkDecorator:
    """Parametrize a test's ``module, obj, labels, expected`` with ``cases``, named by their ids;
    the test asserts ``table_series(module, obj, labels) == sorted(expected)``."""
    return pytest.mark.parametrize(
        ("module", "obj", "labels", "expected"),
        [pytest.param(m, o, lab, e, id=i) for i, m, o, lab, e in cases],
    )


def epoch(text: str) -> int:
    """RFC 3339 → Unix seconds, independently of the exporter's own parser."""
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def start_side_by_side(group: Any, flags: list[str]) -> dict[str, int]:
    """Start the real kube-state-metrics and kubepulse's cluster exporter with the same
    ``flags`` (kubeconfig included), on loopback; return their ports (``ksm``, ``ksm-tel``,
    ``kp``, ``kp-tel``)."""
    import sys
    from pathlib import Path

    from kubepulse.lab.cluster.binaries import ensure_kube_state_metrics
    from kubepulse.lab.processes import free_port

    ports = {name: free_port() for name in ("ksm", "ksm-tel", "kp", "kp-tel")}
    # name: argv, port key, readiness URL (KSM answers its telemetry /metrics once up, before
    # it has listed everything: both are compared until they agree anyway).
    programs = {
        "kube-state-metrics": (
            [str(ensure_kube_state_metrics())],
            "ksm",
            f"http://127.0.0.1:{ports['ksm-tel']}/metrics",
        ),
        "kubepulse": (
            [
                str(Path(sys.executable).parent / "kubepulse"),
                "exporter",
                "cluster",
                "--usage-labels=",
            ],
            "kp",
            f"http://127.0.0.1:{ports['kp']}/readyz",
        ),
    }
    for name, (argv, side, ready_url) in programs.items():
        start_on_loopback(group, name, argv, ports[side], ports[side + "-tel"], ready_url, flags)
    return ports


def start_on_loopback(
    group: Any,
    name: str,
    argv: list[str],
    port: int,
    telemetry_port: int,
    ready_url: str,
    flags: list[str] | tuple[str, ...] = (),
) -> None:
    """Start ``argv`` (kube-state-metrics or kubepulse's cluster exporter: both take the same
    address flags) serving on 127.0.0.1:``port``, its telemetry on ``telemetry_port``, then
    ``flags``; ready once ``ready_url`` answers."""
    group.start(
        name,
        [
            *argv,
            "--host=127.0.0.1",
            f"--port={port}",
            "--telemetry-host=127.0.0.1",
            f"--telemetry-port={telemetry_port}",
            *flags,
        ],
        ready_url=ready_url,
        timeout=60,
    )
