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

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.exporters.cluster.workload import created
from kubepulse.kube.informer import Resource

RESOURCE = Resource(
    "mutatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1", namespaced=False
)

Obj = dict[str, Any]


def name_prefix(label: str) -> Callable[[Obj], Labels]:
    def prefix(obj: Obj) -> Labels:
        return ((label, obj["metadata"]["name"]),)

    return prefix


prefix = name_prefix("mutatingwebhookconfiguration")


def parse_go_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat(text, 64)`` for a resource version: None where Go errs.

    Python's ``float`` also takes surrounding whitespace and digit underscores, which Go refuses.
    """
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def resource_version(obj: Obj) -> list[Sample]:
    """KSM's ``resourceVersionMetric``: the version as a number, no series if it is not one."""
    value = parse_go_float(obj["metadata"].get("resourceVersion") or "")
    return [] if value is None else [((), value)]


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
        FamilySpec(f"kube_{kind}_info", f"Information about the {title}.", lambda o: [((), 1.0)]),
        FamilySpec(f"kube_{kind}_created", "Unix creation timestamp.", created),
        FamilySpec(
            f"kube_{kind}_metadata_resource_version",
            f"Resource version representing a specific version of the {title}.",
            resource_version,
        ),
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
