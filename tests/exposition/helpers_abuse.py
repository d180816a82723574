"""Hostile and broken clients for the abuse suite, all on loopback, all bounded in count and time.

Attackers bind to other loopback addresses (127.0.0.2 and up; all of 127.0.0.0/8 is loopback on
Linux) when a test needs the server to tell them apart from the legitimate client on 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import selectors
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from kubepulse.lab.processes import ManagedProcess, ProcessGroup, require_loopback

# Runs the kubepulse CLI with RLIMIT_NOFILE set first (0: leave the limit alone; SOFT:HARD sets
# the two apart, N sets both).
_LAUNCH = (
    "import resource, runpy, sys\n"
    "soft, _, hard = sys.argv[1].partition(':')\n"
    "n, h = int(soft), int(hard or soft)\n"
    "if n: resource.setrlimit(resource.RLIMIT_NOFILE, (n, h))\n"
    "sys.argv = ['kubepulse', *sys.argv[2:]]\n"
    "runpy.run_module('kubepulse', run_name='__main__')\n"
)


def start_system_exporter(
    group: ProcessGroup, name: str, port: int, *flags: str, nofile: int | str = 0
) -> ManagedProcess:
    """``kubepulse exporter system`` on 127.0.0.1:PORT in its own process, ready to scrape
    (``nofile``: its open-files limit, ``N`` or ``"SOFT:HARD"``)."""
    argv = [sys.executable, "-c", _LAUNCH, str(nofile), "exporter", "system"]
    argv += [f"--web.listen-address=127.0.0.1:{port}", *flags]
    if any(flag.startswith("--web.config.file") for flag in flags):
        return group.start(name, argv, ready_port=port)  # /healthz needs credentials
    return group.start(name, argv, ready_url=f"http://127.0.0.1:{port}/healthz")


def proc_status(pid: int) -> dict[str, int]:
    """Threads and VmRSS (bytes) from /proc/PID/status."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "Threads":
            out["threads"] = int(value)
        elif key == "VmRSS":
            out["rss"] = int(value.split()[0]) * 1024
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def timed_get(
    port: int, path: str = "/metrics", headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, float, bytes]:
    """One GET on a new connection from 127.0.0.1: (status, seconds, body)."""
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, time.monotonic() - start, body
    finally:
        conn.close()


LOGIN_BOUND = 2.0  # seconds: the acceptance figure for an uncached login under a flood


def login_bound(one_check: float) -> float:
    """2 s, or three bcrypt checks timed beside the login when the host is that slow (see
    ``timed_login``): the login's own check, the CPU the server spends answering the flood, and
    the reference check itself share the cores."""
    return max(LOGIN_BOUND, 3 * one_check)


def timed_login(
    port: int, header: str, rounds: int = 12, path: str = "/metrics"
) -> tuple[int, float, float]:
    """(status, seconds) of one GET with ``header``, and the seconds one bcrypt check of the
    same cost took in this process at the same time.

    The acceptance figure is 2 s on a quiet 2-core host, where a cost-12 check takes about
    0.3 s. A login cannot be faster than its own check, which takes over 1 s when the host is
    shared and loaded; so the bound is 2 s or three such concurrent checks, whichever is longer
    (``login_bound``).
    A login queued behind the flood would wait for many checks (32.8 s behind 100 attempts).
    """
    import bcrypt

    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds))
    reference: list[float] = []

    def check() -> None:
        start = time.monotonic()
        bcrypt.checkpw(b"y", hashed)
        reference.append(time.monotonic() - start)

    thread = threading.Thread(target=check)
    thread.start()
    status, took, _ = timed_get(port, path, headers={"Authorization": header})
    thread.join()
    return status, took, reference[0]


def failing_clients(port: int, cached: dict[str, str]) -> float:
    """The server's ``kubepulse_auth_failing_clients`` (0 before it is served), read from
    /metrics with credentials already cached (so the read costs no bcrypt check)."""
    _, _, body = timed_get(port, headers=cached)
    try:
        return metric(body, "kubepulse_auth_failing_clients")
    except KeyError:
        return 0.0


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection, read until the server closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                out += chunk
        return out


