"""Moved to kubepulse.lab.receiver."""

from kubepulse.lab.receiver import *  # noqa: F403
from kubepulse.lab.receiver import (
    WebhookReceiver,
)

__all__ = [
    "WebhookReceiver",
]
