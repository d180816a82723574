"""ServiceAccount families: kube-state-metrics v2.16 ``internal/store/serviceaccount.go``
(opt-in kind ``serviceaccounts``).

Families, in KSM's order: info, created, deleted, secret, image_pull_secret, labels. KSM's
``kube_serviceaccount_annotations`` (just before labels) is not in this table: the exporter adds
it beside the labels family from ``--metric-annotations-allowlist`` (before it, which is KSM's
place). The identifying labels are ``namespace``, ``serviceaccount`` and ``uid``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.kube.informer import Resource

RESOURCE = Resource("serviceaccounts", "/api/v1")

Obj = dict[str, Any]


def prefix(obj: Obj) -> Labels:
    meta = obj["metadata"]
    return (
        ("namespace", meta.get("namespace", "")),
        ("serviceaccount", meta["name"]),
        ("uid", meta.get("uid", "")),
    )


def _info(obj: Obj) -> list[Sample]:
    """``automount_token``: Go's ``FormatBool`` of the field; ``""`` when it is unset."""
    automount = obj.get("automountServiceAccountToken")
    token = "" if automount is None else ("true" if automount else "false")
    return [((("automount_token", token),), 1.0)]


def _references(key: str) -> Callable[[Obj], list[Sample]]:
    """One ``name`` series per entry of ``secrets`` / ``imagePullSecrets`` (duplicates kept)."""

    def generate(obj: Obj) -> list[Sample]:
        return [((("name", ref.get("name") or ""),), 1.0) for ref in obj.get(key) or ()]

    return generate


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_serviceaccount_info", "Information about a service account", _info),
        metadata.created_family("serviceaccount"),
        FamilySpec(
            "kube_serviceaccount_deleted", "Unix deletion timestamp", metadata.deletion_timestamp
        ),
        FamilySpec(
            "kube_serviceaccount_secret",
            "Secret being referenced by a service account",
            _references("secrets"),
        ),
        FamilySpec(
            "kube_serviceaccount_image_pull_secret",
            "Secret being referenced by a service account for the purpose of pulling images",
            _references("imagePullSecrets"),
        ),
        metadata.labels_family("serviceaccount", allowed_labels),
    ]


KIND = Kind(RESOURCE, prefix, families)
