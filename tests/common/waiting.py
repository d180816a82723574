"""Waiting for a condition in tests: ``kubepulse.lab.servers.wait_until`` with the defaults the
test folders share (10 s, polled every 50 ms, a failed assert inside ``check`` meaning not yet)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.lab.servers import wait_until as _wait_until


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy and return that; an ``AssertionError``
    it raises counts as not yet and is raised again if it was the last answer at the timeout,
    else a ``TimeoutError`` names the timeout."""
    return _wait_until(check, timeout, interval, retry=(AssertionError,))
