"""Moved to kubepulse.lab.cluster.stages."""

from kubepulse.lab.cluster.stages import *  # noqa: F403
