"""The one HTTP server every kubepulse exporter uses: routes, TLS, basic auth, gzip, /healthz.

``--web.config.file`` takes the Prometheus exporter-toolkit format (the fields below, plus
``min_version``/``max_version`` and ``http_server_config.headers``; Go-only cipher settings are
refused by name rather than silently ignored)::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_ca_file: ca.crt             # optional: verify client certificates
      client_auth_type: RequireAndVerifyClientCert
    basic_auth_users:
      prometheus: $2b$12$...             # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':')

Design, driven by the cluster exporter serving tens of MB per scrape and by clients that are
hostile or broken:

- one event-loop thread accepts connections, runs TLS handshakes and reads request heads
  without blocking; only a complete request reaches one of a fixed number of worker threads. An
  idle or trickling client (slowloris) costs a file descriptor and a small buffer, never a
  thread, and is closed at its deadline; the connection cap closes the longest-waiting
  connections first, and running out of file descriptors evicts or backs off instead of spinning
  (``ServerLimits``);
- request heads are parsed strictly (``http1``): HTTP/0.9, bad versions, malformed header lines
  and ``Transfer-Encoding`` get a proper status line, unsupported methods get 405 with ``Allow``;
- HTTP/1.1 keep-alive (Prometheus reuses its connection); a handler's body may be a sequence of
  pre-rendered chunks, written with scatter-gather ``sendmsg`` (plain HTTP, the head in the same
  call) or joined in 256 KiB batches (TLS, where sendmsg is unavailable), or a ``Stream`` of
  known length whose chunks are taken only as the socket accepts them, so a large body is never
  held whole;
- gzip (when the client asks, as Prometheus does) is zlib level 1: in C, off the GIL, fast;
- basic auth (``auth.BasicAuth``) caches successes and cannot be starved by wrong passwords;
- a plain-HTTP request to a TLS port gets the same one-line ``400`` Go servers send;
- certificates rotated in place are picked up without a restart (the rest of the web config,
  like basic auth users, is read at startup).

Why not a server library (decided by ``benchmarks/slowloris``, results in
``benchmarks/results/slowloris.md``): under 500 slowloris sockets uvicorn (h11, asyncio) kept
every one open past 15 s (it has no deadline for a request head) and the previous
``http.server``-based server did too, with one thread each (1 → 501 threads); this server
closed all 500 at its deadline with no thread added and kept-alive scrapes at 3-5 ms p50.
uvicorn would also join pre-rendered chunks into one buffer before writing (no scatter-gather
``sendmsg``), run our synchronous handlers and bcrypt in a thread pool behind the event loop,
and cannot reload certificates in place; waitress has no TLS. A 22 MB chunked body, the
cluster exporter's shape, is served as fast as by the previous server (same benchmark).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import ipaddress
import itertools
import logging
import os
import queue
import resource
import selectors
import socket
import ssl
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubepulse.exposition.auth import auth_metrics
from kubepulse.exposition.http1 import (
    MAX_HEAD,
    BadRequest,
    RequestHead,
    find_head_end,
    parse_head,
    status_line,
)
from kubepulse.exposition.text import CONTENT_TYPE, gzip_member
from kubepulse.exposition.webconfig import TLSConfig, WebConfig, load_web_config

__all__ = [
    "ExporterServer",
    "Handler",
    "Headers",
    "Request",
    "Response",
    "ServerLimits",
    "Stream",
    "TLSConfig",
    "WebConfig",
    "format_listen_address",
    "load_web_config",
    "parse_listen_address",
    "prometheus_client_handler",
    "server_metrics",
]

log = logging.getLogger(__name__)

# How often (at most) a new TLS connection checks whether the certificate files changed.
TLS_RELOAD_CHECK = 1.0
# sendmsg takes at most IOV_MAX (1024 on Linux) buffers per call.
_IOV_MAX = 1024
# Chunks are joined into batches of about this size for TLS, where sendmsg is unavailable.
_TLS_BATCH = 256 * 1024


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive lookup (``headers.get("accept-encoding")``)."""

    def __init__(self, items: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {k.lower(): (k, v) for k, v in pairs}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items


@dataclass(frozen=True)
class Request:
    """What a handler sees of one HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]


class Stream:
    """A body produced while it is written: ``chunks`` (iterated once, lazily, as the socket
    takes what came before) yields ``length`` bytes in all, the Content-Length sent."""

    __slots__ = ("chunks", "length")

    def __init__(self, length: int, chunks: Iterable[bytes]) -> None:
        self.length = length
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)


@dataclass
class Response:
    """What a handler returns.

    ``body`` may be a sequence of chunks, or a ``Stream``: they are sent in order without being
    joined. If
    ``headers`` has ``Content-Encoding`` the body is already encoded and is sent as is; otherwise
    the server gzips it when the client sends ``Accept-Encoding: gzip``.
    """

    status: int = 200
    body: bytes | Sequence[bytes] | Stream = b""
    content_type: str = CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` (all interfaces) or ``[v6]:port`` → (host, port)."""
    host, sep, port_s = address.rpartition(":")
    if not sep:
        raise ValueError(f"listen address {address!r}: expected HOST:PORT or :PORT")
    host = host.strip("[]")
    try:
        port = int(port_s)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise ValueError(f"listen address {address!r}: port must be 0-65535") from None
    if host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise ValueError(
                    f"listen address {address!r}: host must be an IP address"
                ) from None
    return host or "0.0.0.0", port


def format_listen_address(host: str, port: int) -> str:
    """The ``HOST:PORT`` that ``parse_listen_address`` reads back (IPv6 hosts in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --------------------------------------------------------------------------- the server

# Connections are closed at the cap, not the open-files limit: this many descriptors are left for
# everything else (scrape-time /proc reads, the Kubernetes client, log files, TLS reloads).
FD_RESERVE = 64
# A request's body (only POST has one worth reading) is read and discarded up to this size.
_MAX_BODY = 64 * 1024
# After an error answer, the client's unread bytes are drained this long before the close, so
# the close does not send a TCP reset that would destroy the answer before the client reads it.
_DRAIN_SECONDS = 1.0
_SWEEP_EVERY = 0.25
_EVICT_ON_EMFILE = 8
_ALLOW = "GET, HEAD, POST"


@dataclass(frozen=True)
class ServerLimits:
    """What one client, or many, can hold of a server.

    ``max_connections`` open at once (idle, reading or being served; lowered to fit the
    open-files limit, ``FD_RESERVE`` kept free). At the cap, the connection that has waited
    longest without completing a request (a slowloris, an idle socket) is closed to make room,
    then the longest-idle kept-alive one; only if every connection is being served is the new
    one refused. ``read_header_timeout`` bounds the TLS handshake plus the whole request head
    (and a small body), from the connect or from a kept-alive request's first byte;
    ``idle_timeout`` bounds the wait between kept-alive requests; ``write_timeout`` the whole
    response. ``workers`` threads run handlers; requests beyond them wait in a queue (at most
    one per connection, so the queue is bounded by the cap) and nothing else holds a thread.
    """

    max_connections: int = 1024
    read_header_timeout: float = 10.0
    # Long enough for Prometheus to reuse its connection between scrapes at a 60 s interval.
    idle_timeout: float = 120.0
    write_timeout: float = 60.0
    workers: int = 8


def fd_limited_max_connections(wanted: int) -> int:
    """``wanted``, lowered to leave ``FD_RESERVE`` descriptors under ``RLIMIT_NOFILE``.

    A soft limit below what the cap needs is first raised toward the hard limit (as Go's runtime
    does at start): systemd's default is 1024 soft over 524288 hard, and container runtimes often
    give a soft 1024 too. Only a hard limit lowers the cap.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    needed = wanted + FD_RESERVE
    if soft < needed and (hard == resource.RLIM_INFINITY or soft < hard):
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass  # e.g. a sandbox that refuses: keep the soft limit and fit the cap under it
    return max(1, min(wanted, soft - FD_RESERVE))


# The limits a command's --web.* flags set (options.web_options); a server created without
# limits of its own takes them.
command_limits: contextvars.ContextVar[ServerLimits | None] = contextvars.ContextVar(
    "kubepulse_server_limits", default=None
)


def _healthz(_: Request) -> Response:
    return Response(200, b"ok\n", "text/plain; charset=utf-8")


class _Conn:
    """One client connection and where it is: peek/handshake/reading/idle (the event loop
    watches it), busy (a worker has it), draining (being closed after an error answer)."""

    __slots__ = ("buf", "client", "deadline", "head", "keep", "out", "scanned", "sock", "state")

    def __init__(self, sock: socket.socket, client: str, state: str, deadline: float) -> None:
        self.sock: socket.socket = sock
        self.client = client
        self.buf = bytearray()
        self.scanned = 0
        self.head: tuple[RequestHead, int] | None = None
        self.state = state
        self.deadline = deadline
        self.out: _Outgoing | None = None
        self.keep = False


class _Outgoing:
    """A response written without blocking: scatter-gather views (plain HTTP), or 256 KiB
    batches (TLS, where a write that would block is retried with the same batch, as OpenSSL
    requires). A worker writes what the socket takes at once; a client that reads slowly gets
    the rest from the event loop as its socket drains, so it never holds a worker. Chunks are
    taken from the body as they are needed (up to ``_IOV_MAX`` of them or 256 KiB at a time),
    so a ``Stream`` is produced only as fast as the client reads it."""

    __slots__ = ("i", "rest", "tls", "views")

    def __init__(self, chunks: Iterable[bytes], tls: bool) -> None:
        self.tls = tls
        self.rest = iter(chunks)
        self.views: list[memoryview] = []
        self.i = 0

    def _refill(self) -> bool:
        """The next views to write, False once the body is exhausted."""
        chunks: list[bytes] = []
        size = 0
        for chunk in self.rest:
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
                if size >= _TLS_BATCH or len(chunks) >= _IOV_MAX:
                    break
        if self.tls and len(chunks) > 1:
            chunks = [b"".join(chunks)]
        self.views = [memoryview(c) for c in chunks]
        self.i = 0
        return bool(chunks)

    def push(self, sock: socket.socket) -> bool:
        """Write until done (True) or the socket would block (False); OSError if it failed."""
        while True:
            if self.i >= len(self.views) and not self._refill():
                return True
            views = self.views
            try:
                if self.tls:
                    sent = sock.send(views[self.i])
                else:
                    sent = sock.sendmsg(views[self.i : self.i + _IOV_MAX])
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                return False
            except ssl.SSLWantReadError:  # renegotiation-like states: wait, then retry
                return False
            # Skip what went out; a partial send leaves the rest of one view for the next call.
            while sent:
                if sent >= len(views[self.i]):
                    sent -= len(views[self.i])
                    self.i += 1
                else:
                    views[self.i] = views[self.i][sent:]
                    sent = 0


class _Loop:
    """The event loop: accepts, handshakes, reads request heads, enforces every deadline and the
    connection cap, and hands complete requests to a fixed pool of worker threads.

    A connection costs a file descriptor and a small buffer until its request is complete, never
    a thread, so idle and trickling clients cannot exhaust threads or memory.
    """

    def __init__(self, owner: ExporterServer, listener: socket.socket, limits: ServerLimits):
        self.owner = owner
        self.listener = listener
        self.limits = limits
        self.max_connections = fd_limited_max_connections(limits.max_connections)
        if self.max_connections < limits.max_connections:
            log.warning(
                "connection cap lowered from %d to %d by the open-files limit %d "
                "(raise LimitNOFILE or ulimit -n to allow more)",
                limits.max_connections,
                self.max_connections,
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
        self.tls = owner.web_config.tls if owner.web_config else None
        self.ssl_context = self.tls.ssl_context() if self.tls else None
        self._tls_stamp = self.tls.stamp() if self.tls else ()
        self._tls_checked = time.monotonic()
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wake_lock = threading.Lock()
        self._woken_closed = False
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self.selector.register(listener, selectors.EVENT_READ, listener)
        self.conns: set[_Conn] = set()
        # Evictable connections, oldest first in each; evicted in this order: those being
        # drained after an error, those that have not completed a request, kept-alive idle ones.
        self.waiting: OrderedDict[_Conn, None] = OrderedDict()
        self.idle: OrderedDict[_Conn, None] = OrderedDict()
        self.draining: OrderedDict[_Conn, None] = OrderedDict()
        # Responses the loop finishes writing to slow readers; never evicted, closed at the
        # write deadline.
        self.writing: OrderedDict[_Conn, None] = OrderedDict()
        self.queue: queue.SimpleQueue[tuple[_Conn, RequestHead] | None] = queue.SimpleQueue()
        self.returns: deque[tuple[_Conn, bool, _Outgoing | None]] = deque()
        self.workers: list[threading.Thread] = []
        self.stopping = False
        self.done = threading.Event()
        self._accept_paused_until = 0.0
        self._backoff = 0.0
        self._fd_logged: dict[str, float] = {}
        self.counts: dict[tuple[str, str], int] = {}

    # ----------------------------------------------------------------- bookkeeping

    def count(self, family: str, reason: str) -> None:
        key = (family, reason)
        self.counts[key] = self.counts.get(key, 0) + 1

    def _forget(self, conn: _Conn) -> None:
        for table in (self.waiting, self.idle, self.draining, self.writing):
            table.pop(conn, None)

    def close(self, conn: _Conn, reason: str) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        self._forget(conn)
        self.count("closed", reason)  # before the close: a client that sees it sees the count
        if conn.state != "busy":
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _evict(self) -> bool:
        """Close the longest-waiting connection that is not being served; False if none."""
        for table in (self.draining, self.waiting, self.idle):
            if table:
                victim = next(iter(table))
                self.close(victim, "evicted")
                return True
        return False

    def _set_state(self, conn: _Conn, state: str, deadline: float) -> None:
        self._forget(conn)
        conn.state, conn.deadline = state, deadline
        tables = {"idle": self.idle, "draining": self.draining, "writing": self.writing}
        table = tables.get(state, self.waiting)
        table[conn] = None

    # ----------------------------------------------------------------- accepting

    def _accept(self, now: float) -> None:
        for _ in range(64):
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._out_of_descriptors(exc, now)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            self._backoff = 0.0
            self._admit(sock, str(addr[0]), now)

    def _out_of_descriptors(self, exc: OSError, now: float) -> None:
        """accept() failed for want of a descriptor: free a few by closing the longest-waiting
        connections (a few, so the request that gets in can open what its handler needs), or,
        with none to close, stop accepting for a while (doubling, up to 1 s) rather than spin.
        One log line per kind of answer per minute says why."""
        self.count("accept_errors", "fd_exhausted")
        evicted = sum(self._evict() for _ in range(_EVICT_ON_EMFILE))
        if not evicted:
            self._backoff = min(1.0, max(0.05, self._backoff * 2))
            self._accept_paused_until = now + self._backoff
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.listener)
        action = (
            "closing the longest-waiting connections to accept new ones"
            if evicted
            else "pausing accepts, backing off up to 1 s, until descriptors free up"
        )
        if now >= self._fd_logged.get(action, 0.0):
            self._fd_logged[action] = now + 60.0
            log.warning(
                "out of file descriptors (%s; open-files limit %d, %d connections open): %s",
                errno.errorcode.get(exc.errno or 0, str(exc)),
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                len(self.conns),
                action,
            )

    def _resume_accepting(self, now: float) -> None:
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self.selector.register(self.listener, selectors.EVENT_READ, self.listener)

    def _admit(self, sock: socket.socket, client: str, now: float) -> None:
        if len(self.conns) >= self.max_connections and not self._evict():
            self.count("refused", "limit")
            with contextlib.suppress(OSError):
                sock.setblocking(False)
                sock.send(_error_bytes(503, "too many connections"))
                sock.close()
            return
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock, client, "peek" if self.tls else "reading", 0.0)
        self.conns.add(conn)
        self._set_state(conn, conn.state, now + self.limits.read_header_timeout)
        self.selector.register(sock, selectors.EVENT_READ, conn)
        self.count("accepted", "")

    # ----------------------------------------------------------------- TLS

    def _current_ssl_context(self) -> ssl.SSLContext:
        """The TLS context, rebuilt when the certificate files change (checked once a second).

        cert-manager and friends rotate certificates in place; a rotation is picked up without a
        restart. A half-written pair (new cert, old key) fails to load: the previous context
        stays until the files are consistent again.
        """
        assert self.tls is not None and self.ssl_context is not None
        now = time.monotonic()
        if now - self._tls_checked >= TLS_RELOAD_CHECK:
            self._tls_checked = now
            stamp = self.tls.stamp()
            if stamp != self._tls_stamp:
                self._tls_stamp = stamp
                try:
                    self.ssl_context = self.tls.ssl_context()
                    log.info("reloaded TLS certificate %s", self.tls.cert_file)
                except ValueError as exc:
                    log.warning("keeping the previous TLS certificate: %s", exc)
        return self.ssl_context

    def _peek(self, conn: _Conn, now: float) -> None:
        try:
            first = conn.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close(conn, "client")
            return
        if not first:
            self.close(conn, "client")
            return
        if first != b"\x16":
            # Answer like Go's net/http so curl and Prometheus show a readable error.
            self._answer_and_drain(
                conn,
                b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n"
                b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
                now,
            )
            return
        self.selector.unregister(conn.sock)
        conn.sock = self._current_ssl_context().wrap_socket(
            conn.sock, server_side=True, do_handshake_on_connect=False
        )
        self.selector.register(conn.sock, selectors.EVENT_READ, conn)
        conn.state = "handshake"
        self._handshake(conn, now)

    def _handshake(self, conn: _Conn, now: float) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.selector.modify(sock, selectors.EVENT_READ, conn)
            return
        except ssl.SSLWantWriteError:
            self.selector.modify(sock, selectors.EVENT_WRITE, conn)
            return
        except (OSError, ssl.SSLError) as exc:
            log.info("TLS handshake with %s failed: %s", conn.client, exc)
            self.close(conn, "tls_error")
            return
        conn.state = "reading"
        self.selector.modify(sock, selectors.EVENT_READ, conn)
        self._read(conn, now)

    # ----------------------------------------------------------------- reading

    def _recv(self, conn: _Conn) -> bool:
        """Read what is there into the buffer; False if the client closed or failed."""
        for _ in range(8):
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return True
            except ssl.SSLWantWriteError:
                return True
            except (OSError, ssl.SSLError):
                return False
            if not data:
                return False
            if conn.state == "draining":
                continue
            conn.buf += data
            if len(conn.buf) > MAX_HEAD + _MAX_BODY:
                return True
        return True

    def _read(self, conn: _Conn, now: float) -> None:
        if not self._recv(conn):
            self.close(conn, "bad_request" if conn.state == "draining" else "client")
            return
        if conn.state == "draining":
            return
        if conn.state == "idle" and conn.buf:
            self._set_state(conn, "reading", now + self.limits.read_header_timeout)
        self._parse(conn, now)

    def _parse(self, conn: _Conn, now: float) -> None:
        buf = conn.buf
        if conn.head is None:
            if buf and buf[0] in b"\r\n":
                del buf[: len(buf) - len(buf.lstrip(b"\r\n"))]
            end = find_head_end(buf, conn.scanned)
            if end < 0 or end > MAX_HEAD:
                conn.scanned = len(buf)
                if len(buf) > MAX_HEAD:
                    self._refuse(conn, BadRequest(431, "request head too large"), now)
                return
            try:
                head = parse_head(bytes(buf[:end]))
            except BadRequest as exc:
                self._refuse(conn, exc, now)
                return
            if head.content_length > _MAX_BODY:
                self._refuse(conn, BadRequest(413, "request body too large"), now)
                return
            conn.head = (head, end)
        head, end = conn.head
        if len(buf) < end + head.content_length:
            return
        del buf[: end + head.content_length]  # the body is read and dropped: routes read nothing
        conn.head, conn.scanned = None, 0
        self._forget(conn)
        conn.state = "busy"
        self.selector.unregister(conn.sock)
        self.queue.put((conn, head))

    def _refuse(self, conn: _Conn, exc: BadRequest, now: float) -> None:
        self.count("bad_requests", str(exc.status))
        self._answer_and_drain(conn, _error_bytes(exc.status, exc.message), now)

    def _answer_and_drain(self, conn: _Conn, answer: bytes, now: float) -> None:
        # Best effort without blocking the loop: a fresh socket's buffer takes a short answer.
        with contextlib.suppress(OSError, ssl.SSLError):
            conn.sock.send(answer)
            conn.sock.shutdown(socket.SHUT_WR)
        conn.buf.clear()
        self._set_state(conn, "draining", now + _DRAIN_SECONDS)

    # ----------------------------------------------------------------- workers' side

    def hand_back(self, conn: _Conn, keep: bool, out: _Outgoing | None = None) -> None:
        """Called by a worker when a response is sent, or (``out``) what is left of it would
        block: the loop takes the connection back and finishes the response."""
        self.returns.append((conn, keep, out))
        self.wake()

    def _take_back(self, now: float) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._wake_r, 4096):
                pass
        while self.returns:
            conn, keep, out = self.returns.popleft()
            if conn not in self.conns:
                continue
            if out is not None and not self.stopping:
                conn.out, conn.keep = out, keep
                self._set_state(conn, "writing", now + self.limits.write_timeout)
                self.selector.register(conn.sock, selectors.EVENT_WRITE, conn)
                continue
            self._after_response(conn, keep, now, register=True)

    def _after_response(self, conn: _Conn, keep: bool, now: float, register: bool) -> None:
        """Close the connection, or wait for its next request (``register``: it is not in the
        selector, a worker had it)."""
        if not keep or self.stopping:
            self.close(conn, "done")
            return
        if conn.buf:  # pipelined: the next request is already (partly) here
            self._set_state(conn, "reading", now + self.limits.read_header_timeout)
        else:
            self._set_state(conn, "idle", now + self.limits.idle_timeout)
        if register:
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)
        else:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
        if conn.buf:
            self._parse(conn, now)

    def _write(self, conn: _Conn, now: float) -> None:
        assert conn.out is not None
        if not conn.out.push(conn.sock):
            return
        conn.out = None
        self._after_response(conn, conn.keep, now, register=False)

    # ----------------------------------------------------------------- the loop

    def _sweep(self, now: float) -> None:
        for table, reason in (
            (self.waiting, "header_timeout"),
            (self.idle, "idle_timeout"),
            (self.draining, "bad_request"),
            (self.writing, "write_timeout"),
        ):
            expired = [c for c in table if c.deadline <= now]
            for conn in expired:
                if reason == "header_timeout" and conn.buf and conn.state == "reading":
                    with contextlib.suppress(OSError, ssl.SSLError):
                        conn.sock.send(_error_bytes(408, "request head not received in time"))
                self.close(conn, reason)

    def run(self) -> None:
        next_sweep = time.monotonic() + _SWEEP_EVERY
        try:
            while not self.stopping:
                timeout = max(0.0, next_sweep - time.monotonic())
                if self._accept_paused_until:
                    timeout = min(timeout, max(0.0, self._accept_paused_until - time.monotonic()))
                events = self.selector.select(timeout)
                now = time.monotonic()
                for key, _mask in events:
                    target = key.data
                    if target is None:
                        self._take_back(now)
                    elif target is self.listener:
                        self._accept(now)
                    else:
                        self._event(target, now)
                self._resume_accepting(now)
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + _SWEEP_EVERY
        finally:
            self._close_all()

    def _event(self, conn: _Conn, now: float) -> None:
        if conn not in self.conns:
            return
        try:
            if conn.state == "peek":
                self._peek(conn, now)
            elif conn.state == "handshake":
                self._handshake(conn, now)
            elif conn.state == "writing":
                self._write(conn, now)
            else:
                self._read(conn, now)
        except (OSError, ssl.SSLError) as exc:
            log.debug("connection from %s: %s", conn.client, exc)
            self.close(conn, "client")

    def _close_all(self) -> None:
        for conn in list(self.conns):
            self.close(conn, "shutdown")
        with contextlib.suppress(OSError):
            self.selector.close()
        self.listener.close()
        with self._wake_lock:
            self._woken_closed = True
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        for _ in self.workers:
            self.queue.put(None)
        self.done.set()

    def wake(self) -> None:
        # Under the lock, never after the close: the descriptor number may be reused by then.
        with self._wake_lock, contextlib.suppress(OSError):
            if not self._woken_closed:
                os.write(self._wake_w, b"\0")


