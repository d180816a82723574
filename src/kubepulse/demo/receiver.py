"""Moved to kubepulse.lab.receiver."""

from kubepulse.lab.receiver import *  # noqa: F403
