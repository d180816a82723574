"""Strict HTTP/1.x: malformed and unsupported requests get a proper status line (real sockets)."""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from helpers_abuse import raw_exchange

from kubepulse.exposition.options import web_options
from kubepulse.exposition.server import ExporterServer, Request, Response, ServerLimits


@pytest.fixture
def server() -> Iterator[ExporterServer]:
    def echo(request: Request) -> Response:
        names = ",".join(sorted(request.headers))
        return Response(body=f"{request.method} {request.path} {names}\n".encode())

    limits = ServerLimits(idle_timeout=1.0, read_header_timeout=2.0)
    with ExporterServer({"/echo": echo}, limits=limits) as srv:
        yield srv


def _status(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1.1 "), answer[:100]
    return int(line.split(b" ")[1]), body


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (b"GET /echo\r\n\r\n", 400, b"HTTP/0.9 requests are not supported"),
        (b"GET /echo HTTP/2.0\r\nHost: x\r\n\r\n", 505, b"HTTP/2.0 is not supported"),
        (b"GET /echo HTTP/1.10\r\nHost: x\r\n\r\n", 400, b"malformed HTTP version"),
        (b"GET /echo HTTX/1.1\r\nHost: x\r\n\r\n", 400, b"malformed HTTP version"),
        (b"\x16\x03\x01garbage\r\n\r\n", 400, b"malformed request line"),
        (b"GET  /echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"malformed request line"),
        (b"G(T /echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"malformed method"),
        (b"GET echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"malformed request target"),
        # A malformed header line is refused, not dropped with every header after it.
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\nno colon here\r\nX-After: 1\r\n\r\n",
            400,
            b"malformed header line 'no colon here'",
        ),
        (b"GET /echo HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, b"malformed header line"),
        (b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400, b"line folding"),
        (b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, b"bare CR"),
        (b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, b"control character"),
        (b"GET /echo HTTP/1.1\r\nX-A: 1\r\n\r\n", 400, b"exactly one Host header"),
        (b"GET /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, b"exactly one Host header"),
        # Transfer-Encoding on a GET: the request-smuggling shape behind a proxy.
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            b"Transfer-Encoding is not accepted on a GET request",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            411,
            b"send Content-Length",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
            b"malformed Content-Length",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            400,
            b"malformed Content-Length",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
            413,
            b"request body too large",
        ),
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 40_000 + b"\r\n\r\n",
            431,
            b"request head too large",
        ),
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n",
            431,
            b"more than 100 header lines",
        ),
    ],
    ids=lambda v: v.decode("latin-1")[:30] if isinstance(v, bytes) else str(v),
)
def test_malformed_requests_get_a_status_line_and_the_reason(
    server: ExporterServer, request_bytes: bytes, status: int, message: bytes
) -> None:
    answer = raw_exchange(server.port, request_bytes)
    got, body = _status(answer)
    assert got == status
    assert message in body
    assert b"Connection: close\r\n" in answer
    # The server is still serving afterwards.
    assert _status(raw_exchange(server.port, b"GET /echo HTTP/1.0\r\n\r\n"))[0] == 200


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PUT", "DELETE", "PATCH", "BREW"])
def test_unsupported_methods_get_405_with_allow_and_keep_the_connection(
    server: ExporterServer, method: str
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, "/echo")
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("Allow"), resp.read()) == (
            405,
            "GET, HEAD, POST",
            b"method not allowed\n",
        )
        conn.request("GET", "/echo", headers={"X-Next": "1"})
        assert conn.getresponse().read() == b"GET /echo Accept-Encoding,Host,X-Next\n"
    finally:
        conn.close()


