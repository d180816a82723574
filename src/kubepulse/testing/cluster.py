"""Moved to kubepulse.lab.cluster."""

from kubepulse.lab.cluster import *  # noqa: F403
from kubepulse.lab.cluster import COMPONENTS as COMPONENTS
from kubepulse.lab.cluster import CONTROLLERS as CONTROLLERS
from kubepulse.lab.cluster import DEFAULT_NAME as DEFAULT_NAME
