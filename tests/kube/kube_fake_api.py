"""A loopback stand-in for one resource's list and watch endpoints, scripted per test.

A real API server cannot be made to answer 410 to one chosen watch, close a stream after the
second event, refuse a given number of watches or time its events to the millisecond; this one
does exactly what a test asks, and records every request with its arrival time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from kubernetes import client as k8s
from waiting import wait_until as wait_until  # re-exported for the kube tests

from kubepulse.kube.client import KubeClient


@dataclass
class Request:
    at: float  # time.monotonic() on arrival
    path: str
    query: dict[str, str]

    @property
    def kind(self) -> str:
        """``list``, ``watch`` or ``streamed`` (a watch that asks for the list first)."""
        if "watch" not in self.query:
            return "list"
        return "streamed" if self.query.get("sendInitialEvents") == "true" else "watch"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a JSON document: a plain reply
    events: Sequence[dict[str, Any]] = ()  # a watch: one JSON line each, flushed one by one
    pause: float = 0.0  # before each event
    hold: float = 0.0  # after the events, before the stream ends
    cut: bool = False  # end the connection without the closing chunk (a broken stream)


@dataclass
class FakeApi:
    answer: Callable[[Request], Reply]
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def of_kind(self, kind: str) -> list[Request]:
        return [r for r in self.requests if r.kind == kind]


def pod(name: str, rv: str | int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
        }
    }


def event(kind: str, name: str, rv: str | int) -> dict[str, Any]:
    return {"type": kind, "object": pod(name, rv)}


def bookmark(rv: str | int, initial_end: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": meta}}


def error(code: int, message: str = "") -> dict[str, Any]:
    return {"type": "ERROR", "object": {"kind": "Status", "code": code, "message": message}}


def listing(rv: str | int, *names: str) -> Reply:
    return Reply(
        body={"items": [pod(n, rv) for n in names], "metadata": {"resourceVersion": str(rv)}}
    )


def status(code: int, message: str = "refused") -> Reply:
    return Reply(code, {"kind": "Status", "code": code, "message": message})


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            request = Request(time.monotonic(), url.path, query)
            api.requests.append(request)
            reply = api.answer(request)
            try:
                if (
                    reply.body is not None
                    or reply.status != 200
                    or not (reply.events or reply.hold)
                ):
                    self._plain(reply)
                else:
                    self._stream(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _plain(self, reply: Reply) -> None:
            body = orjson.dumps(reply.body if reply.body is not None else {})
            if reply.body is None and reply.status == 200:
                body = b""  # a watch that ends at once, with nothing in it
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, reply: Reply) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for ev in reply.events:
                time.sleep(reply.pause)
                line = orjson.dumps(ev) + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            time.sleep(reply.hold)
            if reply.cut:
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_api(answer: Callable[[Request], Reply]) -> Iterator[tuple[FakeApi, KubeClient]]:
    """The running fake and a ``KubeClient`` pointed at it."""
    api = FakeApi(answer)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    cfg = k8s.Configuration()
    cfg.host = api.url
    client = KubeClient(cfg)
    try:
        yield api, client
    finally:
        client.close()
        server.shutdown()
        server.server_close()
