"""Instrumentation for any ASGI app: Starlette, FastAPI or a bare ASGI callable.

``instrument(app, **options)`` (the options of ``kubepulse.webapp.AppMetrics``) returns an ASGI
app that records the same metrics with the same labels as the WSGI one, and answers
``/metrics`` and ``/healthz`` itself::

    from fastapi import FastAPI
    from kubepulse.webapp.asgi import instrument

    api = FastAPI()
    app = instrument(api)          # uvicorn module:app

``route`` is the template of the route Starlette's (and so FastAPI's) router matched
(``/items/{item_id}``), read from the request scope after the app ran; under a ``Mount`` the
mount's path is put in front. Other ASGI apps may set ``scope["kubepulse.route"]``.

Per-endpoint metrics come from this module's ``AppMetrics``: the WSGI one's decorators
(``counter``, ``histogram``, ``summary``, ``gauge``) for endpoints, ``async def`` or not, and its
``info``; ``init_app(app)`` returns the instrumented app::

    metrics = AppMetrics(prefix="shop")

    @api.get("/items/{item_id}")
    @metrics.counter("shop_item_views_total", "Item views.",
                     labels={"kind": lambda: current_request().query_params.get("kind", "plain")})
    async def item(item_id: int) -> dict[str, int]: ...

    app = metrics.init_app(api)

Nothing here blocks the event loop: the basic-auth check (bcrypt) and the multiprocess scrape
(reading every worker's files) run in a worker thread. The check keeps the limits of
``kubepulse.exposition.auth.BasicAuth``: a bounded number of bcrypt checks at once (others get
503 at once, so threads never pile up) and a per-address failure limit (429).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram, Summary
from prometheus_client.exposition import choose_encoder

from kubepulse import webapp
from kubepulse.webapp import UNMATCHED
from kubepulse.webapp import multiprocess as mp
from kubepulse.webapp._core import LabelGuard, RequestInfo, method_label
from kubepulse.webapp._custom import LabelSpec, _split

__all__ = ["AppMetrics", "current_request", "instrument", "route_template"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ROUTE_KEY = "kubepulse.route"
F = TypeVar("F", bound=Callable[..., Any])

# The scope of the request being served, for the label callables of the endpoint decorators.
_current_scope: ContextVar[Scope | None] = ContextVar("kubepulse_asgi_scope", default=None)


def current_request() -> Any:
    """The Starlette ``Request`` being served (headers, ``query_params``, ``path_params``...).

    For the label callables of this module's ``AppMetrics`` decorators, like ``flask.request``
    in a Flask view: valid while the app its ``init_app`` returned (or ``instrument(app,
    metrics=...)`` with it) serves a request: in the endpoint, its dependencies, its threads.
    ``LookupError`` elsewhere (a plain ``instrument(app)`` does not keep the request for it).
    """
    scope = _current_scope.get()
    if scope is None:
        raise LookupError(
            "no request is being served by an app instrumented with a "
            "kubepulse.webapp.asgi.AppMetrics (its init_app, or instrument(app, metrics=...))"
        )
    from starlette.requests import Request

    return Request(scope)


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        import anyio.to_thread
    except ImportError:  # pragma: no cover - Starlette and FastAPI bring anyio
        import asyncio

        return await asyncio.to_thread(fn, *args)
    return await anyio.to_thread.run_sync(fn, *args)


def route_template(scope: Scope, root_path: str, group_by: Any) -> str:
    """The ``route`` label of a finished request, from what the router left in ``scope``."""
    value = scope.get(ROUTE_KEY)
    if value:
        return str(value)
    if group_by == "path":
        return str(scope.get("path") or "/")
    if group_by == "endpoint":
        endpoint = scope.get("endpoint")
        return str(getattr(endpoint, "__name__", None) or UNMATCHED)
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))[len(root_path) :]
    if type(route).__name__ == "Mount":  # a mounted non-router app: its path is in root_path
        return (mounted or path) + "/{path:path}"
    return mounted + path


async def _send_text(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _Instrumented:
    def __init__(self, app: ASGIApp, owner: webapp.AppMetrics) -> None:
        self.app = app
        self.owner = owner
        self.recorder = owner.recorder
        self.group_by = owner.options.group_by
        self.excluded = owner.options.excluded()
        self.directory = mp.multiprocess_dir()
        self.own = {owner.metrics_path, owner.healthz_path} - {None}
        # Only this module's AppMetrics has endpoint decorators (readers of current_request()):
        # a plain instrument(app) skips keeping the scope in a context variable.
        self.keeps_request = isinstance(owner, AppMetrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in self.own:
            await self._own(scope, send, path)
            return
        if self.excluded(path):
            serving = self.app(scope, receive, send)
        else:
            serving = self._instrumented(scope, receive, send)
        if not self.keeps_request:
            await serving
            return
        token = _current_scope.set(scope)  # the coroutine runs (and sees it) when awaited
        try:
            await serving
        finally:
            _current_scope.reset(token)

    async def _instrumented(self, scope: Scope, receive: Receive, send: Send) -> None:
        rec = self.recorder
        method = method_label(scope.get("method", "GET"))
        root_path = str(scope.get("root_path", ""))
        start = time.perf_counter()
        running = rec.running(method)
        running.inc()
        state: dict[str, Any] = {"status": "500", "size": 0, "done": False, "end": None}

        def finish(exc: BaseException | None) -> None:
            if state["done"]:
                return
            state["done"] = True
            try:
                _record(exc)
            finally:
                # Only once the request is counted: a scrape that sees nothing in progress
                # sees every answered request's counts.
                running.dec()

        def _record(exc: BaseException | None) -> None:
            request = None
            if rec.needs_request:
                request = RequestInfo(method, str(scope.get("path", "/")), scope)
            if callable(self.group_by):
                route = self.group_by(request or RequestInfo(method, scope["path"], scope))
                route = route or UNMATCHED
            else:
                route = route_template(scope, root_path, self.group_by)
            seconds = (state["end"] or time.perf_counter()) - start
            error = type(exc).__name__ if exc is not None else None
            status, size = str(state["status"]), int(state["size"])
            rec.finish(method, route, status, seconds, size, request, error)

        async def recording_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                state["status"] = str(message["status"])
            elif kind == "http.response.body":
                state["size"] = int(state["size"]) + len(message.get("body", b""))
                if not message.get("more_body", False):
                    await send(message)
                    # Timed to the last byte; recorded once the app returns or raises (Starlette
                    # sends its 500 page before re-raising, so the exception is known only then).
                    state["end"] = time.perf_counter()
                    return
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException as exc:
            finish(exc)
            raise
        finish(None)

    async def _own(self, scope: Scope, send: Send, path: str) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = self.owner.auth
        if auth is not None:
            client = scope.get("client") or ("", 0)
            verdict = await _in_thread(auth.authorize, headers.get("authorization"), client[0])
            if not verdict.ok:
                extra = {"Content-Type": "text/plain; charset=utf-8", **verdict.response_headers()}
                await _send_text(send, verdict.status, verdict.body(), extra)
                return
        if path == self.owner.healthz_path:
            await _send_text(send, 200, b"ok\n", {"Content-Type": "text/plain; charset=utf-8"})
            return
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        body = await _in_thread(self._render, encoder)
        await _send_text(send, 200, body, {"Content-Type": content_type})

    def _render(self, encoder: Callable[[Any], bytes]) -> bytes:
        if self.directory is not None:
            mp.mark_dead_workers(self.directory)
        return encoder(self.owner.exposed)


class _Observed:
    """One decorated endpoint's metric: label values from the request and from what it returned."""

    def __init__(
        self, metric: Counter | Histogram | Summary | Gauge, labels: LabelSpec, guard: LabelGuard
    ) -> None:
        self.static, self.from_request, self.from_response = _split(labels)
        if isinstance(metric, Gauge) and self.from_response:
            raise ValueError("labels: a gauge's labels cannot come from the response")
        self.metric = metric
        self.labelled = bool(labels)
        self.guard = guard
        self.counts = isinstance(metric, Counter)

    def request_values(self) -> dict[str, str]:
        return {name: str(fn()) for name, fn in self.from_request.items()}

    def child(self, dynamic: dict[str, str]) -> Any:
        if not self.labelled:
            return self.metric
        admit = self.guard.admit
        values = dict(self.static)
        for name, value in dynamic.items():
            values[name] = admit(name, value)
        return self.metric.labels(**values)

    def record(self, dynamic: dict[str, str], response: Any, seconds: float) -> None:
        for name, fn in self.from_response.items():
            dynamic[name] = str(fn(response))
        child = self.child(dynamic)
        if self.counts:
            child.inc()
        else:
            child.observe(seconds)

    def wrap(self, endpoint: F) -> F:
        gauge = isinstance(self.metric, Gauge)
        wrapper: Callable[..., Any]
        # An async function, or an object whose __call__ is one (Starlette awaits both).
        if inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
            type(endpoint).__call__
        ):
            if gauge:

                async def wrapper(*args: Any, **kwargs: Any) -> Any:
                    running = self.child(self.request_values())
                    running.inc()
                    try:
                        return await endpoint(*args, **kwargs)
                    finally:
                        running.dec()

            else:

                async def wrapper(*args: Any, **kwargs: Any) -> Any:
                    dynamic = self.request_values()
                    start = time.perf_counter()
                    response = await endpoint(*args, **kwargs)
                    self.record(dynamic, response, time.perf_counter() - start)
                    return response

        elif gauge:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                running = self.child(self.request_values())
                running.inc()
                try:
                    return endpoint(*args, **kwargs)
                finally:
                    running.dec()

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                dynamic = self.request_values()
                start = time.perf_counter()
                response = endpoint(*args, **kwargs)
                self.record(dynamic, response, time.perf_counter() - start)
                return response

        return functools.wraps(endpoint)(wrapper)  # type: ignore[return-value]


