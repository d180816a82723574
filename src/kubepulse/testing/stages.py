"""Moved to kubepulse.lab.cluster.stages."""

from kubepulse.lab.cluster.stages import *  # noqa: F403
from kubepulse.lab.cluster.stages import (
    NODE_RESOURCE_YAML,
    STAGES_YAML,
)

__all__ = [
    "NODE_RESOURCE_YAML",
    "STAGES_YAML",
]
