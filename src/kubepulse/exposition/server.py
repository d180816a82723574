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

Design, driven by the cluster exporter serving tens of MB per scrape:

- one thread per connection, HTTP/1.1 keep-alive (Prometheus reuses its connection);
- a handler's body may be a sequence of pre-rendered chunks; they are written with scatter-gather
  ``sendmsg`` (plain HTTP) or joined in 256 KiB batches (TLS, where sendmsg is unavailable);
- gzip (when the client asks, as Prometheus does) is zlib level 1: in C, off the GIL, fast;
- bcrypt is deliberately slow (~100+ ms per check), so a successful check is cached in memory by a
  keyed digest of the credentials, as exporter-toolkit does; wrong credentials are never cached;
- the TLS handshake runs in the connection's thread with a timeout, and a plain-HTTP request to a
  TLS port gets the same one-line ``400`` Go servers send instead of a hang or a traceback;
- certificates rotated in place are picked up without a restart (the rest of the web config,
  like basic auth users, is read at startup).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qs, urlsplit

import click
import yaml

from kubepulse.exposition.text import CONTENT_TYPE

__all__ = [
    "BasicAuth",
    "ExporterServer",
    "Handler",
    "Headers",
    "Request",
    "Response",
    "TLSConfig",
    "WebConfig",
    "fail_usage",
    "format_listen_address",
    "load_web_config",
    "parse_listen_address",
    "prometheus_client_handler",
    "web_options",
]

log = logging.getLogger(__name__)

# Long enough for Prometheus to reuse its connection between scrapes at a 60 s interval.
KEEPALIVE_TIMEOUT = 120.0
# A client that opens a TLS connection and sends nothing must not hold a thread forever.
HANDSHAKE_TIMEOUT = 10.0
# How often (at most) a new TLS connection checks whether the certificate files changed.
TLS_RELOAD_CHECK = 1.0
# sendmsg takes at most IOV_MAX (1024 on Linux) buffers per call.
_IOV_MAX = 1024
# Chunks are joined into batches of about this size for TLS, where sendmsg is unavailable.
_TLS_BATCH = 256 * 1024
_MAX_POST_BODY = 64 * 1024


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


@dataclass
class Response:
    """What a handler returns.

    ``body`` may be a sequence of chunks: they are sent in order without being joined. If
    ``headers`` has ``Content-Encoding`` the body is already encoded and is sent as is; otherwise
    the server gzips it when the client sends ``Accept-Encoding: gzip``.
    """

    status: int = 200
    body: bytes | Sequence[bytes] = b""
    content_type: str = CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


# --------------------------------------------------------------------------- web config


