"""ASGI apps the webapp tests serve under uvicorn and gunicorn: FastAPI and plain Starlette."""

from __future__ import annotations

import os

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from kubepulse.webapp.asgi import instrument

api = FastAPI()


@api.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"item": item_id, "pid": os.getpid()}


@api.get("/fail")
async def fail() -> None:
    raise RuntimeError("this endpoint always fails")


@api.get("/big")
async def big() -> PlainTextResponse:
    return PlainTextResponse("x" * 5000)


async def user(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["name"])


async def skipped(request: Request) -> PlainTextResponse:
    return PlainTextResponse("not counted")


inner = Starlette(routes=[Route("/users/{name}", user)])
star = Starlette(routes=[Mount("/v1", app=inner), Route("/internal/ping", skipped)])

fastapi_app = instrument(
    api,
    response_size=True,
    labels={"tenant": lambda r: r.header("x-tenant") or "none"},
    max_label_values=int(os.environ.get("KP_MAX_LABEL_VALUES", "50")),
    exemplars=True,
    web_config=os.environ.get("KP_WEB_CONFIG") or None,
)
starlette_app = instrument(star, prefix="star", exclude=[r"/internal/"])