def _error_bytes(status: int, message: str) -> bytes:
    body = f"{message}\n".encode("latin-1", "replace")
    head = status_line(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return head + body


class _Worker:
    """Runs handlers for complete requests and writes the responses (blocking, with a deadline)."""

    def __init__(self, loop: _Loop) -> None:
        self.loop = loop
        self.owner = loop.owner

    def run(self) -> None:
        while True:
            item = self.loop.queue.get()
            if item is None:
                return
            conn, head = item
            keep, out = False, None
            try:
                keep, out = self.serve(conn, head)
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                # Client resets and timeouts are routine for a scrape target; one line, no trace.
                log.debug("connection from %s: %s", conn.client, exc)
            except Exception:
                log.exception("error serving %s", conn.client)
            finally:
                self.loop.hand_back(conn, keep, out)

    def serve(self, conn: _Conn, head: RequestHead) -> tuple[bool, _Outgoing | None]:
        """Answer one request: (keep the connection, what is left to write or None)."""
        owner = self.owner
        split = urlsplit(head.target)
        headers = Headers(head.headers)
        resp: Response
        if head.method not in ("GET", "HEAD", "POST"):
            resp = Response(
                405, b"method not allowed\n", "text/plain; charset=utf-8", {"Allow": _ALLOW}
            )
        else:
            auth = owner.web_config.basic_auth if owner.web_config else None
            verdict = auth.authorize(headers.get("Authorization"), conn.client) if auth else None
            if verdict is not None and not verdict.ok:
                resp = Response(
                    verdict.status,
                    verdict.body(),
                    "text/plain; charset=utf-8",
                    verdict.response_headers(),
                )
            else:
                resp = self.route(split.path, split.query, head.method, headers)
        keep = head.keep_alive and not self.loop.stopping
        return keep, self.send(conn, head, resp, headers, keep)

    def route(self, path: str, query: str, method: str, headers: Headers) -> Response:
        handler = self.owner.routes.get(path)
        if handler is None:
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        request = Request(method, path, parse_qs(query, keep_blank_values=True), headers)
        try:
            return handler(request)
        except Exception:
            log.exception("handler for %s failed", path)
            return Response(500, b"internal error\n", "text/plain; charset=utf-8")

    def send(
        self, conn: _Conn, head: RequestHead, resp: Response, req_headers: Headers, keep: bool
    ) -> _Outgoing | None:
        body = resp.body
        chunks: Iterable[bytes] = [body] if isinstance(body, bytes) else body
        length = body.length if isinstance(body, Stream) else None
        out_headers = {**self.owner.extra_headers, **resp.headers}
        if "Content-Encoding" not in out_headers and "gzip" in (
            req_headers.get("Accept-Encoding") or ""
        ):
            chunks = [gzip_member(chunks)]
            length = None
            out_headers["Content-Encoding"] = "gzip"
        if length is None:
            chunks = list(chunks)
            length = sum(len(c) for c in chunks)
        fields = [
            ("Content-Type", resp.content_type),
            ("Content-Length", str(length)),
        ]
        if "gzip" in out_headers.get("Content-Encoding", ""):
            fields.append(("Vary", "Accept-Encoding"))
        fields += list(out_headers.items())
        if not keep:
            fields.append(("Connection", "close"))
        elif head.version == "HTTP/1.0":
            fields.append(("Connection", "keep-alive"))
        try:
            status = status_line(resp.status, fields)
        except ValueError:
            log.exception("handler returned a bad header")
            status, chunks = _error_bytes(500, "internal error"), []
        out = _Outgoing(
            itertools.chain((status,), chunks) if head.method != "HEAD" else (status,),
            isinstance(conn.sock, ssl.SSLSocket),
        )
        return None if out.push(conn.sock) else out


_SERVERS: weakref.WeakSet[ExporterServer] = weakref.WeakSet()


class ExporterServer:
    """Serves ``routes`` (path → handler) with the web config's TLS and basic auth.

    ``GET /healthz`` answers ``ok`` unless the routes define it; unknown paths are 404; methods
    other than GET, HEAD and POST get 405 with ``Allow``. With basic auth configured, every path
    (including /healthz) needs credentials, as in exporter-toolkit. ``limits`` (default: those of
    the command line's ``web_options`` when a command runs, else ``ServerLimits()``) bound what
    clients can hold; see ``ServerLimits``. ``server_metrics()`` reports on every server.
    """

    def __init__(
        self,
        routes: Mapping[str, Handler],
        listen_address: str = "127.0.0.1:0",
        web_config: WebConfig | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.routes: dict[str, Handler] = {"/healthz": _healthz, **routes}
        self.web_config = web_config
        self.extra_headers: dict[str, str] = dict(web_config.headers) if web_config else {}
        self.limits = limits or command_limits.get() or ServerLimits()
        host, port = parse_listen_address(listen_address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(min(4096, max(128, self.limits.max_connections)))
            listener.setblocking(False)
            self._loop = _Loop(self, listener, self.limits)
        except BaseException:
            listener.close()
            raise
        self.port: int = listener.getsockname()[1]
        self.listen_address = format_listen_address(host, self.port)
        scheme = "https" if self._loop.ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        _SERVERS.add(self)

    @property
    def max_connections(self) -> int:
        """The connection cap in force (``limits.max_connections`` fitted to the fd limit)."""
        return self._loop.max_connections

    def _start_workers(self) -> None:
        loop = self._loop
        if loop.workers:
            return
        for i in range(max(1, self.limits.workers)):
            worker = threading.Thread(
                target=_Worker(loop).run, name=f"exporter-{self.port}-worker-{i}", daemon=True
            )
            worker.start()
            loop.workers.append(worker)

    def start(self) -> ExporterServer:
        """Serve in a daemon thread; return self (``server = ExporterServer(...).start()``)."""
        self._start_workers()
        self._thread = threading.Thread(
            target=self._loop.run, name=f"exporter-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``shutdown()`` is called from another one."""
        self._start_workers()
        self._loop.run()

    def shutdown(self) -> None:
        """Stop accepting, close the listening socket and every connection."""
        loop = self._loop
        loop.stopping = True
        loop.wake()
        if self._thread is not None or loop.workers:
            loop.done.wait(5)
        if not loop.done.is_set() and self._thread is None:
            loop._close_all()  # never served
        for worker in loop.workers:
            worker.join(1)
        if self._thread is not None:
            self._thread.join(5)
        _SERVERS.discard(self)

    def stats(self) -> dict[str, float]:
        """Connection figures for tests and the self-metrics: open, queued, cap, counters."""
        loop = self._loop
        out: dict[str, float] = {
            "open": len(loop.conns),
            "queued": loop.queue.qsize(),
            "max_connections": loop.max_connections,
        }
        for (family, reason), value in list(loop.counts.items()):
            out[f"{family}:{reason}" if reason else family] = value
        return out

    def __enter__(self) -> ExporterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class _ServerMetrics(Collector):
    """Self-metrics of every ``ExporterServer`` in the process, by listen ``address``."""

    def collect(self) -> Iterator[Metric]:
        servers = sorted(_SERVERS, key=lambda s: s.port)
        gauges = {
            "open": GaugeMetricFamily(
                "kubepulse_http_connections", "Client connections open.", labels=["address"]
            ),
            "max_connections": GaugeMetricFamily(
                "kubepulse_http_max_connections",
                "Connection cap in force (--web.max-connections, fitted to the open-files limit).",
                labels=["address"],
            ),
            "queued": GaugeMetricFamily(
                "kubepulse_http_requests_queued",
                "Complete requests waiting for a worker thread.",
                labels=["address"],
            ),
        }
        accepted = CounterMetricFamily(
            "kubepulse_http_connections_accepted", "Connections accepted.", labels=["address"]
        )
        refused = CounterMetricFamily(
            "kubepulse_http_connections_refused",
            "Connections refused at accept: limit (the cap reached, every connection busy).",
            labels=["address", "reason"],
        )
        closed = CounterMetricFamily(
            "kubepulse_http_connections_closed",
            "Connections closed, by reason: header_timeout, idle_timeout, evicted (to make room "
            "at the cap or when out of file descriptors), write_timeout, bad_request, client, "
            "done, tls_error.",
            labels=["address", "reason"],
        )
        accept_errors = CounterMetricFamily(
            "kubepulse_http_accept_errors",
            "accept() failures: fd_exhausted (EMFILE/ENFILE; the server backs off or evicts).",
            labels=["address", "reason"],
        )
        bad = CounterMetricFamily(
            "kubepulse_http_bad_requests",
            "Requests refused before routing, by status (400, 408, 413, 431, 505...).",
            labels=["address", "status"],
        )
        by_family = {
            "refused": refused,
            "closed": closed,
            "accept_errors": accept_errors,
            "bad_requests": bad,
        }
        for server in servers:
            address = server.listen_address
            stats = server.stats()
            for key, family in gauges.items():
                family.add_metric([address], stats[key])
            accepted.add_metric([address], stats.get("accepted", 0))
            for (name, reason), value in list(server._loop.counts.items()):
                if name in by_family:
                    by_family[name].add_metric([address, reason], value)
        yield from gauges.values()
        yield accepted
        yield from by_family.values()
        auths = {
            id(s.web_config.basic_auth): s.web_config.basic_auth
            for s in servers
            if s.web_config and s.web_config.basic_auth
        }
        yield from auth_metrics(auths.values())


SERVER_METRICS = _ServerMetrics()


def server_metrics() -> Collector:
    """A ``prometheus_client`` collector of every server's ``kubepulse_http_*`` self-metrics (and
    ``kubepulse_auth_*`` when basic auth is configured); register it in an exporter's registry."""
    return SERVER_METRICS


def prometheus_client_handler(registry: Any) -> Handler:
    """A handler serving a ``prometheus_client`` registry.

    Text format 0.0.4, or OpenMetrics when the ``Accept`` header asks for it; ``?name[]=x``
    restricts the output to the named families, as ``prometheus_client``'s own server does.
    """
    from prometheus_client.exposition import choose_encoder

    def handle(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept") or "")
        names = request.query.get("name[]")
        target = registry.restricted_registry(names) if names else registry
        return Response(200, encoder(target), content_type)

    return handle
