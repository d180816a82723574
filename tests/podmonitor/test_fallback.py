"""A server that refuses streamed lists: the monitor falls back to a list and a watch.

A fake API server on loopback stands in for Kubernetes 1.33, where the WatchList gate is off by
default and ``sendInitialEvents`` is answered 422; no such server can be built here besides the
1.34 test cluster, which streams lists. The fake speaks only the three requests involved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from kubernetes import client as k8s

from kubepulse.kube.client import KubeClient
from kubepulse.podmonitor import PodsMonitorPool


class OldApiServer(BaseHTTPRequestHandler):
    """HTTP/1.0: a watch body ends when the connection closes, after ``timeoutSeconds``."""

    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        self.seen.append(query)
        if "sendInitialEvents" in query:
            body = {"kind": "Status", "code": 422, "message": "sendInitialEvents is forbidden"}
            self._send(422, orjson.dumps(body))
        elif "watch" not in query:
            self._send(200, orjson.dumps({"items": [], "metadata": {"resourceVersion": "7"}}))
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "8"}}}
            self.wfile.write(orjson.dumps(bookmark) + b"\n")
            self.wfile.flush()
            time.sleep(float(query["timeoutSeconds"][0]))

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def old_server() -> Iterator[str]:
    OldApiServer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), OldApiServer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refused_streamed_list_falls_back_once_per_client(old_server: str) -> None:
    cfg = k8s.Configuration()
    cfg.host = old_server
    client = KubeClient(cfg)
    pool = PodsMonitorPool(client, settle_seconds=0.1)
    first = pool.select_and_monitor_by_namespace_pattern_and_label("ns", "app=web", 1)
    assert pool.wait_until_watching(5)
    second = pool.select_and_monitor_by_namespace_pattern_and_label("ns", "app=db", 1)
    status = pool.join(timeout=10)

    assert status.error is None and not status.recovered and not status.unrecovered
    assert client.streaming_lists is False
    # The refusal costs the first monitor one request; the second knows and lists at once.
    assert (first.requests, second.requests) == (3, 2)
    streamed = [q for q in OldApiServer.seen if "sendInitialEvents" in q]
    assert len(streamed) == 1
    assert streamed[0]["resourceVersionMatch"] == ["NotOlderThan"]
    assert streamed[0]["resourceVersion"] == [""]
    watches = [q for q in OldApiServer.seen if "watch" in q and "sendInitialEvents" not in q]
    assert [q["resourceVersion"] for q in watches] == [["7"], ["7"]]
