"""The server's kubepulse_http_* self-metrics, as the exporters serve them."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from helpers_abuse import metric, raw_exchange, timed_get

from kubepulse.exporters.cluster.exporter import Options, _Telemetry
from kubepulse.exporters.system import metrics_handler
from kubepulse.exposition.server import ExporterServer, ServerLimits


def test_the_system_exporter_serves_exact_connection_counts() -> None:
    limits = ServerLimits(max_connections=77)
    with ExporterServer({"/metrics": metrics_handler()}, limits=limits) as server:
        address = f"127.0.0.1:{server.port}"
        assert timed_get(server.port, "/healthz")[0] == 200
        assert raw_exchange(server.port, b"GET / HTTP/9.9\r\n\r\n").startswith(b"HTTP/1.1 505")
        assert raw_exchange(server.port, b"BREW / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 405")
        deadline = time.monotonic() + 5
        while server.stats()["open"]:  # the server has seen the three clients' closes
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _, _, body = timed_get(server.port)
    assert metric(body, "kubepulse_http_connections", address=address) == 1  # this scrape
    assert metric(body, "kubepulse_http_max_connections", address=address) == 77
    assert metric(body, "kubepulse_http_connections_accepted_total", address=address) == 4
    assert metric(body, "kubepulse_http_bad_requests_total", address=address, status="505") == 1
    closed = {
        reason: metric(
            body, "kubepulse_http_connections_closed_total", address=address, reason=reason
        )
        for reason in ("client", "bad_request", "done")
    }
    # /healthz kept alive until the client left; the 505 drained and closed; the HTTP/1.0 405.
    assert closed == {"client": 1, "bad_request": 1, "done": 1}


def test_the_cluster_exporters_telemetry_carries_the_server_families() -> None:
    exporter: Any = SimpleNamespace(options=Options(), stores={})
    with ExporterServer({}) as server:
        names = {family.name for family in _Telemetry(exporter).registry.collect()}
        assert {
            "kubepulse_http_connections",
            "kubepulse_http_max_connections",
            "kubepulse_http_connections_closed",
            "kubepulse_http_connections_refused",
            "kubepulse_http_accept_errors",
        } <= names
        assert server.port
