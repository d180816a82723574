"""Moved to kubepulse.lab.processes."""

from kubepulse.lab.processes import *  # noqa: F403
from kubepulse.lab.processes import (
    LOOPBACK,
    PORT_BAND,
    ManagedProcess,
    ProcessGroup,
    free_port,
    require_loopback,
    wait_for_http,
    wait_for_port,
)

__all__ = [
    "LOOPBACK",
    "PORT_BAND",
    "ManagedProcess",
    "ProcessGroup",
    "free_port",
    "require_loopback",
    "wait_for_http",
    "wait_for_port",
]
