"""Moved to kubepulse.lab.pki."""

from kubepulse.lab.pki import *  # noqa: F403
