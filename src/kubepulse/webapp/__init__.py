"""Prometheus instrumentation for any WSGI, Flask or ASGI app (the application exporter).

``instrument(app)`` (or ``AppMetrics(...).init_app(app)``) mounts ``/metrics`` and ``/healthz``
beside the app and records, for every other request:

- ``http_requests_total{method,route,status}``: counter;
- ``http_request_duration_seconds{method,route,status}``: histogram, response body included;
- ``http_requests_in_progress{method}``: gauge (saturation);
- ``http_request_exceptions_total{method,route,exception}``: unhandled exceptions by class;
- ``app_uptime_seconds_total``: computed when scraped;
- with ``response_size=True``: ``http_response_size_bytes{method,route,status}`` (histogram);
- with ``max_label_values=N``: ``http_label_values_dropped_total{metric,label}``.

``route`` is the route *template* (``/items/<int:item_id>``), never the raw path, so a crawler
hitting a million URLs cannot create a million series; requests no route matched get
``route="unmatched"``. Methods outside the standard nine are counted as ``method="other"``.
ASGI apps (Starlette, FastAPI) go through ``kubepulse.webapp.asgi``; multiprocess mode
(gunicorn, uWSGI, uvicorn workers) is described in ``kubepulse.webapp.multiprocess``.

``/metrics`` and ``/healthz`` honour the same ``--web.config.file`` as the exporters for basic auth
(pass ``web_config`` or set ``KUBEPULSE_WEB_CONFIG``); TLS is the server's job, and
``kubepulse.webapp.gunicorn.tls_settings`` reads it from that same file.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http import HTTPStatus
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar, cast

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from kubepulse.exposition.auth import BasicAuth
from kubepulse.exposition.server import (
    ExporterServer,
    WebConfig,
    load_web_config,
    prometheus_client_handler,
)
from kubepulse.webapp import multiprocess as mp
from kubepulse.webapp._core import (
    METHOD_LABELS,
    OVERFLOW,
    UNMATCHED,
    LabelGuard,
    LabelValue,
    Options,
    Recorder,
    RequestInfo,
    method_label,
    recorder_for,
    trace_id_from_traceparent,
)
from kubepulse.webapp._custom import LabelSpec, view_metric
from kubepulse.webapp.multiprocess import START_FILE, multiprocess_dir

__all__ = [
    "OVERFLOW",
    "START_FILE",
    "UNMATCHED",
    "AppMetrics",
    "RequestInfo",
    "instrument",
    "multiprocess_dir",
    "trace_id_from_traceparent",
    "untracked",
]

ROUTE_KEY = "kubepulse.route"
EXCEPTION_KEY = "kubepulse.exception"
UNTRACKED_KEY = "kubepulse.untracked"
CONTEXT_KEY = "kubepulse.flask_context"
_UNTRACKED_ATTR = "_kubepulse_untracked"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
F = TypeVar("F", bound=Callable[..., Any])


def untracked(view: F) -> F:
    """Decorate a Flask view so its requests are not counted (a health check, a probe)."""
    setattr(view, _UNTRACKED_ATTR, True)
    return view


class _Uptime(Collector):
    """``app_uptime_seconds_total``, derived from the start time when scraped."""

    def __init__(self, name: str, start: float) -> None:
        self._name = name
        self._start = start

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            self._name,
            "Seconds since the application started.",
            value=max(0.0, time.time() - self._start),
        )


_recorders: dict[tuple[int, str], Recorder] = {}
_uptime_registries: set[tuple[int, str]] = set()
# Registries already serving an auth object's kubepulse_auth_* (one per registry: same names).
_auth_registries: set[int] = set()


class AppMetrics:
    """The metrics of one app (or several sharing a registry); see the module docstring.

    ``prefix``: prepended to every default metric name (``"shop"`` → ``shop_http_requests_total``).
    ``group_by``: what the ``route`` label holds: ``"route"`` (the template, default),
    ``"endpoint"`` (Flask's endpoint or the ASGI endpoint's name), ``"path"`` (the raw path:
    unbounded, pair it with ``max_label_values``) or a callable taking a ``RequestInfo``.
    ``exclude``: regular expressions matched from the start of the path; matching requests are
    not counted (``@untracked`` does the same for one Flask view).
    ``labels``: extra labels on the request metrics, each a string or a callable taking a
    ``RequestInfo`` (``lambda r: r.header("x-tenant") or "none"``).
    ``buckets``: the duration histogram's bucket bounds in seconds.
    ``response_size``: add ``http_response_size_bytes``.
    ``exemplars``: ``True`` attaches the W3C ``traceparent`` trace id to each count and duration
    (shown in OpenMetrics output), or a callable returning the trace id; single process only,
    as ``prometheus_client`` keeps no exemplars in multiprocess mode.
    ``max_label_values``: at most this many distinct values per label per metric; later ones are
    recorded as ``other`` and counted in ``http_label_values_dropped_total``.
    ``metrics_path=None`` mounts nothing on the app: serve the metrics with ``serve()``.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        registry: CollectorRegistry | None = None,
        prefix: str = "",
        group_by: str | Callable[[RequestInfo], str | None] = "route",
        exclude: Sequence[str] = (),
        labels: Mapping[str, LabelValue] | None = None,
        buckets: Sequence[float] | None = None,
        response_size: bool = False,
        exemplars: bool | Callable[[RequestInfo], str | None] = False,
        max_label_values: int | None = None,
        route: Callable[[dict[str, Any]], str | None] | None = None,
        web_config: WebConfig | str | os.PathLike[str] | None = None,
        metrics_path: str | None = "/metrics",
        healthz_path: str | None = "/healthz",
    ) -> None:
        self.options = Options(
            prefix=prefix,
            group_by=group_by,
            exclude=tuple(exclude),
            labels=dict(labels or {}),
            buckets=tuple(buckets) if buckets else None,
            response_size=response_size,
            exemplars=exemplars,
            max_label_values=max_label_values,
        )
        self.registry = registry or REGISTRY
        self.route = route
        self.metrics_path = metrics_path
        self.healthz_path = healthz_path
        if web_config is None and os.environ.get("KUBEPULSE_WEB_CONFIG"):
            web_config = os.environ["KUBEPULSE_WEB_CONFIG"]
        if web_config is not None and not isinstance(web_config, WebConfig):
            web_config = load_web_config(web_config)
        self.web_config: WebConfig | None = web_config
        self.auth: BasicAuth | None = web_config.basic_auth if web_config else None
        self.recorder = recorder_for(_recorders, self.registry, self.options)
        self.started = time.time()
        self.exposed = self._exposed_registry()
        if self.auth is not None and id(self.exposed) not in _auth_registries:
            # The login checks' own counters (checks, refusals, failing clients) are served
            # beside the app's; in multiprocess mode they are those of the worker that answers.
            _auth_registries.add(id(self.exposed))
            self.exposed.register(self.auth)
        self._custom_guards: dict[str, LabelGuard] = {}
        if app is not None:
            self.init_app(app)

    # ------------------------------------------------------------------ exposition

    def _exposed_registry(self) -> CollectorRegistry:
        uptime = self.options.name("app_uptime_seconds")
        directory = multiprocess_dir()
        if directory is None:
            key = (id(self.registry), self.options.prefix)
            if key not in _uptime_registries:
                _uptime_registries.add(key)
                self.registry.register(_Uptime(uptime, self.started))
            return self.registry
        # Per-worker values live in files; each scrape aggregates them, whichever worker answers.
        mp.clear_before_uwsgi_forks(directory)
        exposed = mp.exposed_registry(directory)
        exposed.register(_Uptime(uptime, mp.shared_start_time(directory)))
        return exposed

    def metrics_wsgi_app(self) -> WSGIApp:
        """The WSGI app answering ``/metrics`` (text or OpenMetrics, as ``Accept`` asks)."""
        inner = cast(WSGIApp, make_wsgi_app(self.exposed))
        directory = multiprocess_dir()
        if directory is None:
            return inner

        def sweeping(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            mp.mark_dead_workers(directory)
            return inner(environ, start_response)

        return sweeping

    def serve(self, listen_address: str = "127.0.0.1:9100") -> ExporterServer:
        """Serve ``/metrics`` and ``/healthz`` on their own port, in a daemon thread.

        The exporters' HTTP server, with this object's web config (TLS and basic auth). In
        multiprocess mode call it in one process only (gunicorn's ``when_ready`` hook, in the
        master): it aggregates every worker's files like the mounted ``/metrics``.
        """
        handler = prometheus_client_handler(self.exposed)
        directory = multiprocess_dir()
        if directory is not None:
            inner = handler

            def handler(request: Any) -> Any:
                mp.mark_dead_workers(directory)
                return inner(request)

        return ExporterServer({"/metrics": handler}, listen_address, self.web_config).start()

    # ------------------------------------------------------------------ WSGI and Flask

    def wsgi(self, app: WSGIApp) -> WSGIApp:
        """``app`` wrapped: instrumented, with ``/metrics`` and ``/healthz`` mounted beside it."""
        return self._wrap(app, None)

    def _wrap(self, app: WSGIApp, flask: _Flask | None) -> WSGIApp:
        # flask: what init_app hooked into the Flask app whose wsgi_app is ``app``.
        mounts: dict[str, WSGIApp] = {}
        if self.metrics_path is not None:
            mounts[self.metrics_path] = self.metrics_wsgi_app()
        if self.healthz_path is not None and not _flask_has_rule(app, self.healthz_path):
            mounts[self.healthz_path] = _healthz
        if self.auth is not None:
            auth = self.auth
            mounts = {path: _protected(mounted, auth) for path, mounted in mounts.items()}
        return _Instrumented(app, self, mounts, flask)

    def init_app(self, app: Any) -> Any:
        """Instrument ``app`` (for app factories); return what the WSGI server should call.

        A Flask app is changed in place (its ``wsgi_app`` is wrapped) and returned, so
        ``gunicorn module:app`` keeps working; routes come from Flask's URL rules. Any other WSGI
        callable is wrapped and the wrapper returned; its route template comes from
        ``environ["kubepulse.route"]`` if the app sets it, else from ``route(environ)``, else
        ``"unmatched"``. A Flask app with its own ``/healthz`` rule keeps it.
        """
        is_flask = hasattr(app, "wsgi_app") and hasattr(app, "url_map")
        if not is_flask:
            return self.wsgi(app)
        app.wsgi_app = self._wrap(app.wsgi_app, self._connect_flask(app))
        return app

    def _connect_flask(self, app: Any) -> _Flask:
        from flask import got_request_exception, request

        # The route and the view are read from the request's URL rule when the request is
        # recorded: the request context Flask makes for the environ is kept in it (Flask clears
        # environ["werkzeug.request"] before the body is sent). No per-request signal or hook,
        # which costs a dispatch per request; Flask matches the rule when the context is made.
        # The key is this wrapper's own, so an app instrumented twice is read by both.
        flask = _Flask(app.view_functions, f"{CONTEXT_KEY}.{next(_flask_hooks)}")
        make_context = app.request_context

        def request_context(environ: dict[str, Any]) -> Any:
            context = make_context(environ)
            environ[flask.context_key] = context
            return context

        setattr(app, "request_context", request_context)  # noqa: B010  # shadows the method

        # Exceptions Flask turns into a 500 are seen only through this signal, sent just for them.
        def on_exception(sender: Any, exception: BaseException, **_: Any) -> None:
            request.environ[EXCEPTION_KEY] = type(exception).__name__

        got_request_exception.connect(on_exception, app, weak=False)
        return flask

    # ------------------------------------------------------------------ custom metrics

    def _guard(self, name: str) -> LabelGuard:
        guard = self._custom_guards.get(name)
        if guard is None:
            limit = self.options.max_label_values
            guard = self._custom_guards[name] = LabelGuard(name, limit, self.recorder.dropped)
        return guard

    def _view_metric(
        self, kind: type[Any], name: str, documentation: str, labels: LabelSpec | None, **kw: Any
    ) -> Callable[[F], F]:
        spec = labels or {}
        metric = kind(name, documentation, list(spec), registry=self.registry, **kw)
        return self._decorator(metric, spec, self._guard(name))

    def _decorator(
        self, metric: Counter | Histogram | Summary | Gauge, labels: LabelSpec, guard: LabelGuard
    ) -> Callable[[F], F]:
        """What wraps a decorated view to record ``metric``: here a Flask view's wrapper."""
        return view_metric(metric, labels, guard)

    def counter(
        self, name: str, documentation: str, labels: LabelSpec | None = None
    ) -> Callable[[F], F]:
        """Decorate a view: count its calls (``name`` should end in ``_total``)."""
        return self._view_metric(Counter, name, documentation, labels)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: LabelSpec | None = None,
        buckets: Sequence[float] | None = None,
    ) -> Callable[[F], F]:
        """Decorate a view: observe the seconds it takes."""
        kw: dict[str, Any] = {"buckets": tuple(buckets)} if buckets else {}
        return self._view_metric(Histogram, name, documentation, labels, **kw)

    def summary(
        self, name: str, documentation: str, labels: LabelSpec | None = None
    ) -> Callable[[F], F]:
        """Decorate a view: observe the seconds it takes, as a summary (count and sum)."""
        return self._view_metric(Summary, name, documentation, labels)

    def gauge(
        self, name: str, documentation: str, labels: LabelSpec | None = None
    ) -> Callable[[F], F]:
        """Decorate a view: how many of its calls run right now (summed over workers)."""
        return self._view_metric(Gauge, name, documentation, labels, multiprocess_mode="livesum")

    def info(self, name: str, documentation: str, **labels: str) -> Gauge:
        """A gauge set to 1 whose labels carry facts.

        ``metrics.info("app_info", "Build facts.", version="1.2")``.
        """
        metric = Gauge(
            name, documentation, sorted(labels), registry=self.registry, multiprocess_mode="max"
        )
        (metric.labels(**labels) if labels else metric).set(1)
        return metric


