"""kubepulse.webapp.instrument on Flask and plain WSGI apps, in one process (no multiprocess)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from kubepulse.lab.pki import write_web_config
from kubepulse.webapp import instrument


def _samples(
    client: Any, headers: dict[str, str] | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = client.get("/metrics", headers=headers or {})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _get(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _status(client: Any, path: str, method: str = "GET") -> int:
    """Request ``path`` and close the response, as a real WSGI server does."""
    with client.open(path, method=method) as resp:
        resp.get_data()
        return int(resp.status_code)


def _flask_app(gate: threading.Event | None = None) -> Flask:
    app = Flask("t")

    @app.route("/")
    def hello() -> str:
        time.sleep(0.02)
        return "hi"

    @app.route("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return str(item_id)

    @app.route("/fail")
    def fail() -> str:
        raise KeyError("nope")

    @app.route("/wait")
    def wait() -> str:
        assert gate is not None
        gate.wait(10)
        return "done"

    return app


def test_flask_counts_by_route_template_status_and_latency() -> None:
    registry = CollectorRegistry()
    app = instrument(_flask_app(), registry=registry)
    client = app.test_client()
    for i in range(7):
        assert _status(client, f"/items/{i}") == 200
    assert _status(client, "/items/3", "POST") == 405
    hello_started = time.perf_counter()
    for _ in range(3):
        assert client.get("/").data == b"hi"
    hello_wall = time.perf_counter() - hello_started
    assert _status(client, "/no/such/path/42") == 404
    assert _status(client, "/fail") == 500

    s = _samples(client)
    assert (
        _get(s, "http_requests_total", method="GET", route="/items/<int:item_id>", status="200")
        == 7
    )
    assert _get(s, "http_requests_total", method="POST", route="unmatched", status="405") == 1
    assert _get(s, "http_requests_total", method="GET", route="/", status="200") == 3
    assert _get(s, "http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert _get(s, "http_requests_total", method="GET", route="/fail", status="500") == 1
    assert (
        _get(s, "http_request_exceptions_total", method="GET", route="/fail", exception="KeyError")
        == 1
    )
    # Latency: "/" sleeps 20 ms, so none of its 3 requests is under 5 ms; the three observed
    # durations add up to at least their sleeps and at most the wall time the test measured
    # around them (same clock, same process): real measurements, with no speed asserted.
    hello = {"method": "GET", "route": "/", "status": "200"}
    assert _get(s, "http_request_duration_seconds_bucket", le="0.005", **hello) == 0
    assert _get(s, "http_request_duration_seconds_bucket", le="+Inf", **hello) == 3
    assert _get(s, "http_request_duration_seconds_count", **hello) == 3
    assert 0.06 <= _get(s, "http_request_duration_seconds_sum", **hello) <= hello_wall
    # The raw paths never become label values; /metrics itself is not counted as traffic.
    text = client.get("/metrics").get_data(as_text=True)
    assert "/no/such" not in text and 'route="/items/3"' not in text
    assert "/metrics" not in {dict(k[1]).get("route") for k in s}
    assert _get(s, "http_requests_in_progress", method="GET") == 0


def test_in_progress_and_uptime_at_scrape_time() -> None:
    gate = threading.Event()
    registry = CollectorRegistry()
    before_instrument = time.time()
    app = instrument(_flask_app(gate), registry=registry)
    after_instrument = time.time()
    client = app.test_client()
    worker = threading.Thread(target=lambda: app.test_client().get("/wait"))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while _get(_samples(client), "http_requests_in_progress", method="GET") != 1:
            assert time.monotonic() < deadline, "in-progress gauge never reached 1"
            time.sleep(0.01)
    finally:
        gate.set()
        worker.join(10)
    assert _get(_samples(client), "http_requests_in_progress", method="GET") == 0
    # Uptime is computed at scrape time from instrument()'s start: each value lies between the
    # bounds the test's own clock readings around instrument() and around the scrape allow.
    first_from = time.time()
    first = _get(_samples(client), "app_uptime_seconds_total")
    first_to = time.time()
    time.sleep(0.2)
    second_from = time.time()
    second = _get(_samples(client), "app_uptime_seconds_total")
    second_to = time.time()
    slack = 1e-6  # float rounding of the time.time() differences
    assert first_from - after_instrument - slack <= first <= first_to - before_instrument + slack
    assert second_from - first_to - slack <= second - first <= second_to - first_from + slack


def test_plain_wsgi_app_with_route_function() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise ValueError("plain WSGI failure")
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    registry = CollectorRegistry()
    wrapped = instrument(
        app,
        registry=registry,
        route=lambda env: "/users/{id}" if env["PATH_INFO"].startswith("/users/") else None,
    )
    client = Client(wrapped)
    assert client.get("/users/17").get_data() == b"ab"
    assert _status(client, "/users/18", "BREW") == 201
    assert _status(client, "/other") == 201
    with pytest.raises(ValueError):
        client.get("/boom")
    s = _samples(client)
    assert _get(s, "http_requests_total", method="GET", route="/users/{id}", status="201") == 1
    assert _get(s, "http_requests_total", method="other", route="/users/{id}", status="201") == 1
    assert _get(s, "http_requests_total", method="GET", route="unmatched", status="201") == 1
    assert _get(s, "http_requests_total", method="GET", route="unmatched", status="500") == 1
    assert (
        _get(
            s,
            "http_request_exceptions_total",
            method="GET",
            route="unmatched",
            exception="ValueError",
        )
        == 1
    )


def test_metrics_basic_auth_from_web_config(tmp_path: Path) -> None:
    config = write_web_config(tmp_path / "web.yml", users={"prom": "pw"}, rounds=4)
    app = instrument(_flask_app(), registry=CollectorRegistry(), web_config=config)
    client = app.test_client()
    assert _status(client, "/items/1") == 200  # the app itself stays open
    resp = client.get("/metrics")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    bad = base64.b64encode(b"prom:wrong").decode()
    assert client.get("/metrics", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    good = base64.b64encode(b"prom:pw").decode()
    s = _samples(client, {"Authorization": f"Basic {good}"})
    assert (
        _get(s, "http_requests_total", method="GET", route="/items/<int:item_id>", status="200")
        == 1
    )
    # The login checks are counted on the same /metrics: one wrong password, and the right one
    # checked once (this scrape; a repeat would be answered from the cache).
    assert _get(s, "kubepulse_auth_checks_total", result="failure") == 1
    assert _get(s, "kubepulse_auth_checks_total", result="success") == 1
    assert _get(s, "kubepulse_auth_failing_clients") == 1


def test_bad_web_config_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "web.yml"
    bad.write_text("basic_auth_users: {prom: not-a-hash}\n")
    with pytest.raises(ValueError, match=f"{bad}: basic_auth_users.prom"):
        instrument(_flask_app(), registry=CollectorRegistry(), web_config=bad)


def test_healthz_beside_metrics_not_counted_as_traffic() -> None:
    registry = CollectorRegistry()
    client = instrument(_flask_app(), registry=registry).test_client()
    resp = client.get("/healthz")
    assert (resp.status_code, resp.get_data(), resp.mimetype) == (200, b"ok\n", "text/plain")
    assert _status(client, "/items/1") == 200
    s = _samples(client)
    counted = {dict(labels)["route"] for name, labels in s if name == "http_requests_total"}
    assert counted == {"/items/<int:item_id>"}


def test_app_own_healthz_is_kept() -> None:
    app = _flask_app()

    @app.route("/healthz")
    def healthz() -> str:
        return "app's own"

    client = instrument(app, registry=CollectorRegistry()).test_client()
    assert client.get("/healthz").get_data() == b"app's own"

    def plain(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    assert Client(instrument(plain, registry=CollectorRegistry())).get("/healthz").data == b"ok\n"
    own = Client(instrument(plain, registry=CollectorRegistry(), healthz_path=None))
    assert own.get("/healthz").data == b"/healthz"


def test_healthz_needs_the_metrics_credentials(tmp_path: Path) -> None:
    config = write_web_config(tmp_path / "web.yml", users={"prom": "pw"}, rounds=4)
    client = instrument(_flask_app(), registry=CollectorRegistry(), web_config=config).test_client()
    assert client.get("/healthz").status_code == 401
    good = base64.b64encode(b"prom:pw").decode()
    resp = client.get("/healthz", headers={"Authorization": f"Basic {good}"})
    assert (resp.status_code, resp.get_data()) == (200, b"ok\n")


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_group_by_choices_set_the_route_label() -> None:
    def routes(group_by: Any) -> set[str]:
        client = instrument(_flask_app(), registry=CollectorRegistry(), group_by=group_by)
        client = client.test_client()
        for path in ("/items/1", "/items/2", "/nope"):
            _status(client, path)
        s = _samples(client)
        return {dict(k[1])["route"] for k in s if k[0] == "http_requests_total"}

    assert routes("route") == {"/items/<int:item_id>", "unmatched"}
    assert routes("endpoint") == {"item", "unmatched"}
    assert routes("path") == {"/items/1", "/items/2", "/nope"}
    assert routes(lambda r: r.path.split("/")[1]) == {"items", "nope"}
    with pytest.raises(ValueError, match="group_by: 'url'"):
        instrument(_flask_app(), registry=CollectorRegistry(), group_by="url")


def test_wsgi_response_sizes_and_exemplars_in_openmetrics() -> None:
    registry = CollectorRegistry()
    app = instrument(_flask_app(), registry=registry, response_size=True, exemplars=True)
    client = app.test_client()
    parent = f"00-{TRACE}-00f067aa0ba902b7-01"
    with client.get("/items/12345", headers={"traceparent": parent}) as resp:
        assert resp.get_data() == b"12345"
    with client.get("/items/6", headers={"traceparent": "00-" + "0" * 32 + "-" + "1" * 16 + "-01"}):
        pass  # an all-zero trace id is invalid: no exemplar
    s = _samples(client)
    labels = {"method": "GET", "route": "/items/<int:item_id>", "status": "200"}
    assert _get(s, "http_response_size_bytes_sum", **labels) == 6  # "12345" + "6"
    assert _get(s, "http_response_size_bytes_count", **labels) == 2
    text = client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    ).get_data(as_text=True)
    line = next(x for x in text.splitlines() if x.startswith("http_requests_total{"))
    # The exemplar is the last request that carried a valid trace id.
    assert line.endswith(f'# {{trace_id="{TRACE}"}} 1.0 ' + line.rsplit(" ", 1)[1])
    plain = client.get("/metrics").get_data(as_text=True)
    assert "trace_id" not in plain  # the classic text format has no exemplars
