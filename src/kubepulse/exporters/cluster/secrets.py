"""Secret families: kube-state-metrics ``internal/store/secret.go``.

Families, in KSM's order: info, type, labels, created, metadata_resource_version, owner. KSM's
``kube_secret_annotations`` (between type and labels, empty without an annotations allowlist) is
left out for now: the annotations allowlist flag does not exist yet.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import labels_sample, owner_samples
from kubepulse.exporters.cluster.configmaps import info, resource_version
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import created, namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("secrets", "/api/v1")
prefix = namespaced_prefix("secret")

Obj = dict[str, Any]


def _type(obj: Obj) -> list[Sample]:
    return [((("type", obj.get("type") or ""),), 1.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_secret_info", "Information about secret.", info),
        FamilySpec("kube_secret_type", "Type about secret.", _type),
        FamilySpec(
            "kube_secret_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec("kube_secret_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_secret_metadata_resource_version",
            "Resource version representing a specific version of secret.",
            resource_version,
        ),
        FamilySpec(
            "kube_secret_owner",
            "Information about the Secret's owner.",
            lambda o: owner_samples(o["metadata"]),
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