def _flask_has_rule(app: Any, path: str) -> bool:
    url_map = getattr(getattr(app, "__self__", None), "url_map", None)
    return url_map is not None and any(rule.rule == path for rule in url_map.iter_rules())


class _Flask:
    """A Flask app's view functions, and the environ key its request context is kept under."""

    __slots__ = ("context_key", "views")

    def __init__(self, views: Mapping[str, Any], context_key: str) -> None:
        self.views = views
        self.context_key = context_key


_flask_hooks = itertools.count()  # numbers the context keys


class _Instrumented:
    """The WSGI wrapper that times and counts each request, with ``mounts`` beside the app.

    ``mounts`` (``/metrics``, ``/healthz``) are found by one exact-path lookup (werkzeug's
    ``DispatcherMiddleware`` tries every prefix of the path) and are not counted.
    """

    def __init__(
        self,
        app: WSGIApp,
        owner: AppMetrics,
        mounts: dict[str, WSGIApp],
        flask: _Flask | None = None,
    ) -> None:
        self.app = app
        self.mounts = mounts
        self.recorder = owner.recorder
        self.route = owner.route
        self.group_by = owner.options.group_by
        self.excluded = owner.options.excluded()
        self.has_exclusions = bool(owner.options.exclude)
        self.count_size = owner.recorder.size is not None
        self.flask = flask
        # Under Flask with group_by route or endpoint the label is Flask's; else as _route says.
        self.flask_route = flask is not None and self.group_by in ("route", "endpoint")

    def _route(self, environ: dict[str, Any], request: RequestInfo | None) -> str | None:
        """The route label when neither the app nor Flask's URL rule gave one."""
        group_by = self.group_by
        if callable(group_by):
            return group_by(request or _request_info(environ))
        if group_by == "path":
            return environ.get("PATH_INFO") or "/"
        return self.route(environ) if self.route is not None else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        mounted = self.mounts.get(path)
        if mounted is not None:
            return mounted(environ, start_response)
        if self.has_exclusions and self.excluded(path):
            return self.app(environ, start_response)
        call = _Call(self, environ, start_response)
        try:
            call.body = self.app(environ, call.start_response)
        except BaseException as exc:
            call.finish(exc)
            raise
        return call


