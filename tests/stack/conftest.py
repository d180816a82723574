"""Fixtures the stack tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubepulse.lab.receiver import WebhookReceiver


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    """A ``WebhookReceiver`` on loopback, closed when the test ends."""
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
