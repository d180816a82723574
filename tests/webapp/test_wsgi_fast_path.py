"""The WSGI hot path's shortcuts record exactly what the plain prometheus_client calls would.

Series are updated through their children's values (no per-call checks, bucket by bisection) and
a Flask request's route is read from the request context kept in the environ, after the body is
sent, instead of from a per-request signal: both checked against the long way, Flask under
werkzeug's real threaded server (which, unlike the test client, lets Flask clear the request it
leaves in the environ).
"""

from __future__ import annotations

import http.client
import math
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, request
from prometheus_client import CollectorRegistry, generate_latest
from werkzeug.serving import make_server

from kubepulse.webapp import instrument, untracked
from kubepulse.webapp._core import SIZE_BUCKETS, Options, Recorder

# Every default duration bound and size bound exactly (a bound belongs to its own bucket), values
# between and beyond them, zero, and NaN (no bucket, a NaN sum).
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
SECONDS = (0.0, *BOUNDS, 0.0049, 0.0051, 0.3, 10.5, 1e6, math.inf, math.nan)
SIZES = (0, *SIZE_BUCKETS, 99, 101, 5_000, 10**8)


def _exposition(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_direct_updates_equal_the_public_calls() -> None:
    fast_registry, slow_registry = CollectorRegistry(), CollectorRegistry()
    options = Options(response_size=True)
    fast, slow = Recorder(fast_registry, options), Recorder(slow_registry, options)
    keys = [("GET", "/items/<id>", "200"), ("POST", "/items/<id>", "503")]
    for key in keys:
        # The installed prometheus_client has what the direct updates need, so they are used...
        assert fast.series(key).observe != fast.series(key)._public
        # ...and the other recorder makes the public calls, for comparison.
        series = slow.series(key)
        series.observe = series._public
    for i, seconds in enumerate(SECONDS):
        error = "ValueError" if i % 5 == 0 else None
        for key in keys:
            for recorder in (fast, slow):
                recorder.finish(*key, seconds, SIZES[i % len(SIZES)], None, error)
    for method in ("GET", "POST"):
        value, child = fast.running_value(method), slow.running(method)
        assert value is not fast.running(method)  # the gauge child's value, moved directly
        for step in (1, 1, -1, 1, -1, -1, 1):
            value.inc(step)
            child.inc(step)
    text = _exposition(fast_registry)
    assert text == _exposition(slow_registry)
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",' in "\n".join(text)


MULTIPROCESS_CHECK = """
import math, sys
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.values import MutexValue
from kubepulse.webapp._core import Options, Recorder
inf, nan = math.inf, math.nan
SECONDS, SIZES = %r, %r
fast = Recorder(CollectorRegistry(), Options(prefix="fast", response_size=True))
slow = Recorder(CollectorRegistry(), Options(prefix="slow", response_size=True))
key = ("GET", "/items/<id>", "200")
series = fast.series(key)
assert series.observe != series._public, "the direct updates are not used"
assert type(series.requests._value) is not MutexValue, "not in multiprocess mode"
slow.series(key).observe = slow.series(key)._public
for i, seconds in enumerate(SECONDS):
    for recorder in (fast, slow):
        recorder.finish(*key, seconds, SIZES[i %% len(SIZES)], None, None)
        recorder.running_value("GET").inc(1 if i %% 3 else -1)
registry = CollectorRegistry()
multiprocess.MultiProcessCollector(registry)
found = {"fast": set(), "slow": set()}
for family in registry.collect():
    for sample in family.samples:
        prefix, _, name = sample.name.partition("_")
        value = "nan" if math.isnan(sample.value) else sample.value
        found[prefix].add((name, tuple(sorted(sample.labels.items())), value))
assert found["fast"] and found["fast"] == found["slow"], found
print(len(found["fast"]))
"""


def test_direct_updates_in_multiprocess_mode_equal_the_public_calls(tmp_path: Path) -> None:
    """The same comparison with each worker's values in files (``PROMETHEUS_MULTIPROC_DIR``),
    in a fresh interpreter: prometheus_client picks its value class when first imported."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = MULTIPROCESS_CHECK % (SECONDS, SIZES)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The counter, the gauge, and count, sum and every bucket of both histograms (15 + 7).
    assert int(done.stdout) == 1 + 1 + (2 + 15) + (2 + 7)


@contextmanager
def _serve(app: Callable[..., Iterable[bytes]]) -> Iterator[http.client.HTTPConnection]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    finally:
        server.shutdown()
        thread.join(10)


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def _count(registry: CollectorRegistry, route: str, status: str = "200") -> float:
    value = registry.get_sample_value(
        "http_requests_total", {"method": "GET", "route": route, "status": status}
    )
    return value or 0.0


def test_flask_route_and_untracked_views_under_a_real_server() -> None:
    app = Flask("fast-path")

    @app.route("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return str(item_id)

    @app.route("/own/<name>")
    def own(name: str) -> str:
        request.environ["kubepulse.route"] = "/own/{name}"  # a view's own label wins
        return name

    @app.route("/ping")
    @untracked
    def ping() -> str:
        return "pong"

    first, second = CollectorRegistry(), CollectorRegistry()
    instrument(app, registry=first)
    instrument(app, registry=second, healthz_path=None, metrics_path=None)
    leftover: list[list[str]] = []
    inner = app.wsgi_app

    def outer(environ: dict[str, Any], start_response: Any) -> Any:
        # A label set before Flask routes is replaced by Flask's rule, as it always was.
        environ["kubepulse.route"] = "set-before-routing"
        body = inner(environ, start_response)
        try:
            yield from body
        finally:
            getattr(body, "close", lambda: None)()
            leftover.append([k for k in environ if k.startswith("kubepulse.flask_context")])

    app.wsgi_app = outer  # type: ignore[method-assign]
    with _serve(app) as conn:
        for path in ("/items/1", "/items/2", "/own/x", "/ping", "/nope"):
            assert _get(conn, path)[0] == (404 if path == "/nope" else 200)
        conn.close()
    for registry in (first, second):  # both wrappers of the one app found its routes
        assert _count(registry, "/items/<int:item_id>") == 2
        assert _count(registry, "/own/{name}") == 1
        assert _count(registry, "unmatched", "404") == 1
        assert _count(registry, "set-before-routing") == 0
        routes = {
            s.labels["route"]
            for fam in registry.collect()
            if fam.name == "http_requests"
            for s in fam.samples
            if s.name == "http_requests_total"
        }
        assert routes == {"/items/<int:item_id>", "/own/{name}", "unmatched"}
        assert registry.get_sample_value("http_requests_in_progress", {"method": "GET"}) == 0
    # The kept request contexts were taken out of each environ once recorded (no cycle left).
    assert leftover == [[]] * 5
