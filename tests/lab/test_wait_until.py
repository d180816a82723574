"""``kubepulse.lab.servers.wait_until``, the one wait loop of the lab and the tests."""

from __future__ import annotations

import time

import pytest

from kubepulse.lab.servers import wait_until


def test_returns_the_first_truthy_answer() -> None:
    answers = iter([0, [], "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0.001) == "ready"


def test_a_retried_exception_counts_as_not_yet() -> None:
    calls = []

    def check() -> int:
        calls.append(1)
        assert len(calls) >= 3, "not yet"
        return len(calls)

    assert wait_until(check, timeout=5, interval=0.001, retry=(AssertionError,)) == 3


def test_the_last_retried_exception_is_raised_at_the_timeout() -> None:
    def check() -> None:
        raise AssertionError("still 2 of 3")

    started = time.monotonic()
    with pytest.raises(AssertionError, match="still 2 of 3"):
        wait_until(check, timeout=0.2, interval=0.01, retry=(AssertionError,))
    assert 0.2 <= time.monotonic() - started < 2


def test_an_exception_not_retried_ends_the_wait_at_once() -> None:
    def check() -> None:
        raise AssertionError("broken")

    started = time.monotonic()
    with pytest.raises(AssertionError, match="broken"):
        wait_until(check, timeout=10, interval=0.01)
    assert time.monotonic() - started < 1


def test_a_timeout_names_what_and_the_last_answer() -> None:
    with pytest.raises(TimeoutError, match=r"3 pods ready not met after 0.1 s \(last: \{\}\)"):
        wait_until(lambda: {}, timeout=0.1, interval=0.01, what="3 pods ready")