def metric(body: bytes, name: str, **labels: str) -> float:
    """The value of one sample in exposition text (KeyError if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise KeyError(f"{name}{labels}")


def open_idle(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """``count`` connections that send nothing (the server may close them: that is allowed)."""
    require_loopback(source)
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        socks.append(sock)
    return socks


def closed_by_server(socks: Sequence[socket.socket]) -> int:
    """How many of ``socks`` the server has closed (EOF or reset pending), without blocking."""
    closed = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            data = sock.recv(65536, socket.MSG_PEEK)
            closed += data == b"" or data.startswith(b"HTTP/1.1 ")
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


class Slowloris:
    """``count`` connections that each send one byte of a request head every ``interval``
    seconds, from one thread, for at most ``duration`` seconds; records when and how the
    server closed each one (``closed_after``: seconds from connect; ``answers``: what it sent).
    """

    HEAD = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow" + b"w" * 4096

    def __init__(self, port: int, count: int, interval: float, duration: float) -> None:
        self.port, self.count, self.interval, self.duration = port, count, interval, duration
        self.closed_after: list[float] = []
        self.answers: list[bytes] = []
        self.opened = 0
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)
        self._stop = threading.Event()

    def __enter__(self) -> Slowloris:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.duration + 10)

    def wait(self) -> None:
        self._thread.join(self.duration + 10)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        started: dict[socket.socket, float] = {}
        sent: dict[socket.socket, int] = {}
        try:
            for _ in range(self.count):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                sock.setblocking(False)
                started[sock] = time.monotonic()
                sent[sock] = 0
                sel.register(sock, selectors.EVENT_READ)
            self.opened = len(started)
            end = time.monotonic() + self.duration
            next_tick = time.monotonic()
            while started and time.monotonic() < end and not self._stop.is_set():
                for key, _ in sel.select(max(0.0, next_tick - time.monotonic())):
                    self._closed(key.fileobj, sel, started)  # type: ignore[arg-type]
                if time.monotonic() >= next_tick:
                    next_tick += self.interval
                    for sock in list(started):
                        with contextlib.suppress(OSError):
                            sock.send(self.HEAD[sent[sock] : sent[sock] + 1])
                            sent[sock] += 1
        finally:
            for sock in started:
                sock.close()
            sel.close()

    def _closed(
        self, sock: socket.socket, sel: selectors.BaseSelector, started: dict[socket.socket, float]
    ) -> None:
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
        # Readable with data but not at EOF yet: wait for the close itself.
        if answer and not self._at_eof(sock):
            self.answers.append(answer)
            return
        self.answers.append(answer)
        self.closed_after.append(time.monotonic() - started.pop(sock))
        sel.unregister(sock)
        sock.close()

    @staticmethod
    def _at_eof(sock: socket.socket) -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


@contextlib.contextmanager
def wrong_password_flood(
    port: int,
    sources: Sequence[str],
    in_flight: int,
    header: str,
    duration: float,
    retry_after: float = 0.1,
) -> Iterator[dict[int, int]]:
    """Keep ``in_flight`` wrong-password requests going (spread over ``sources``), each sent
    again on a new connection ``retry_after`` seconds after it is answered (a client retrying;
    200 in flight make up to 2,000 attempts a second), for at most ``duration`` seconds; yields
    the count of answers by status, filled in as they arrive."""
    for source in sources:
        require_loopback(source)
    statuses: dict[int, int] = {}
    stop = threading.Event()
    request = (
        f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {header}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    def run() -> None:
        sel = selectors.DefaultSelector()
        buffers: dict[socket.socket, bytes] = {}

        def launch(i: int) -> None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((sources[i % len(sources)], 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", port))
            sock.sendall(request)
            sock.setblocking(False)
            buffers[sock] = b""
            sel.register(sock, selectors.EVENT_READ, i)

        due: deque[tuple[float, int]] = deque()
        try:
            for i in range(in_flight):
                launch(i)
            end = time.monotonic() + duration
            while time.monotonic() < end and not stop.is_set():
                while due and due[0][0] <= time.monotonic():
                    launch(due.popleft()[1])
                for key, _ in sel.select(0.02):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        chunk = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    buffers[sock] += chunk
                    if chunk:
                        continue
                    head = buffers.pop(sock)
                    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
                    statuses[status] = statuses.get(status, 0) + 1
                    sel.unregister(sock)
                    sock.close()
                    due.append((time.monotonic() + retry_after, key.data))
        finally:
            for sock in buffers:
                sock.close()
            sel.close()

    thread = threading.Thread(target=run, name="wrong-passwords", daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(duration + 10)
