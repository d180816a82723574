"""MutatingWebhookConfiguration families: kube-state-metrics v2.16
``internal/store/mutatingwebhookconfiguration.go``.

Families, in KSM's order: info, created, metadata_resource_version,
webhook_clientconfig_service. That is all of them: KSM v2.16 has no ``_labels``,
``_annotations`` or opt-in family for this kind.

The kind is cluster-scoped, so the prefix is only its name (``mutatingwebhookconfiguration``).
KSM also writes ``namespace=""`` first (its default labels are ``namespace`` and the name, and the
object has no namespace); Prometheus stores an empty label as absent, so the stored series are
the same.

``webhook_families`` is shared with ``validatingwebhookconfigurations`` (the two KSM files are
the same but for the kind's name and one word of help text).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource(
    "mutatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1", namespaced=False
)
prefix = name_prefix("mutatingwebhookconfiguration")

Obj = dict[str, Any]


def clientconfig_service(obj: Obj) -> list[Sample]:
    """One series per webhook: its service's name and namespace, empty for a URL webhook."""
    out: list[Sample] = []
    for webhook in obj.get("webhooks") or ():
        service = (webhook.get("clientConfig") or {}).get("service") or {}
        out.append(
            (
                (
                    ("webhook_name", webhook.get("name", "")),
                    ("service_name", service.get("name", "")),
                    ("service_namespace", service.get("namespace", "")),
                ),
                1.0,
            )
        )
    return out


def webhook_families(kind: str, title: str, adjective: str) -> list[FamilySpec]:
    """``kube_<kind>_*`` for ``kind`` = ``mutatingwebhookconfiguration`` (title
    ``MutatingWebhookConfiguration``, adjective ``mutating``) or the validating one."""
    return [
        FamilySpec(f"kube_{kind}_info", f"Information about the {title}.", metadata.info_sample),
        metadata.created_family(kind, "Unix creation timestamp."),
        metadata.resource_version_family(kind, f"the {title}"),
        FamilySpec(
            f"kube_{kind}_webhook_clientconfig_service",
            f"Service used by the apiserver to connect to a {adjective} webhook.",
            clientconfig_service,
        ),
    ]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    del allowed_labels  # KSM has no kube_mutatingwebhookconfiguration_labels
    return webhook_families(
        "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", "mutating"
    )


KIND = Kind(RESOURCE, prefix, families)
