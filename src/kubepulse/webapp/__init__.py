"""Prometheus instrumentation for any WSGI or Flask app (the application exporter).

``instrument(app)`` mounts ``/metrics`` with werkzeug's ``DispatcherMiddleware``,
and ``/healthz`` beside it as every kubepulse exporter answers it, and records, for every other
request:

- ``http_requests_total{method,route,status}``: counter;
- ``http_request_duration_seconds{method,route,status}``: histogram, response body included;
- ``http_requests_in_progress{method}``: gauge (saturation);
- ``http_request_exceptions_total{method,route,exception}``: unhandled exceptions by class;
- ``app_uptime_seconds_total``: the seed's uptime counter.

``route`` is the route *template* (``/items/<int:item_id>``), never the raw path, so a crawler
hitting a million URLs cannot create a million series; requests no route matched get
``route="unmatched"``. Methods outside the standard nine are counted as ``method="other"``.

The seed updates its uptime counter from a thread once a second. Here it is computed when
``/metrics`` is scraped: the value is exact instead of up to a second stale, no thread runs in
every worker (threads do not survive gunicorn's fork, so each worker would need its own), and in
multiprocess mode the start time is shared through a file so every worker reports the same
service uptime instead of its own.

Multiprocess mode (gunicorn, uWSGI with several workers): set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty folder before the server starts; ``/metrics`` then aggregates every worker through
``prometheus_client``'s ``MultiProcessCollector``. Use ``kubepulse.webapp.gunicorn`` hooks
(``on_starting`` empties the folder, ``child_exit`` calls ``mark_process_dead``).

``/metrics`` and ``/healthz`` honour the same ``--web.config.file`` as the exporters for basic auth
(pass ``web_config`` or set ``KUBEPULSE_WEB_CONFIG``); TLS is the WSGI server's job, and
``kubepulse.webapp.gunicorn.tls_settings`` reads it from that same file.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from kubepulse.exposition.auth import BasicAuth
from kubepulse.exposition.server import WebConfig, load_web_config

__all__ = ["UNMATCHED", "instrument", "multiprocess_dir"]

UNMATCHED = "unmatched"
ROUTE_KEY = "kubepulse.route"
EXCEPTION_KEY = "kubepulse.exception"
START_FILE = "kubepulse_app_start_time"
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def multiprocess_dir() -> Path | None:
    """The folder named by ``PROMETHEUS_MULTIPROC_DIR`` (multiprocess mode), or ``None``."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


class _Uptime(Collector):
    """``app_uptime_seconds_total``, derived from the start time when scraped."""

    def __init__(self, start: Callable[[], float]) -> None:
        self._start = start

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "app_uptime_seconds",
            "Seconds since the application started.",
            value=max(0.0, time.time() - self._start()),
        )