class AppMetrics(webapp.AppMetrics):
    """``kubepulse.webapp.AppMetrics`` for ASGI apps: the same options, metrics and decorators.

    ``init_app(app)`` returns the instrumented app (serve that). The decorators wrap Starlette
    and FastAPI endpoints, ``async def`` or plain (FastAPI runs those in a thread), and keep their
    signature, so FastAPI still sees the endpoint's parameters. A label value is a string, a
    callable with no argument (called before the endpoint runs, so it can read
    ``current_request()``) or a callable with one argument (called with what the endpoint
    returned: a Starlette ``Response``, or the value FastAPI will serialize). Histograms and
    summaries time the endpoint's call (a streamed body is not in it; the request duration
    histogram has it). Endpoints that raise record nothing here; a gauge still goes back down.
    """

    def __init__(self, app: None = None, **options: Any) -> None:
        if app is not None:
            raise TypeError("AppMetrics(app): for ASGI, serve what metrics.init_app(app) returns")
        super().__init__(**options)

    def init_app(self, app: Any) -> ASGIApp:
        """The ASGI app wrapped: instrumented, answering ``/metrics`` and ``/healthz``."""
        return _Instrumented(app, self)

    def _decorator(
        self, metric: Counter | Histogram | Summary | Gauge, labels: LabelSpec, guard: LabelGuard
    ) -> Callable[[F], F]:
        """The decorators wrap an endpoint (async or plain), not a Flask view."""
        return _Observed(metric, labels, guard).wrap


def instrument(app: Any, **options: Any) -> ASGIApp:
    """Wrap an ASGI app: record its requests and answer ``/metrics`` and ``/healthz``.

    ``options`` are those of ``kubepulse.webapp.AppMetrics`` (``metrics=`` passes one made
    already, to share it or to use its decorators; then no other option is taken). The app's
    own ``/healthz`` is shadowed; pass ``healthz_path=None`` to keep it.
    """
    owner = options.pop("metrics", None)
    if owner is None:
        owner = webapp.AppMetrics(**options)
    elif options:
        raise TypeError(f"instrument(metrics=...): the options {sorted(options)} are the metrics'")
    return _Instrumented(app, owner)
