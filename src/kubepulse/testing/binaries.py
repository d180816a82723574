"""Moved to kubepulse.lab.cluster.binaries (the build core to kubepulse.lab.builder)."""

from kubepulse.lab.builder import OUT as OUT
from kubepulse.lab.cluster.binaries import *  # noqa: F403
from kubepulse.lab.cluster.binaries import CORE as CORE
from kubepulse.lab.cluster.binaries import KUBE_COMPONENTS as KUBE_COMPONENTS
from kubepulse.lab.cluster.binaries import kube_wrapper_gomod as kube_wrapper_gomod
from kubepulse.lab.cluster.binaries import metrics_server_manifests as metrics_server_manifests