def test_valid_variants_are_served(server: ExporterServer) -> None:
    # Empty lines before the request line and LF-only line ends are allowed (RFC 9112).
    answer = raw_exchange(server.port, b"\r\n\r\nGET /echo HTTP/1.1\nHost: x\nX-Lf: 1\n\n")
    assert _status(answer) == (200, b"GET /echo Host,X-Lf\n")
    # HTTP/1.0 needs no Host; the absolute form is accepted.
    answer = raw_exchange(server.port, b"GET http://x/echo HTTP/1.0\r\n\r\n")
    assert _status(answer) == (200, b"GET /echo \n")
    # Two pipelined requests in one packet get two answers, in order.
    two = (
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-One: 1\r\n\r\n"
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Two: 2\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(server.port, two)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.index(b"Host,X-One") < answer.index(b"Host,X-Two")


def test_http10_keep_alive_is_honoured(server: ExporterServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            answer = sock.recv(65536)
            assert b"Connection: keep-alive\r\n" in answer
            assert answer.endswith(b"GET /echo Connection\n")


def test_an_idle_kept_alive_connection_is_closed_at_its_deadline(server: ExporterServer) -> None:
    """idle_timeout is 1 s here: the server closes the connection, without an answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        assert sock.recv(65536) == b""
        waited = time.monotonic() - start
    assert 0.7 < waited < 3.0
    assert server.stats()["closed:idle_timeout"] == 1


def test_random_garbage_never_gets_an_answer_without_a_status_line(
    server: ExporterServer,
) -> None:
    rng = random.Random(15)
    statuses = []
    for _ in range(100):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        answer = raw_exchange(server.port, blob + b"\r\n\r\n", timeout=3)
        statuses.append(_status(answer)[0] if answer else 0)
    assert len(statuses) == 100
    assert set(statuses) <= {400, 405, 411, 413, 431, 505}
    assert _status(raw_exchange(server.port, b"GET /echo HTTP/1.0\r\n\r\n"))[0] == 200


def test_limit_flags_reach_every_server_the_command_creates() -> None:
    @click.command()
    @web_options(":9999")
    def cmd(listen_address: str, web_config: object) -> None:
        server = ExporterServer({})
        try:
            limits = server.limits
            click.echo(
                f"{limits.max_connections} {limits.read_header_timeout} {limits.idle_timeout}"
            )
        finally:
            server.shutdown()

    runner = CliRunner()
    assert runner.invoke(cmd, []).output == "1024 10.0 120.0\n"
    result = runner.invoke(
        cmd,
        [
            "--web.max-connections",
            "50",
            "--web.read-header-timeout",
            "2.5",
            "--web.idle-timeout",
            "7",
        ],
    )
    assert result.output == "50 2.5 7.0\n"
    # Outside a command, a server takes the defaults again.
    with ExporterServer({}) as server:
        assert server.limits == ServerLimits()
    result = runner.invoke(cmd, ["--web.read-header-timeout", "0"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "cmd: --web.read-header-timeout: '0': must be a number of seconds above 0"
    ]
    help_text = " ".join(runner.invoke(cmd, ["--help"]).output.split())
    for flag, default in [
        ("--web.max-connections N", "[default: 1024]"),
        ("--web.read-header-timeout SECONDS", "[default: 10.0]"),
        ("--web.idle-timeout SECONDS", "[default: 120.0]"),
    ]:
        assert flag in help_text and default in help_text


def test_at_the_cap_with_every_connection_busy_a_new_one_is_refused_and_counted() -> None:
    """Nothing to evict (both connections are being served): the third gets 503 and a close;
    once they finish, connections are accepted again."""
    release = threading.Event()

    def slow(_: Request) -> Response:
        release.wait(10)
        return Response(body=b"slow 1\n")

    limits = ServerLimits(max_connections=2, workers=4)
    with ExporterServer({"/slow": slow}, limits=limits) as server:
        busy = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        try:
            for sock in busy:
                sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            deadline = time.monotonic() + 5
            # Until both requests have left the loop for workers.
            while len(server._loop.conns) < 2 or server._loop.waiting:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            answer = raw_exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _status(answer) == (503, b"too many connections\n")
            assert server.stats()["refused:limit"] == 1
        finally:
            release.set()
            for sock in busy:
                assert sock.recv(65536).endswith(b"slow 1\n")
                sock.close()
        # Until the loop has seen both clients close their kept-alive connections (a request
        # sent before that still finds the cap full: CI).
        deadline = time.monotonic() + 5
        while server._loop.conns:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert _status(raw_exchange(server.port, b"GET /healthz HTTP/1.0\r\n\r\n"))[0] == 200


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_client_that_never_reads_its_response_holds_no_worker(
    tls: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """One worker; three clients ask for a 20 MB body and never read it. Their responses wait
    in the event loop (closed at the write deadline, 2 s here), so a scrape behind them is
    answered at once, not after the deadline."""
    from kubepulse.exposition.webconfig import load_web_config
    from kubepulse.lab.pki import make_loopback_pki, write_web_config

    big = [b"x" * 1000 + b"\n"] * 20_000
    config = None
    ctx = None
    if tls:
        pki = make_loopback_pki(tmp_path_factory.mktemp("pki"))
        config = load_web_config(write_web_config(tmp_path_factory.mktemp("web") / "w.yml", pki))
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    limits = ServerLimits(workers=1, write_timeout=2.0)
    routes = {"/big": lambda _: Response(body=big), "/small": lambda _: Response(body=b"s 1\n")}
    with ExporterServer(routes, web_config=config, limits=limits) as server:
        stalled = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            if ctx is not None:
                sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            stalled.append(sock)
        try:
            deadline = time.monotonic() + 5
            while len(server._loop.writing) < 3:
                assert time.monotonic() < deadline, "the big responses did not reach the loop"
                time.sleep(0.01)
            start = time.monotonic()
            conn = (
                http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=5)
                if ctx
                else http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            )
            conn.request("GET", "/small")
            assert conn.getresponse().read() == b"s 1\n"
            took = time.monotonic() - start
            conn.close()
            assert took < 1.0  # a worker held by a stalled reader would make this 2 s
            deadline = time.monotonic() + 6
            while server.stats().get("closed:write_timeout", 0) < 3:
                assert time.monotonic() < deadline, "the stalled writes were never closed"
                time.sleep(0.05)
        finally:
            for sock in stalled:
                sock.close()
