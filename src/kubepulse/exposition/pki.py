"""Moved to kubepulse.lab.pki."""

from kubepulse.lab.pki import *  # noqa: F403
from kubepulse.lab.pki import (
    LoopbackPKI,
    make_loopback_pki,
    write_web_config,
)

__all__ = [
    "LoopbackPKI",
    "make_loopback_pki",
    "write_web_config",
]
