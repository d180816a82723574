"""Ingress families: kube-state-metrics ``internal/store/ingress.go``.

Families, in KSM's order: info, labels, created, metadata_resource_version, path, tls. KSM's
``kube_ingress_annotations`` (between info and labels) is not in this table: the exporter adds it
from ``--metric-annotations-allowlist``, just before the labels family (KSM's place).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("ingresses", "/apis/networking.k8s.io/v1")
prefix = namespaced_prefix("ingress")

Obj = dict[str, Any]


def _info(obj: Obj) -> list[Sample]:
    """``ingressclass``: the ``kubernetes.io/ingress.class`` annotation (even empty) wins over
    ``spec.ingressClassName``; ``_default`` when neither is set."""
    name = (obj.get("spec") or {}).get("ingressClassName")
    klass = "_default" if name is None else name
    annotations = obj["metadata"].get("annotations") or {}
    if "kubernetes.io/ingress.class" in annotations:
        klass = annotations["kubernetes.io/ingress.class"]
    return [((("ingressclass", klass),), 1.0)]


def _path(obj: Obj) -> list[Sample]:
    """One series per HTTP path of each rule; a service backend gives ``service_name`` and
    ``service_port`` (the number, ``0`` for a named port), else the resource backend's labels."""
    out: list[Sample] = []
    for rule in (obj.get("spec") or {}).get("rules") or ():
        http = rule.get("http")
        if http is None:
            continue
        host = rule.get("host", "")
        for path in http.get("paths") or ():
            head = (
                ("host", host),
                ("path", path.get("path", "")),
                ("path_type", path.get("pathType") or ""),
            )
            backend = path.get("backend") or {}
            service = backend.get("service")
            if service is not None:
                port = (service.get("port") or {}).get("number") or 0
                svc = (("service_name", service.get("name", "")), ("service_port", str(port)))
                out.append(((*head, *svc), 1.0))
            else:
                res = backend.get("resource") or {}
                out.append(
                    (
                        (
                            *head,
                            ("resource_api_group", res.get("apiGroup") or ""),
                            ("resource_kind", res.get("kind", "")),
                            ("resource_name", res.get("name", "")),
                        ),
                        1.0,
                    )
                )
    return out


def _tls(obj: Obj) -> list[Sample]:
    return [
        ((("tls_host", host), ("secret", tls.get("secretName", ""))), 1.0)
        for tls in (obj.get("spec") or {}).get("tls") or ()
        for host in tls.get("hosts") or ()
    ]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_ingress_info", "Information about ingress.", _info),
        metadata.labels_family("ingress", allowed_labels),
        metadata.created_family("ingress"),
        metadata.resource_version_family("ingress", "ingress"),
        FamilySpec(
            "kube_ingress_path", "Ingress host, paths and backend service information.", _path
        ),
        FamilySpec("kube_ingress_tls", "Ingress TLS host and secret information.", _tls),
    ]


KIND = Kind(RESOURCE, prefix, families)
