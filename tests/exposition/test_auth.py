"""Basic auth that cannot be starved: slots, per-address limits, the failure window, caching.

bcrypt.checkpw is wrapped by a spy that records each call and calls the real function: whether
a request cost a bcrypt check cannot be observed from outside (timing would be a speed test).
A check "in progress" is a real one at cost 14 (a few seconds), run in a thread.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from collections.abc import Iterator

import bcrypt
import pytest

from kubepulse.exposition.auth import AuthResult, BasicAuth

_real_checkpw = bcrypt.checkpw


def _header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []

    def counting(password: bytes, hashed: bytes) -> bool:
        seen.append(password)
        return _real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return seen


def _auth(rounds: int = 4, **kw: int | float) -> BasicAuth:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds)).decode()
    return BasicAuth({"prom": hashed}, **kw)  # type: ignore[arg-type]


def test_failures_from_one_address_get_429_without_bcrypt(checks: list[bytes]) -> None:
    auth = _auth(max_failures=3, failure_window=60)
    wrong, right = _header("prom", "wrong"), _header("prom", "right")
    assert auth.authorize(right, "127.0.0.2").status == 200  # cached from now on
    assert [auth.authorize(wrong, "127.0.0.2").status for _ in range(3)] == [401] * 3
    assert len(checks) == 4
    limited = auth.authorize(wrong, "127.0.0.2")
    assert (limited.status, limited.reason) == (429, "rate_limited")
    assert limited.retry_after is not None and 59 <= limited.retry_after <= 60
    assert limited.response_headers() == {"Retry-After": str(limited.retry_after)}
    # Even the right password, if not cached, is refused without a check; a cached one passes.
    other = BasicAuth({"prom": auth.users["prom"].decode(), "x": auth.users["prom"].decode()})
    assert other.authorize(_header("x", "right"), "127.0.0.2").status == 200
    assert auth.authorize(_header("x", "right"), "127.0.0.2").status == 429
    assert auth.authorize(right, "127.0.0.2").status == 200
    assert len(checks) == 5  # only `other`'s check; none for the limited address
    # Another address is not affected.
    assert auth.authorize(wrong, "127.0.0.3").status == 401
    assert auth.counts["rate_limited"] == 2
    assert auth.failing_clients() == (2, 1)


def test_the_failure_window_slides(checks: list[bytes]) -> None:
    auth = _auth(max_failures=2, failure_window=0.5)
    wrong = _header("prom", "wrong")
    assert [auth.authorize(wrong, "a").status for _ in range(3)] == [401, 401, 429]
    time.sleep(0.6)
    assert auth.authorize(wrong, "a").status == 401  # checked again: the old failures expired
    assert len(checks) == 3


def test_the_table_of_addresses_is_bounded(checks: list[bytes]) -> None:
    auth = _auth(max_failures=1, max_clients=2)
    wrong = _header("prom", "wrong")
    for client in ("a", "b", "c"):
        assert auth.authorize(wrong, client).status == 401
    assert auth.authorize(wrong, "c").status == 429
    assert auth.authorize(wrong, "a").status == 401  # forgotten, the stalest first
    assert len(auth._failures) == 2


@pytest.fixture
def slow_check() -> Iterator[tuple[BasicAuth, threading.Thread]]:
    """A BasicAuth at cost 14 with one wrong-password check from "slow" in progress."""
    auth = _auth(rounds=14, bcrypt_slots=2)
    thread = threading.Thread(target=auth.authorize, args=(_header("prom", "w"), "slow"))
    thread.start()
    deadline = time.monotonic() + 5
    while auth._running == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield auth, thread
    thread.join(60)


def test_no_request_waits_for_another_ones_check(
    slow_check: tuple[BasicAuth, threading.Thread],
) -> None:
    auth, running = slow_check
    # Same address, while its check runs: 429 at once.
    same = auth.authorize(_header("prom", "other"), "slow")
    assert (same.status, same.reason, same.retry_after) == (429, "concurrent", 1)
    # A suspect (an address with a failure) may not start while a clean check runs.
    auth._failures["suspect"] = deque([time.monotonic()])
    busy = auth.authorize(_header("prom", "w"), "suspect")
    assert (busy.status, busy.reason) == (503, "busy")
    assert running.is_alive()  # all answered while the first check was still running
    assert AuthResult(503, "busy", 1).response_headers() == {"Retry-After": "1"}


def test_a_clean_client_gets_the_last_slot_and_no_one_gets_a_third(
    slow_check: tuple[BasicAuth, threading.Thread],
) -> None:
    auth, running = slow_check
    second = threading.Thread(target=auth.authorize, args=(_header("prom", "w"), "clean"))
    second.start()
    deadline = time.monotonic() + 5
    while auth._running < 2:
        assert time.monotonic() < deadline, "the clean client did not get the second slot"
        time.sleep(0.01)
    third = auth.authorize(_header("prom", "w"), "third")
    assert (third.status, third.reason) == (503, "busy")
    assert running.is_alive() and second.is_alive()
    second.join(60)
    running.join(60)
    assert auth.counts == {
        "success": 0,
        "failure": 2,
        "rate_limited": 0,
        "concurrent": 0,
        "busy": 1,
    }
