"""WatchStream.close() from another thread ends lines() quietly, wherever the read is.

A loopback HTTP server stands in for the API server's watch: only the stream's ending is under
test, and the race (close landing inside urllib3's read) needs many quick repetitions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client as k8s

from kubepulse.kube.client import KubeClient, WatchStream


class Trickle(BaseHTTPRequestHandler):
    """A chunked body of one short line every millisecond, for about 5 s."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i in range(5000):
                line = f'{{"n": {i}}}\n'.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                time.sleep(0.001)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[KubeClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = k8s.Configuration()
    cfg.host = f"http://127.0.0.1:{server.server_address[1]}"
    yield KubeClient(cfg)
    server.shutdown()
    server.server_close()


def read_all(stream: WatchStream, got: list[bytes], errors: list[BaseException]) -> None:
    try:
        got.extend(stream.lines())
    except BaseException as exc:  # everything must end quietly
        errors.append(exc)


def test_close_mid_read_ends_the_stream_without_an_error(client: KubeClient) -> None:
    for attempt in range(100):
        stream = client.stream("/watch", {"watch": "1"}, read_timeout=10)
        errors: list[BaseException] = []
        got: list[bytes] = []
        reader = threading.Thread(target=read_all, args=(stream, got, errors))
        reader.start()
        time.sleep(0.002 * (attempt % 10))
        stream.close()
        reader.join(5)
        assert not reader.is_alive(), f"attempt {attempt}: lines() still blocked after close()"
        assert errors == [], f"attempt {attempt}: {errors!r}"
        assert len(got) < 5000
