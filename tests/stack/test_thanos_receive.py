"""A cluster's Prometheus remote-writes to Thanos Receive, and Query over the Receive returns the
very samples that Prometheus scraped, with the cluster's external labels and the Receive's own.

All real, on 127.0.0.1: cluster ``c`` is a kubepulse system exporter and one Prometheus replica
scraping it every second with ``remote_write`` to a Receive running alone (no hashring, so it
ingests what it is sent); Query has the Receive as its only endpoint. Thanos is the pinned
release, built on request (see ``tests/stack/test_thanos_e2e.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.releases import binary
from kubepulse.lab.servers import api_get, wait_until
from kubepulse.lab.thanos import (
    SYSTEM_JOB,
    start_cluster_prometheus,
    start_query,
    start_receive,
    start_system_exporter,
)

pytestmark = pytest.mark.timeout(2400)  # a cold run builds Thanos first (6 to 12 min)

WINDOW = 10  # seconds of raw samples compared


@pytest.fixture(scope="module")
def thanos_built() -> Path:
    return binary("thanos")


def _samples(url: str, expr: str, at: float, **params: str) -> list[dict[str, Any]]:
    """The raw samples of the range selector ``expr`` evaluated at ``at``."""
    data = api_get(url, "/api/v1/query", {"query": expr, "time": str(at), **params})
    result: list[dict[str, Any]] = data["result"]
    return result


def test_query_over_receive_returns_the_samples_prometheus_remote_wrote(
    tmp_path: Path, thanos_built: Path
) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        receive, write_url = start_receive(
            group, tmp_path / "receive", labels={"receive_replica": "0"}
        )
        exporter = start_system_exporter(group, "c")
        prometheus, _ = start_cluster_prometheus(
            group, tmp_path, cluster="c", replica="0", exporter=exporter, remote_write_url=write_url
        )
        query = start_query(group, endpoints=[receive.grpc_address], name="thanos-query")

        expr = f'up{{job="{SYSTEM_JOB}"}}[{WINDOW}s]'

        def scraped_window() -> tuple[float, dict[str, Any]] | None:
            # A window that ended 3 s ago, so remote write (1 s batches) has sent all of it.
            at = round(time.time()) - 3
            got = _samples(prometheus, expr, at)
            return (at, got[0]) if len(got) == 1 and len(got[0]["values"]) >= WINDOW - 1 else None

        at, scraped = wait_until(scraped_window, 60, what=f"{WINDOW} s of scrapes")

        def received_window() -> list[dict[str, Any]]:
            got = _samples(query.http_url, expr, at, dedup="false")
            return got if got and got[0]["values"] == scraped["values"] else []

        # Waited for, not compared once: on a loaded machine remote write may lag a few seconds.
        (received,) = wait_until(received_window, 30, what="the same samples through Query")
        # Prometheus added its external labels to what it sent; the Receive adds its own and
        # the tenant's.
        assert received["metric"] == {
            **scraped["metric"],
            "cluster": "c",
            "replica": "0",
            "receive_replica": "0",
            "tenant_id": "default-tenant",
        }
        assert scraped["metric"] == {"__name__": "up", "instance": exporter, "job": SYSTEM_JOB}
