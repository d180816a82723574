"""Basic auth against bcrypt hashes that a flood of wrong passwords cannot turn against users.

bcrypt is slow on purpose (about 250 ms a check at cost 12 on a 2-core host), so a naive check
lets anyone who can reach the port queue up work until right passwords wait for wrong ones. Here:

- a successful check is cached (an HMAC of user and password with a per-process random key, so the
  cache never holds a password): later requests with it cost no bcrypt and never wait;
- at most ``bcrypt_slots`` checks run at once (default 2), and a request never waits for a slot:
  when none is free it gets ``503`` with ``Retry-After`` at once, so a waiting check never holds a
  server or WSGI worker. Clients with a failure in the window ("suspects") share all but one
  slot, and start no check while a client with no recent failure is being checked: a real
  scraper logging in finds a slot, and most of the CPU, unless other clean clients are being
  checked at that very moment (each new address is clean for its first attempt);
- one uncached check at a time per client address (a second concurrent one gets ``429``);
- after ``max_failures`` failures from one client address within ``failure_window`` seconds, that
  address gets ``429`` with ``Retry-After`` and costs no bcrypt until the window has moved on.
  Cached successes still pass: a scraper whose address is shared with an attacker keeps scraping
  once it has logged in. Addresses are tracked in a bounded table (oldest forgotten first);
- an unknown user still costs one bcrypt check against a dummy hash of the same cost, so response
  time does not tell which users exist (as in exporter-toolkit).

Behind a proxy every client has the proxy's address; the per-address limits then apply to all of
them together.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["AuthResult", "BasicAuth", "auth_metrics"]

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Basic realm="kubepulse"'}


@dataclass(frozen=True)
class AuthResult:
    """The answer to one request's credentials: ``status`` 200 (let it through), 401, 429 or 503."""

    status: int
    reason: str = ""
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def response_headers(self) -> dict[str, str]:
        """``WWW-Authenticate`` for a 401, ``Retry-After`` for a 429 or 503."""
        if self.status == 401:
            return dict(UNAUTHORIZED_HEADERS)
        if self.retry_after is not None:
            return {"Retry-After": str(self.retry_after)}
        return {}

    def body(self) -> bytes:
        return {
            200: b"",
            401: b"Unauthorized\n",
            429: b"Too many failed logins from this address; retry later\n",
            503: b"Login checks are busy; retry shortly\n",
        }[self.status]