class _Call:
    """One request: the ``start_response`` the app calls and the body the server reads.

    The request is recorded after the body's last byte (or on ``close()``, or when the app or
    the body raises), once. One object per request instead of closures and a body wrapper.
    """

    __slots__ = (
        "body",
        "done",
        "environ",
        "method",
        "owner",
        "preset",
        "running",
        "size",
        "start",
        "status",
        "upstream",
    )

    def __init__(
        self, owner: _Instrumented, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> None:
        self.owner = owner
        self.environ = environ
        self.upstream = start_response
        self.status = "500"
        self.size = 0
        self.done = False
        self.body: Iterable[bytes] = ()
        method = environ.get("REQUEST_METHOD", "GET")
        self.method = method = METHOD_LABELS.get(method) or method_label(method)
        # A route set before Flask routed is replaced by Flask's (a view may still set its own).
        self.preset = environ.get(ROUTE_KEY) if owner.flask_route else None
        running = owner.recorder.running_values.get(method)
        if running is None:
            running = owner.recorder.running_value(method)
        self.running = running
        running.inc(1)
        self.start = perf_counter()

    def start_response(
        self, status_line: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Any:
        self.status = status_line.split(" ", 1)[0]
        if exc_info is None:
            return self.upstream(status_line, headers)
        return self.upstream(status_line, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        try:
            if self.owner.count_size:
                for chunk in self.body:
                    self.size += len(chunk)
                    yield chunk
            else:
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
            if not self.done:
                self.finish(None)

    def finish(self, exc: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        seconds = perf_counter() - self.start
        try:
            self._record(exc, seconds)
        finally:
            # Only once the request is counted: a scrape that sees nothing in progress sees
            # every answered request's counts.
            self.running.inc(-1)

    def _record(self, exc: BaseException | None, seconds: float) -> None:
        environ = self.environ
        owner = self.owner
        flask = owner.flask
        # Popped first: no environ-request reference cycle is left (Flask avoids them too).
        context = environ.pop(flask.context_key, None) if flask is not None else None
        if environ.get(UNTRACKED_KEY):
            return
        route = environ.get(ROUTE_KEY)
        if flask is not None and context is not None:
            rule = context.request.url_rule
            if rule is not None and getattr(flask.views.get(rule.endpoint), _UNTRACKED_ATTR, False):
                return
            if owner.flask_route and (route is None or route is self.preset):
                if rule is None:
                    route = UNMATCHED
                else:
                    route = rule.rule if owner.group_by == "route" else rule.endpoint
        rec = owner.recorder
        error = environ.get(EXCEPTION_KEY) or (type(exc).__name__ if exc else None)
        if rec.needs_request:
            request = _request_info(environ)
            if route is None:
                route = owner._route(environ, request)
            route = route or UNMATCHED
            rec.finish(self.method, route, self.status, seconds, self.size, request, error)
            return
        # Static labels, no exemplars: Recorder.finish's work, without its call and checks.
        if route is None:
            route = owner._route(environ, None)
        key = (self.method, route or UNMATCHED, self.status, *rec.static_extra)
        if error:
            rec.count_exception(key[0], key[1], error, rec.static_extra)
        (rec.known.get(key) or rec.series(key)).observe(seconds, self.size)


def _request_info(environ: dict[str, Any]) -> RequestInfo:
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return RequestInfo(method_label(environ.get("REQUEST_METHOD", "GET")), path or "/", environ)


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


def instrument(app: Any, **options: Any) -> Any:
    """``AppMetrics(**options).init_app(app)``: instrument a Flask or WSGI app in one call.

    Returns the Flask app itself (changed in place) or the wrapped WSGI callable. An ASGI app
    goes through ``kubepulse.webapp.asgi.instrument`` instead.
    """
    return AppMetrics(**options).init_app(app)
