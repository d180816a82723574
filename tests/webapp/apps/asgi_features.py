"""A FastAPI app using kubepulse.webapp.asgi's per-endpoint decorators, served by uvicorn.

``async def`` and plain endpoints, a Starlette app mounted under ``/v1`` with a decorated
endpoint, label values from the request (``current_request()``) and from the response.
``KP_GROUP_BY`` sets ``group_by``; ``/held?gate=NAME`` answers once the file ``KP_GATES/NAME``
exists, so a test can keep requests in progress across worker processes and let them go at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kubepulse.webapp.asgi import AppMetrics, current_request

GATES = Path(os.environ.get("KP_GATES", "/nonexistent/kubepulse-gates"))

metrics = AppMetrics(
    prefix="shop",
    group_by=os.environ.get("KP_GROUP_BY", "route"),
    max_label_values=8,
)
api = FastAPI()


@api.get("/items/{item_id}")
@metrics.counter(
    "shop_item_views_total",
    "Item views by kind and status.",
    labels={
        "kind": lambda: current_request().query_params.get("kind", "plain"),
        "code": lambda response: response.status_code,
    },
)
async def item(item_id: int) -> Response:
    return PlainTextResponse(str(os.getpid()), status_code=203 if item_id == 7 else 200)


@api.get("/slow")
@metrics.histogram("shop_slow_seconds", "Slow endpoint time.", buckets=(0.02, 5.0))
@metrics.summary("shop_slow_summary_seconds", "Slow endpoint time, as a summary.")
async def slow() -> dict[str, int]:
    await asyncio.sleep(0.03)
    return {"pid": os.getpid()}


@api.get("/held")
@metrics.gauge(
    "shop_held_in_progress",
    "Held requests running.",
    labels={"view": "held", "tenant": lambda: current_request().headers.get("x-tenant", "none")},
)
async def held(gate: str = "open") -> dict[str, int]:
    for _ in range(600):  # at most 30 s
        if (GATES / gate).exists():
            break
        await asyncio.sleep(0.05)
    return {"pid": os.getpid()}


@api.get("/sync/{n}")
@metrics.counter(
    "shop_sync_calls_total",
    "Calls of a plain (threaded) endpoint.",
    labels={"n": lambda: current_request().path_params["n"]},
)
def sync_endpoint(n: int) -> dict[str, object]:
    return {"n": n, "main_thread": threading.current_thread() is threading.main_thread()}


@api.get("/boom")
@metrics.counter("shop_boom_total", "Calls of an endpoint that always raises.")
@metrics.gauge("shop_boom_in_progress", "Failing calls running.")
async def boom() -> None:
    raise RuntimeError("this endpoint always fails")


class Lookup:
    """An endpoint object whose ``__call__`` is ``async def``."""

    async def __call__(self, key: str) -> dict[str, str]:
        await asyncio.sleep(0.03)
        return {"key": key}


api.add_api_route(
    "/lookup/{key}",
    metrics.histogram("shop_lookup_seconds", "Lookup time.", buckets=(0.02, 5.0))(Lookup()),
)


@metrics.counter(
    "shop_user_views_total",
    "Views of a mounted Starlette endpoint.",
    labels={"name": lambda: current_request().path_params["name"]},
)
async def user(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["name"])


api.mount("/v1", Starlette(routes=[Route("/users/{name}", user)]))
metrics.info("shop_build_info", "Build facts.", version="1.2.3")
app = metrics.init_app(api)
