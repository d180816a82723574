"""The server the webapp benchmark measures: three copies of one app in one process.

``python servers.py FRAMEWORK PORT``: FRAMEWORK ``flask`` (werkzeug's single-threaded WSGI server,
HTTP/1.1 keep-alive) or ``fastapi`` (uvicorn, one process). ``/plain/...`` is the bare app,
``/kubepulse/...`` the app instrumented by kubepulse, ``/peer/...`` by the framework's usual
exporter (prometheus_flask_exporter, prometheus-fastapi-instrumentator). Each copy serves
``/items/<id>`` and, when instrumented, ``/metrics``.

Around each call of a copy the server adds the CPU time of its thread (``time.thread_time``) to
that copy's total: the HTTP parsing, identical for the three, stays out, and requests to the
three copies interleave so background load hits them alike. ``GET /cpu`` returns the totals
and request counts as JSON.

With ``WEBAPP_BENCH_PROFILE=1`` (``flask`` only; ``hotpath.py`` drives it) each copy's calls also
run under its own ``cProfile`` profiler, and ``GET /profile`` returns each copy's top functions.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

COPIES = ("plain", "kubepulse", "peer")
spent = {name: 0.0 for name in COPIES}
calls = dict.fromkeys(COPIES, 0)


def flask_app(mode: str) -> Any:
    from flask import Flask
    from prometheus_client import CollectorRegistry

    app = Flask(f"bench-{mode}")

    @app.route("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return "ok"

    if mode == "kubepulse":
        from kubepulse.webapp import instrument

        instrument(app, registry=CollectorRegistry())
    elif mode == "peer":
        from prometheus_flask_exporter import PrometheusMetrics

        PrometheusMetrics(app, group_by="url_rule")
    return app


def fastapi_app(mode: str) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
    from prometheus_client import CollectorRegistry

    api = FastAPI()

    @api.get("/items/{item_id}", response_class=PlainTextResponse)
    async def item(item_id: int) -> str:
        return "ok"

    if mode == "kubepulse":
        from kubepulse.webapp.asgi import instrument

        return instrument(api, registry=CollectorRegistry())
    if mode == "peer":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(api).expose(api)
    return api


profilers = (
    {name: cProfile.Profile() for name in COPIES}
    if os.environ.get("WEBAPP_BENCH_PROFILE") == "1"
    else {}
)


def _totals() -> bytes:
    return json.dumps({"seconds": spent, "calls": calls}).encode()


def _profiles(top: int = 25) -> bytes:
    out = io.StringIO()
    for name, profiler in profilers.items():
        out.write(f"== {name}: {calls[name]} calls\n")
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
    return out.getvalue().encode()


def wsgi_server(port: int) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    apps = {name: flask_app(name) for name in COPIES}

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        name, _, rest = environ["PATH_INFO"][1:].partition("/")
        if name == "profile":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [_profiles()]
        if name not in apps:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [_totals()]
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = "/" + name, "/" + rest
        profiler = profilers.get(name)
        if profiler is not None:
            profiler.enable()
        start = time.thread_time()
        body = apps[name](environ, start_response)
        try:
            chunks = list(body)  # the body is part of the request's cost
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        spent[name] += time.thread_time() - start
        if profiler is not None:
            profiler.disable()
        calls[name] += 1
        return chunks

    class KeepAlive(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # one connection for all requests, as with uvicorn

        def log_request(self, *args: Any) -> None:
            pass

    make_server("127.0.0.1", port, dispatch, request_handler=KeepAlive).serve_forever()


def asgi_server(port: int) -> None:
    import uvicorn

    apps = {name: fastapi_app(name) for name in COPIES}

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        name, _, rest = scope["path"][1:].partition("/")
        if name not in apps:
            body = _totals()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        start = time.thread_time()
        await apps[name]({**scope, "path": "/" + rest, "raw_path": b""}, receive, send)
        spent[name] += time.thread_time() - start
        calls[name] += 1

    uvicorn.run(dispatch, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    server = wsgi_server if sys.argv[1] == "flask" else asgi_server
    server(int(sys.argv[2]))
