"""ValidatingWebhookConfiguration families: kube-state-metrics v2.16
``internal/store/validatingwebhookconfiguration.go``.

Families, in KSM's order: info, created, metadata_resource_version,
webhook_clientconfig_service. That is all of them: KSM v2.16 has no ``_labels``,
``_annotations`` or opt-in family for this kind.

The kind is cluster-scoped, so the prefix is only its name (``validatingwebhookconfiguration``);
KSM also writes ``namespace=""`` first, which Prometheus stores as absent. The family builders
are shared with ``mutatingwebhookconfigurations`` (``webhook_families``).
"""

from __future__ import annotations

from kubepulse.exporters.cluster.mutatingwebhookconfigurations import webhook_families
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource(
    "validatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1", namespaced=False
)
prefix = name_prefix("validatingwebhookconfiguration")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    del allowed_labels  # KSM has no kube_validatingwebhookconfiguration_labels
    return webhook_families(
        "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", "validating"
    )


KIND = Kind(RESOURCE, prefix, families)
