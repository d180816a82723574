"""Moved to kubepulse.lab.processes."""

from kubepulse.lab.processes import *  # noqa: F403
from kubepulse.lab.processes import LOOPBACK as LOOPBACK
from kubepulse.lab.processes import PORT_BAND as PORT_BAND
