"""Shared helpers for the cluster exporter tests: applying objects; scraping, parsing /metrics."""

from __future__ import annotations

import gzip
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kubepulse.testing.cluster import Cluster, ClusterError

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


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


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy; the last AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except AssertionError as exc:
            last = exc
        time.sleep(interval)
    if last is not None:
        raise last
    raise AssertionError(f"condition not met within {timeout} s")