def _shared_start_time(directory: Path) -> float:
    """The first worker's start time: written once (O_EXCL) into the multiprocess folder."""
    path = directory / START_FILE
    now = time.time()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError, ValueError):
            return float(path.read_text())
        return now
    with os.fdopen(fd, "w") as fh:
        fh.write(repr(now))
    return now


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its response.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served right now.",
            ["method"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.exceptions = Counter(
            "http_request_exceptions_total",
            "Requests that ended in an unhandled exception, by exception class.",
            ["method", "route", "exception"],
            registry=registry,
        )
        # labels() validates and looks up on every call; the label sets are few (bounded by
        # the route table), so their children are kept here. Races only repeat a lookup.
        self._done: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._running: dict[str, Any] = {}

    def running(self, method: str) -> Any:
        """The in-progress gauge child for ``method``."""
        child = self._running.get(method)
        if child is None:
            child = self._running[method] = self.in_progress.labels(method)
        return child

    def done(self, method: str, route: str, status: str) -> tuple[Any, Any]:
        """The (requests counter, duration histogram) children for one label set."""
        key = (method, route, status)
        pair = self._done.get(key)
        if pair is None:
            pair = self._done[key] = (
                self.requests.labels(method, route, status),
                self.duration.labels(method, route, status),
            )
        return pair


_metrics_by_registry: dict[int, _Metrics] = {}


def _metrics_for(registry: CollectorRegistry) -> _Metrics:
    # One set per registry: instrumenting a second app in the same process shares the series
    # instead of failing with "Duplicated timeseries".
    key = id(registry)
    if key not in _metrics_by_registry:
        _metrics_by_registry[key] = _Metrics(registry)
    return _metrics_by_registry[key]


class _Instrumented:
    """The WSGI wrapper that times and counts each request."""

    def __init__(
        self, app: WSGIApp, metrics: _Metrics, route: Callable[[dict[str, Any]], str | None] | None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.route = route

    def _route(self, environ: dict[str, Any]) -> str:
        value = environ.get(ROUTE_KEY)
        if value is None and self.route is not None:
            value = self.route(environ)
        return value or UNMATCHED

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method not in _METHODS:
            method = "other"
        m = self.metrics
        start = time.perf_counter()
        status = ["500"]
        running = m.running(method)
        running.inc()

        def recording_start_response(
            status_line: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Any:
            status[0] = status_line.split(" ", 1)[0]
            if exc_info is None:
                return start_response(status_line, headers)
            return start_response(status_line, headers, exc_info)

        done = [False]

        def finish(exc: BaseException | None = None) -> None:
            if done[0]:
                return
            done[0] = True
            route = self._route(environ)
            error = environ.get(EXCEPTION_KEY) or (type(exc).__name__ if exc else None)
            if error:
                m.exceptions.labels(method, route, error).inc()
            requests, duration = m.done(method, route, status[0])
            requests.inc()
            duration.observe(time.perf_counter() - start)
            running.dec()

        try:
            body = self.app(environ, recording_start_response)
        except BaseException as exc:
            finish(exc)
            raise
        return _ClosingBody(body, finish)


class _ClosingBody:
    """Passes the response through; records the request after its last byte (or on close)."""

    def __init__(self, body: Iterable[bytes], finish: Callable[[BaseException | None], None]):
        self.body = body
        self.finish = finish

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        except BaseException as exc:
            self.finish(exc)
            raise
        # PEP 3333 servers call close(), but recording at the last byte does not depend on it.
        self.finish(None)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.finish(None)


def _protected(app: WSGIApp, auth: BasicAuth) -> WSGIApp:
    # authorize() never waits for another request's bcrypt check: a flood of wrong passwords
    # gets 429/503 at once instead of holding the app's worker threads.
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        verdict = auth.authorize(environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR", ""))
        if verdict.ok:
            return app(environ, start_response)
        status = f"{verdict.status} {HTTPStatus(verdict.status).phrase}"
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        start_response(status, headers + list(verdict.response_headers().items()))
        return [verdict.body()]

    return guarded


def _healthz(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"ok\n"]


def _metrics_app(registry: CollectorRegistry, start: float) -> WSGIApp:
    directory = multiprocess_dir()
    if directory is None:
        _register_uptime(registry, lambda: start)
        return cast(WSGIApp, make_wsgi_app(registry))
    from prometheus_client import multiprocess

    # Per-worker values live in files; each scrape aggregates them, whichever worker answers.
    exposed = CollectorRegistry()
    multiprocess.MultiProcessCollector(exposed, path=str(directory))  # type: ignore[no-untyped-call]
    shared = _shared_start_time(directory)
    exposed.register(_Uptime(lambda: shared))
    return cast(WSGIApp, make_wsgi_app(exposed))


_uptime_registries: set[int] = set()


def _register_uptime(registry: CollectorRegistry, start: Callable[[], float]) -> None:
    if id(registry) not in _uptime_registries:
        _uptime_registries.add(id(registry))
        registry.register(_Uptime(start))


def instrument(
    app: Any,
    *,
    registry: CollectorRegistry | None = None,
    route: Callable[[dict[str, Any]], str | None] | None = None,
    web_config: WebConfig | str | os.PathLike[str] | None = None,
    metrics_path: str = "/metrics",
    healthz_path: str | None = "/healthz",
) -> Any:
    """Instrument ``app``, serve its metrics at ``metrics_path`` and ``ok`` at ``healthz_path``.

    A Flask app is changed in place (its ``wsgi_app`` is wrapped) and returned, so
    ``gunicorn module:app`` keeps working; routes come from Flask's URL rules. Any other WSGI
    callable is wrapped and the wrapper returned; its route template comes from
    ``environ["kubepulse.route"]`` if the app sets it, else from ``route(environ)``, else
    ``"unmatched"``.

    ``/healthz`` answers while the WSGI server serves, like the exporters' (a liveness probe);
    requests to it and to ``/metrics`` are not counted in the app's traffic. A Flask app with its
    own ``/healthz`` rule keeps it; for another WSGI app that has one, pass ``healthz_path=None``.

    ``web_config`` (or ``$KUBEPULSE_WEB_CONFIG``) adds basic auth to ``/metrics`` and ``/healthz``
    (as in the exporters): the app's own endpoints are left alone. A bad file raises
    ``ValueError`` naming the file and field.
    """
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    registry = registry or REGISTRY
    start = time.time()
    if web_config is None and os.environ.get("KUBEPULSE_WEB_CONFIG"):
        web_config = os.environ["KUBEPULSE_WEB_CONFIG"]
    if web_config is not None and not isinstance(web_config, WebConfig):
        web_config = load_web_config(web_config)
    is_flask = hasattr(app, "wsgi_app") and hasattr(app, "url_map")
    mounts: dict[str, WSGIApp] = {metrics_path: _metrics_app(registry, start)}
    if healthz_path is not None and not (
        is_flask and any(rule.rule == healthz_path for rule in app.url_map.iter_rules())
    ):
        mounts[healthz_path] = _healthz
    if web_config is not None and web_config.basic_auth is not None:
        auth = web_config.basic_auth
        mounts = {path: _protected(mounted, auth) for path, mounted in mounts.items()}
    metrics = _metrics_for(registry)

    inner = app.wsgi_app if is_flask else app
    wrapped = DispatcherMiddleware(_Instrumented(inner, metrics, route), mounts)
    if not is_flask:
        return wrapped
    _connect_flask_signals(app)
    app.wsgi_app = wrapped
    return app


def _connect_flask_signals(app: Any) -> None:
    from flask import got_request_exception, request, request_started

    # Signals rather than before_request hooks: a user's before_request that returns early
    # would skip ours; request_started is sent after routing, before any hook.
    def on_start(sender: Any, **_: Any) -> None:
        rule = request.url_rule
        request.environ[ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED

    def on_exception(sender: Any, exception: BaseException, **_: Any) -> None:
        request.environ[EXCEPTION_KEY] = type(exception).__name__

    request_started.connect(on_start, app, weak=False)
    got_request_exception.connect(on_exception, app, weak=False)
