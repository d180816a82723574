"""Moved to kubepulse.lab.cluster.cli."""

from kubepulse.lab.cluster.cli import *  # noqa: F403
from kubepulse.lab.cluster.cli import cluster as cluster
