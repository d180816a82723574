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

Nothing here blocks the event loop: the basic-auth check (bcrypt) and the multiprocess scrape
(reading every worker's files) run in a worker thread. The check keeps the limits of
``kubepulse.exposition.auth.BasicAuth``: a bounded number of bcrypt checks at once (others get
503 at once, so threads never pile up) and a per-address failure limit (429).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client.exposition import choose_encoder

from kubepulse.webapp import UNMATCHED, AppMetrics
from kubepulse.webapp import multiprocess as mp
from kubepulse.webapp._core import RequestInfo, method_label

__all__ = ["instrument", "route_template"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ROUTE_KEY = "kubepulse.route"


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
    def __init__(self, app: ASGIApp, owner: AppMetrics) -> None:
        self.app = app
        self.owner = owner
        self.recorder = owner.recorder
        self.group_by = owner.options.group_by
        self.excluded = owner.options.excluded()
        self.directory = mp.multiprocess_dir()
        self.own = {owner.metrics_path, owner.healthz_path} - {None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in self.own:
            await self._own(scope, send, path)
            return
        if self.excluded(path):
            await self.app(scope, receive, send)
            return
        await self._instrumented(scope, receive, send)

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
            running.dec()
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


def instrument(app: Any, **options: Any) -> ASGIApp:
    """Wrap an ASGI app: record its requests and answer ``/metrics`` and ``/healthz``.

    ``options`` are those of ``kubepulse.webapp.AppMetrics`` (``metrics=`` passes one made
    already, to share it or to use its decorators' registry). The app's own ``/healthz`` is
    shadowed; pass ``healthz_path=None`` to keep it.
    """
    owner = options.pop("metrics", None) or AppMetrics(**options)
    return _Instrumented(app, owner)
