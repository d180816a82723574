"""Strict HTTP/1.x request heads, and response heads, for the exporter server.

Strict where leniency is a risk (RFC 9112): HTTP/0.9 and unknown versions are refused with a
proper status line, a header line that is not ``name: value`` is a ``400`` instead of being
dropped with every header after it, obsolete line folding and bare CRs are refused, a request
that carries ``Transfer-Encoding`` (the request-smuggling shape behind a proxy) or two different
``Content-Length`` values is refused, and an HTTP/1.1 request needs exactly one ``Host``.
Lenient only where RFC 9112 asks it: empty lines before the request line, and LF alone as a line
end.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

__all__ = ["MAX_HEAD", "BadRequest", "RequestHead", "find_head_end", "parse_head", "status_line"]

MAX_HEAD = 32 * 1024
MAX_HEADERS = 100
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
# Control characters other than HT are not allowed in a field value or a request target.
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET_CTL = re.compile(r"[\x00-\x20\x7f]")


class BadRequest(Exception):
    """A request the server answers with ``status`` and closes the connection after."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RequestHead:
    """A parsed request line and header block."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    keep_alive: bool
    content_length: int


def find_head_end(buf: bytes | bytearray, start: int = 0) -> int:
    """The index just past the empty line that ends the head, or -1; ``start`` skips bytes
    already searched (a trickling client must not make every read rescan the whole buffer)."""
    start = max(0, start - 3)
    crlf, lf = buf.find(b"\n\r\n", start), buf.find(b"\n\n", start)
    ends = [i + size for i, size in ((crlf, 3), (lf, 2)) if i >= 0]
    return min(ends) if ends else -1


def _lines(head: str) -> list[str]:
    lines = head.split("\n")
    out = []
    for line in lines:
        if line.endswith("\r"):
            line = line[:-1]
        if "\r" in line:
            raise BadRequest(400, "bare CR in the request head")
        out.append(line)
    return out


def parse_head(data: bytes) -> RequestHead:
    """Parse a head (as ``find_head_end`` delimits it, leading empty lines allowed)."""
    text = data.decode("latin-1")
    lines = _lines(text.lstrip("\r\n"))
    parts = lines[0].split(" ")
    if len(parts) == 2 and parts[1].startswith("/"):
        raise BadRequest(400, "HTTP/0.9 requests are not supported")
    if len(parts) != 3:
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise BadRequest(400, "malformed method")
    if not _VERSION.fullmatch(version):
        raise BadRequest(400, f"malformed HTTP version {version[:20]!r}")
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(505, f"{version} is not supported (HTTP/1.0 and HTTP/1.1 are)")
    if not target or _TARGET_CTL.search(target) or not target.startswith(("/", "http", "*")):
        raise BadRequest(400, "malformed request target")

    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            break
        if line[0] in " \t":
            raise BadRequest(400, "obsolete header line folding is not accepted")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequest(400, f"malformed header line {line[:40]!r}")
        value = value.strip(" \t")
        if _CTL.search(value):
            raise BadRequest(400, f"control character in header {name}")
        headers.append((name, value))
        if len(headers) > MAX_HEADERS:
            raise BadRequest(431, f"more than {MAX_HEADERS} header lines")

    def values(wanted: str) -> list[str]:
        return [v for n, v in headers if n.lower() == wanted]

    if values("transfer-encoding"):
        if method in ("GET", "HEAD"):
            raise BadRequest(400, f"Transfer-Encoding is not accepted on a {method} request")
        raise BadRequest(411, "Transfer-Encoding is not accepted; send Content-Length")
    lengths = {v for raw in values("content-length") for v in raw.split(",")}
    lengths = {v.strip(" \t") for v in lengths}
    if len(lengths) > 1 or not all(v.isdigit() and v.isascii() for v in lengths):
        raise BadRequest(400, "malformed Content-Length")
    hosts = values("host")
    if version == "HTTP/1.1" and len(hosts) != 1:
        raise BadRequest(400, "an HTTP/1.1 request needs exactly one Host header")
    tokens = {t.strip().lower() for v in values("connection") for t in v.split(",")}
    keep_alive = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)
    length = int(lengths.pop()) if lengths else 0
    return RequestHead(method, target, version, headers, keep_alive, length)


_date_cache: tuple[int, str] = (0, "")


def _date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def status_line(status: int, headers: list[tuple[str, str]]) -> bytes:
    """``HTTP/1.1 STATUS REASON``, ``Date``, ``Server`` and ``headers``, then the empty line.

    A header value with CR or LF raises ``ValueError`` (response splitting).
    """
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {_date()}", "Server: kubepulse"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r}: CR or LF in a response header")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
