"""The upstream releases kubepulse deploys and tests with: each version is pinned here only.

The Helm chart's image tags (``deploy/helm/kubepulse/values.yaml``), the Ansible roles' version
defaults and the binaries that tests, the demo and the stack runners start (built from these
releases' Go modules by ``kubepulse.lab.releases``) all equal these; ``tests/test_versions.py``
fails when one of them drifts.
"""

from __future__ import annotations

__all__ = [
    "ALERTMANAGER",
    "BLACKBOX_EXPORTER",
    "HELM",
    "NODE_EXPORTER",
    "PROMETHEUS",
    "RELEASES",
    "THANOS",
]

PROMETHEUS = "3.5.0"
ALERTMANAGER = "0.28.1"
NODE_EXPORTER = "1.9.1"
# Debian bookworm packages 0.23.0 (the Ansible role installs it); the chart and the tests run this.
BLACKBOX_EXPORTER = "0.27.0"
# The Thanos sidecar image the chart can add to Prometheus, and the release built on request
# (not by the default build: about 12 minutes cold on two cores). 0.42.x needs Go >= 1.26.10;
# 0.40.1 (go 1.25) builds with the Go installed here, no GOTOOLCHAIN download.
THANOS = "0.40.1"
# The helm client the chart is linted, rendered and installed with in tests and `make manifests`
# (a tool, not a component the chart deploys, so not in RELEASES).
HELM = "3.22.0"

# Component name -> version, as the chart's values and the Ansible roles name the components.
RELEASES: dict[str, str] = {
    "prometheus": PROMETHEUS,
    "alertmanager": ALERTMANAGER,
    "node_exporter": NODE_EXPORTER,
    "blackbox_exporter": BLACKBOX_EXPORTER,
}
