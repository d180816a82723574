"""CertificateSigningRequest families: kube-state-metrics v2.16
``internal/store/certificatesigningrequest.go``.

Families, in KSM's order: labels, created, condition, cert_length. KSM's
``kube_certificatesigningrequest_annotations`` (first in its list) is not in this table: the
exporter adds it from ``--metric-annotations-allowlist``, just before the labels family (KSM's
place). KSM has no opt-in family here.

CSRs are cluster-scoped. Every series starts with ``certificatesigningrequest`` (the name) and
``signer_name`` (``spec.signerName``): those are KSM's default labels for this kind.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.kube.informer import Resource

RESOURCE = Resource("certificatesigningrequests", "/apis/certificates.k8s.io/v1", namespaced=False)

Obj = dict[str, Any]


def prefix(csr: Obj) -> Labels:
    return (
        ("certificatesigningrequest", csr["metadata"]["name"]),
        ("signer_name", (csr.get("spec") or {}).get("signerName", "")),
    )


def _condition(csr: Obj) -> list[Sample]:
    """How many ``Approved`` and how many ``Denied`` conditions (always both series, as KSM)."""
    types = [c.get("type") for c in (csr.get("status") or {}).get("conditions") or ()]
    return [
        ((("condition", "approved"),), float(types.count("Approved"))),
        ((("condition", "denied"),), float(types.count("Denied"))),
    ]


def cert_length(csr: Obj) -> list[Sample]:
    """The issued certificate's length in bytes: ``status.certificate`` is base64 in the JSON
    (Go's ``[]byte``), KSM counts the decoded bytes; 0 before one is issued."""
    encoded = (csr.get("status") or {}).get("certificate") or ""
    try:
        length = len(b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        length = 0  # the API server would not have sent it; client-go would fail to decode it
    return [((), float(length))]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.labels_family("certificatesigningrequest", allowed_labels),
        metadata.created_family("certificatesigningrequest"),
        FamilySpec(
            "kube_certificatesigningrequest_condition",
            "The number of each certificatesigningrequest condition",
            _condition,
        ),
        FamilySpec(
            "kube_certificatesigningrequest_cert_length", "Length of the issued cert", cert_length
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