@dataclass(frozen=True)
class TLSConfig:
    """``tls_server_config``: paths are absolute (resolved against the config file's folder)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str | None = None
    max_version: str | None = None

    def stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        """Identity of the files' current contents (inode, size, mtime), to notice rotation."""
        stamps: list[tuple[int, int, int] | None] = []
        for file in (self.cert_file, self.key_file, self.client_ca_file):
            try:
                st = file.stat() if file else None
            except OSError:
                st = None
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns) if st else None)
        return tuple(stamps)

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side context; ``ValueError`` names the file that cannot be loaded."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _TLS_VERSIONS[self.min_version or "TLS12"]
        if self.max_version:
            ctx.maximum_version = _TLS_VERSIONS[self.max_version]
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"tls_server_config: cannot load cert_file {self.cert_file} / key_file "
                f"{self.key_file}: {exc}"
            ) from exc
        if self.client_ca_file is not None:
            try:
                ctx.load_verify_locations(str(self.client_ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"tls_server_config.client_ca_file: cannot load {self.client_ca_file}: {exc}"
                ) from exc
        ctx.verify_mode = _CLIENT_AUTH[self.client_auth_type]
        return ctx


_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Python's ssl module cannot accept a client certificate without verifying it, so the two Go
# modes that do (RequestClientCert, RequireAnyClientCert) are refused rather than weakened.
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes, caching successes.

    As in exporter-toolkit: an unknown user still costs one bcrypt check (against a dummy hash),
    so response time does not reveal which users exist; uncached checks run one at a time, so a
    flood of wrong passwords uses at most one core. The cache key is an HMAC (per-process random
    key) of user and password: the cache never holds a password.
    """

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = {user: hashed.encode() for user, hashed in users.items()}
        self._key = secrets.token_bytes(32)
        self._ok: set[bytes] = set()
        self._bcrypt_lock = threading.Lock()
        self._dummy: bytes | None = None

    def _dummy_hash(self) -> bytes:
        import bcrypt

        if self._dummy is None:
            cost = max((int(h[4:6]) for h in self.users.values() if h[4:6].isdigit()), default=10)
            self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        return self._dummy

    def check(self, authorization: str | None) -> bool:
        """True if the header carries a user and password matching this config."""
        if not authorization or authorization[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user_b, sep, password = decoded.partition(b":")
        if not sep:
            return False
        digest = hmac.new(self._key, user_b + b"\0" + password, hashlib.sha256).digest()
        if digest in self._ok:
            return True
        import bcrypt  # loaded only when basic auth is configured: it is a C extension

        hashed = self.users.get(user_b.decode("utf-8", "replace"))
        with self._bcrypt_lock:
            try:
                ok = bcrypt.checkpw(password, hashed or self._dummy_hash()) and hashed is not None
            except ValueError:
                return False
            if ok:
                self._ok.add(digest)
        return ok


@dataclass(frozen=True)
class WebConfig:
    """A parsed ``--web.config.file``."""

    path: Path
    tls: TLSConfig | None = None
    basic_auth: BasicAuth | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


_TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_auth_type",
    "min_version",
    "max_version",
}
# exporter-toolkit fields that name Go crypto/tls settings with no faithful OpenSSL equivalent:
# refused by name rather than silently ignored, since they are security settings.
_GO_ONLY_TLS_KEYS = {
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
}


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Parse an exporter-toolkit web config; ``ValueError`` names the file and the bad field.

    Relative file paths inside are resolved against the config file's folder, as
    exporter-toolkit does. Certificates are loaded here, so a bad one fails at startup.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read web config: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}:{where} invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: web config must be a mapping")

    def fail(field_name: str, problem: str) -> ValueError:
        return ValueError(f"{path}: {field_name}: {problem}")

    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(_TOP_KEYS))})")

    tls: TLSConfig | None = None
    raw_tls = data.get("tls_server_config")
    if raw_tls is not None:
        if not isinstance(raw_tls, dict):
            raise fail("tls_server_config", "must be a mapping")
        go_only = set(raw_tls) & _GO_ONLY_TLS_KEYS
        if go_only:
            raise fail(
                f"tls_server_config.{sorted(go_only)[0]}",
                "a Go crypto/tls setting kubepulse cannot honour; remove it",
            )
        unknown = set(raw_tls) - _TLS_KEYS
        if unknown:
            raise fail(f"tls_server_config.{sorted(unknown)[0]}", "unknown field")

        versions: dict[str, str | None] = {}
        for name in ("min_version", "max_version"):
            value = raw_tls.get(name)
            if value is not None and value not in _TLS_VERSIONS:
                raise fail(
                    f"tls_server_config.{name}", f"{value!r} (use {', '.join(_TLS_VERSIONS)})"
                )
            versions[name] = value

        def file_field(name: str, required: bool) -> Path | None:
            value = raw_tls.get(name)
            if value in (None, ""):
                if required:
                    raise fail(f"tls_server_config.{name}", "required")
                return None
            if not isinstance(value, str):
                raise fail(f"tls_server_config.{name}", "must be a file path")
            file = (path.parent / value).resolve()
            if not file.is_file():
                raise fail(f"tls_server_config.{name}", f"no such file {file}")
            return file

        cert = file_field("cert_file", True)
        key = file_field("key_file", True)
        ca = file_field("client_ca_file", False)
        auth_type = raw_tls.get("client_auth_type") or (
            "RequireAndVerifyClientCert" if ca else "NoClientCert"
        )
        if auth_type not in _CLIENT_AUTH:
            raise fail(
                "tls_server_config.client_auth_type",
                f"{auth_type!r} not supported (use one of {', '.join(_CLIENT_AUTH)})",
            )
        if auth_type != "NoClientCert" and ca is None:
            raise fail("tls_server_config.client_ca_file", f"required by {auth_type}")
        assert cert is not None and key is not None
        tls = TLSConfig(cert, key, ca, auth_type, versions["min_version"], versions["max_version"])
        try:
            tls.ssl_context()
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    auth: BasicAuth | None = None
    users = data.get("basic_auth_users")
    if users is not None:
        if not isinstance(users, dict):
            raise fail("basic_auth_users", "must map user names to bcrypt hashes")
        for user, hashed in users.items():
            if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise fail(f"basic_auth_users.{user}", "not a bcrypt hash ($2a$/$2b$/$2y$...)")
        auth = BasicAuth({str(u): h for u, h in users.items()}) if users else None

    headers: dict[str, str] = {}
    http_cfg = data.get("http_server_config")
    if http_cfg is not None:
        if not isinstance(http_cfg, dict) or set(http_cfg) - {"headers"}:
            raise fail("http_server_config", "only 'headers' is supported")
        raw_headers = http_cfg.get("headers") or {}
        if not isinstance(raw_headers, dict):
            raise fail("http_server_config.headers", "must map header names to values")
        headers = {str(k): str(v) for k, v in raw_headers.items()}
    return WebConfig(path, tls, auth, headers)


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


def _gzip(chunks: Sequence[bytes]) -> bytes:
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [comp.compress(chunk) for chunk in chunks]
    parts.append(comp.flush())
    return b"".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubepulse"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = KEEPALIVE_TIMEOUT
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        headers = Headers(list(self.headers.items()))
        if self.command == "POST":
            # Routes are read-only: a small body is drained so the connection stays usable, a
            # large or unparsable one ends the connection.
            length_header = self.headers.get("Content-Length") or "0"
            length = int(length_header) if length_header.isdigit() else -1
            if not 0 <= length <= _MAX_POST_BODY:
                self.close_connection = True
                self._send(Response(413, b"request body too large\n", "text/plain"), Headers())
                return
            if length:
                self.rfile.read(length)
        auth = owner.web_config.basic_auth if owner.web_config else None
        if auth is not None and not auth.check(headers.get("Authorization")):
            resp = Response(
                401,
                b"Unauthorized\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": 'Basic realm="kubepulse"'},
            )
        else:
            handler = owner.routes.get(split.path)
            if handler is None:
                resp = Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
            else:
                request = Request(
                    self.command, split.path, parse_qs(split.query, keep_blank_values=True), headers
                )
                try:
                    resp = handler(request)
                except Exception:
                    log.exception("handler for %s failed", split.path)
                    resp = Response(500, b"internal error\n", "text/plain; charset=utf-8")
        self._send(resp, headers)

    def _send(self, resp: Response, req_headers: Mapping[str, str]) -> None:
        chunks: Sequence[bytes] = [resp.body] if isinstance(resp.body, bytes) else resp.body
        out_headers = {**(self.server.owner.extra_headers), **resp.headers}
        if "Content-Encoding" not in out_headers and "gzip" in (
            req_headers.get("Accept-Encoding") or ""
        ):
            chunks = [_gzip(chunks)]
            out_headers["Content-Encoding"] = "gzip"
        length = sum(len(c) for c in chunks)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(length))
        if "gzip" in out_headers.get("Content-Encoding", ""):
            self.send_header("Vary", "Accept-Encoding")
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self._write(chunks)

    def _write(self, chunks: Sequence[bytes]) -> None:
        sock = self.connection
        if isinstance(sock, ssl.SSLSocket):
            batch: list[bytes] = []
            size = 0
            for chunk in chunks:
                batch.append(chunk)
                size += len(chunk)
                if size >= _TLS_BATCH:
                    sock.sendall(b"".join(batch))
                    batch, size = [], 0
            if batch:
                sock.sendall(b"".join(batch))
            return
        views = [memoryview(c) for c in chunks if c]
        i = 0
        while i < len(views):
            sent = sock.sendmsg(views[i : i + _IOV_MAX])
            # Skip what went out; a partial send leaves the rest of one view for the next call.
            while sent:
                if sent >= len(views[i]):
                    sent -= len(views[i])
                    i += 1
                else:
                    views[i] = views[i][sent:]
                    sent = 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: ExporterServer) -> None:
        self.owner = owner
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.tls = owner.web_config.tls if owner.web_config else None
        self.ssl_context = self.tls.ssl_context() if self.tls else None
        self._tls_stamp = self.tls.stamp() if self.tls else ()
        self._tls_checked = time.monotonic()
        self._tls_lock = threading.Lock()
        super().__init__(address, _Handler)

    def _current_ssl_context(self) -> ssl.SSLContext:
        """The TLS context, rebuilt when the certificate files change (checked once a second).

        cert-manager and friends rotate certificates in place; a rotation is picked up without a
        restart. A half-written pair (new cert, old key) fails to load: the previous context
        stays until the files are consistent again.
        """
        assert self.tls is not None and self.ssl_context is not None
        now = time.monotonic()
        if now - self._tls_checked < TLS_RELOAD_CHECK:
            return self.ssl_context
        with self._tls_lock:
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

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's own thread, so a slow or silent client blocks only itself.
        if self.tls is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                first = request.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if first and first != b"\x16":
                self._refuse_plain_http(request)
                return
            try:
                tls_sock = self._current_ssl_context().wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                log.info("TLS handshake with %s failed: %s", client_address[0], exc)
                return
            try:
                tls_sock.settimeout(None)
                super().finish_request(tls_sock, client_address)
            finally:
                tls_sock.close()
            return
        super().finish_request(request, client_address)

    @staticmethod
    def _refuse_plain_http(sock: socket.socket) -> None:
        # Answer like Go's net/http so curl and Prometheus show a readable error. The unread
        # request is drained before closing: closing with unread data would send a TCP reset,
        # which can destroy the answer before the client reads it.
        with contextlib.suppress(OSError):
            sock.sendall(
                b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n"
                b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
            )
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(1.0)
            for _ in range(64):  # bounded: a client trickling bytes cannot hold the thread
                if not sock.recv(65536):
                    break

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_WR)
        request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client resets and timeouts are routine for a scrape target; one line, no traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | ssl.SSLError | TimeoutError):
            log.debug("connection from %s: %s", client_address[0], exc)
        else:
            log.exception("error serving %s", client_address[0])


def _healthz(_: Request) -> Response:
    return Response(200, b"ok\n", "text/plain; charset=utf-8")


class ExporterServer:
    """Serves ``routes`` (path → handler) with the web config's TLS and basic auth.

    ``GET /healthz`` answers ``ok`` unless the routes define it; unknown paths are 404. With basic
    auth configured, every path (including /healthz) needs credentials, as in exporter-toolkit.
    """

    def __init__(
        self,
        routes: Mapping[str, Handler],
        listen_address: str = "127.0.0.1:0",
        web_config: WebConfig | None = None,
    ) -> None:
        self.routes: dict[str, Handler] = {"/healthz": _healthz, **routes}
        self.web_config = web_config
        self.extra_headers: dict[str, str] = dict(web_config.headers) if web_config else {}
        host, port = parse_listen_address(listen_address)
        self._httpd = _HTTPServer((host, port), self)
        self.port: int = self._httpd.server_address[1]
        scheme = "https" if self._httpd.ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> ExporterServer:
        """Serve in a daemon thread; return self (``server = ExporterServer(...).start()``)."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"exporter-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``shutdown()`` is called from another one."""
        self._httpd.serve_forever()

    def shutdown(self) -> None:
        """Stop accepting, close the listening socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ExporterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


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


# --------------------------------------------------------------------------- click options

F = TypeVar("F", bound=Callable[..., Any])


def fail_usage(ctx: click.Context, message: str) -> NoReturn:
    """Refuse bad command-line input: one line ``<command>: message`` on stderr, exit 2.

    click's ``BadParameter`` prints three lines (usage, hint, error); the kubepulse commands
    answer bad input with the one line that says what is wrong, as ``monitor pods`` does.
    """
    click.echo(f"{ctx.command_path}: {' '.join(message.split())}", err=True)
    ctx.exit(2)


def _web_config_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> WebConfig | None:
    if value is None:
        return None
    try:
        return load_web_config(value)
    except ValueError as exc:
        # The message starts with the file's path and names the field.
        fail_usage(ctx, f"--web.config.file: {exc}")


def _listen_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_listen_address(value)
    except ValueError as exc:
        fail_usage(ctx, f"--web.listen-address: {exc}")
    return value


def web_options(default_listen: str | None, listen_help: str | None = None) -> Callable[[F], F]:
    """Add ``--web.listen-address`` and ``--web.config.file`` to a click command.

    The command receives ``listen_address: str`` (``None`` if ``default_listen`` is ``None`` and
    the flag is not given) and ``web_config: WebConfig | None`` (already loaded and validated).
    Bad values are one-line errors naming the flag (and the file and field), exit 2.
    """

    def decorate(func: F) -> F:
        func = click.option(
            "--web.config.file",
            "web_config",
            type=click.Path(dir_okay=False),
            callback=_web_config_option,
            help="Exporter-toolkit web config (YAML): TLS and basic auth.",
        )(func)
        func = click.option(
            "--web.listen-address",
            "listen_address",
            default=default_listen,
            show_default=default_listen is not None,
            callback=_listen_option,
            help=listen_help or "Address to listen on, HOST:PORT (':PORT' for all interfaces).",
        )(func)
        return func

    return decorate
