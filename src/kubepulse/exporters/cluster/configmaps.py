"""ConfigMap families: kube-state-metrics ``internal/store/configmap.go``.

Families, in KSM's order: labels, info, created, metadata_resource_version. KSM's
``kube_configmap_annotations`` (first in its list, empty without an annotations allowlist) is left
out for now: the annotations allowlist flag does not exist yet.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import labels_sample
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import created, namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("configmaps", "/api/v1")
prefix = namespaced_prefix("configmap")

Obj = dict[str, Any]


def resource_version(obj: Obj) -> list[Sample]:
    """KSM's ``resourceVersionMetric``: the version as a float, no series when it is not one.

    Shared by this batch's kinds (secrets, ingresses); not in common.py.
    """
    try:
        return [((), float(obj["metadata"].get("resourceVersion", "")))]
    except ValueError:
        return []


def info(_obj: Obj) -> list[Sample]:
    return [((), 1.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec(
            "kube_configmap_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec("kube_configmap_info", "Information about configmap.", info),
        FamilySpec("kube_configmap_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_configmap_metadata_resource_version",
            "Resource version representing a specific version of the configmap.",
            resource_version,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