_OK = AuthResult(200)
_DENIED = AuthResult(401)


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes; see the module docstring.

    ``authorize(header, client_address)`` never blocks on another request's check. It is also a
    ``prometheus_client`` collector of its own counters (``kubepulse_auth_*``).
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        bcrypt_slots: int = 2,
        max_failures: int = 10,
        failure_window: float = 60.0,
        max_clients: int = 10_000,
    ) -> None:
        if bcrypt_slots < 1 or max_failures < 1 or failure_window <= 0 or max_clients < 1:
            raise ValueError("bcrypt_slots, max_failures, failure_window, max_clients must be > 0")
        self.users = {user: hashed.encode() for user, hashed in users.items()}
        self.bcrypt_slots = bcrypt_slots
        self.max_failures = max_failures
        self.failure_window = failure_window
        self.max_clients = max_clients
        self._key = secrets.token_bytes(32)
        self._ok: set[bytes] = set()
        self._dummy: bytes | None = None
        self._lock = threading.Lock()
        self._running = 0  # bcrypt checks in progress
        self._running_suspect = 0  # ... of which for clients with a failure in the window
        self._checking: set[str] = set()  # client addresses with a check in progress
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.counts = {"success": 0, "failure": 0, "rate_limited": 0, "concurrent": 0, "busy": 0}

    def _dummy_hash(self) -> bytes:
        import bcrypt

        if self._dummy is None:
            cost = max((int(h[4:6]) for h in self.users.values() if h[4:6].isdigit()), default=10)
            self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        return self._dummy

    def _recent_failures(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.failure_window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def _admit(self, client: str, now: float) -> AuthResult | bool:
        """Under the lock: a refusal, or whether the client is a suspect (and a slot is taken)."""
        failures = self._recent_failures(client, now)
        if failures is not None and len(failures) >= self.max_failures:
            self.counts["rate_limited"] += 1
            wait = math.ceil(failures[0] + self.failure_window - now)
            return AuthResult(429, "rate_limited", max(1, wait))
        if client in self._checking:
            self.counts["concurrent"] += 1
            return AuthResult(429, "concurrent", 1)
        suspect = failures is not None
        # A suspect starts a check only while no clean client is being checked, and suspects
        # never take the last slot: a clean check has a slot and most of the CPU.
        if self._running >= self.bcrypt_slots or (
            suspect
            and (
                self._running_suspect >= max(1, self.bcrypt_slots - 1)
                or self._running > self._running_suspect
            )
        ):
            self.counts["busy"] += 1
            return AuthResult(503, "busy", 1)
        self._running += 1
        self._running_suspect += suspect
        self._checking.add(client)
        return suspect

    def _record(self, client: str, suspect: bool, ok: bool, digest: bytes, now: float) -> None:
        self._running -= 1
        self._running_suspect -= suspect
        self._checking.discard(client)
        if ok:
            self.counts["success"] += 1
            self._ok.add(digest)
            return
        self.counts["failure"] += 1
        times = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
        times.append(now)
        self._failures[client] = times  # moved to the end: the table forgets the stalest first
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def authorize(self, authorization: str | None, client: str = "") -> AuthResult:
        """Decide on one request's ``Authorization`` header from ``client`` (its address)."""
        if not authorization or authorization[:6].lower() != "basic ":
            return _DENIED
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return _DENIED
        user_b, sep, password = decoded.partition(b":")
        if not sep:
            return _DENIED
        digest = hmac.new(self._key, user_b + b"\0" + password, hashlib.sha256).digest()
        if digest in self._ok:
            return _OK
        import bcrypt  # loaded only when basic auth is configured: it is a C extension

        hashed = self.users.get(user_b.decode("utf-8", "replace"))
        against = hashed or self._dummy_hash()
        with self._lock:
            admitted = self._admit(client, time.monotonic())
        if isinstance(admitted, AuthResult):
            return admitted
        ok = False
        try:
            ok = bcrypt.checkpw(password, against) and hashed is not None
        except ValueError:
            ok = False
        finally:
            with self._lock:
                self._record(client, admitted, ok, digest, time.monotonic())
        return _OK if ok else _DENIED

    def failing_clients(self) -> tuple[int, int]:
        """Client addresses with a failure in the window, and those of them refused with 429."""
        now = time.monotonic()
        with self._lock:
            counts = [len(self._recent_failures(c, now) or ()) for c in list(self._failures)]
        failing = [n for n in counts if n]
        return len(failing), sum(n >= self.max_failures for n in failing)

    def collect(self) -> Iterator[Metric]:
        """This object's ``kubepulse_auth_*`` self-metrics (see ``auth_metrics``)."""
        return auth_metrics([self])


def auth_metrics(auths: Iterable[BasicAuth]) -> Iterator[Metric]:
    """``kubepulse_auth_checks_total{result}``, ``kubepulse_auth_refused_total{reason}``,
    ``kubepulse_auth_failing_clients`` and ``kubepulse_auth_limited_clients``, summed over
    ``auths``; nothing if there are none."""
    auths = list(auths)
    if not auths:
        return
    checks = CounterMetricFamily(
        "kubepulse_auth_checks", "bcrypt checks of basic auth credentials.", labels=["result"]
    )
    for result in ("success", "failure"):
        checks.add_metric([result], sum(a.counts[result] for a in auths))
    yield checks
    refused = CounterMetricFamily(
        "kubepulse_auth_refused",
        "Logins answered without a bcrypt check: rate_limited (429, too many failures from the "
        "address), concurrent (429, a check from the address in progress), busy (503, every "
        "check slot taken).",
        labels=["reason"],
    )
    for reason in ("rate_limited", "concurrent", "busy"):
        refused.add_metric([reason], sum(a.counts[reason] for a in auths))
    yield refused
    failing = [a.failing_clients() for a in auths]
    yield GaugeMetricFamily(
        "kubepulse_auth_failing_clients",
        "Client addresses with a failed login in the window (they share all but one check slot).",
        value=sum(f for f, _ in failing),
    )
    yield GaugeMetricFamily(
        "kubepulse_auth_limited_clients",
        "Client addresses refused with 429 right now for too many failed logins.",
        value=sum(limited for _, limited in failing),
    )
