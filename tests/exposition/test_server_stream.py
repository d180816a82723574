"""A ``Stream`` body: taken from its iterator only as the socket accepts it, over real sockets
(plain and TLS), with the declared Content-Length, and gzipped by the server when asked."""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from kubepulse.exposition.server import ExporterServer, Request, Response, ServerLimits, Stream

CHUNK = b"y" * 4095 + b"\n"
COUNT = 5_000  # 20 MB: far more than the socket buffers of a client that does not read


class _Counted:
    """A body that counts how many of its chunks have been produced."""

    def __init__(self) -> None:
        self.produced = 0

    def chunks(self) -> Iterator[bytes]:
        for _ in range(COUNT):
            self.produced += 1
            yield CHUNK

    def response(self, _: Request) -> Response:
        return Response(body=Stream(COUNT * len(CHUNK), self.chunks()))


def _tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, ssl.SSLContext]:
    from kubepulse.exposition.webconfig import load_web_config
    from kubepulse.lab.pki import make_loopback_pki, write_web_config

    pki = make_loopback_pki(tmp_path_factory.mktemp("pki"))
    config = load_web_config(write_web_config(tmp_path_factory.mktemp("web") / "w.yml", pki))
    return config, ssl.create_default_context(cafile=str(pki.ca_cert))


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_stream_is_produced_only_as_fast_as_the_client_reads(
    tls: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A client that reads nothing of a 20 MB stream gets the head and at most a few MB (what
    the socket buffers take), so the rest is never produced; once it reads, all of it comes,
    exactly the declared length."""
    config, ctx = _tls(tmp_path_factory) if tls else (None, None)
    body = _Counted()
    with ExporterServer(
        {"/stream": body.response},
        web_config=config,  # type: ignore[arg-type]
        limits=ServerLimits(workers=1, write_timeout=10.0),
    ) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        if ctx is not None:
            sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        try:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            deadline = time.monotonic() + 5
            while not server._loop.writing:
                assert time.monotonic() < deadline, "the stalled response did not reach the loop"
                time.sleep(0.01)
            time.sleep(0.2)
            stalled_at = body.produced
            # Socket buffers (the send buffer grows to 4 MiB at most here) plus a batch, not 20 MB.
            assert stalled_at * len(CHUNK) < 8 * 2**20, stalled_at
            reader = sock.makefile("rb")
            head = b"".join(iter(reader.readline, b"\r\n"))
            assert f"Content-Length: {COUNT * len(CHUNK)}".encode() in head
            assert reader.read(COUNT * len(CHUNK)) == CHUNK * COUNT
            assert body.produced == COUNT
        finally:
            sock.close()


def test_a_stream_is_gzipped_when_asked_and_head_produces_nothing() -> None:
    body = _Counted()
    with ExporterServer({"/stream": body.response}) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/stream", headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        data = resp.read()
        assert resp.getheader("Content-Encoding") == "gzip"
        assert resp.getheader("Content-Length") == str(len(data))
        assert gzip.decompress(data) == CHUNK * COUNT
        body.produced = 0
        conn.request("HEAD", "/stream")
        resp = conn.getresponse()
        assert resp.read() == b""
        assert resp.getheader("Content-Length") == str(COUNT * len(CHUNK))
        assert body.produced == 0
        conn.close()
