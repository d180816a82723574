"""ConfigMap, Secret, Ingress, EndpointSlice and NetworkPolicy family tables, table-driven as
``test_kinds_batch.py``: an API object in, the exact series out (headers aside, sorted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from helpers_cluster_exporter import SeriesCase, series_cases, table_series

from kubepulse.exporters.cluster import (
    configmaps,
    endpointslices,
    ingresses,
    networkpolicies,
    secrets,
)

CREATED = "2026-03-01T10:00:00Z"
T = int(datetime.fromisoformat(CREATED.replace("Z", "+00:00")).timestamp())


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "web", "uid": f"u-{name}", **extra}


CM = 'namespace="web",configmap="settings"'
SEC = 'namespace="web",secret="tls"'
ING = 'namespace="web",ingress="shop"'
NP = 'namespace="web",networkpolicy="deny"'
ES = 'endpointslice="api-x1",namespace="web"'

CASES: list[SeriesCase] = [
    (
        "configmap allowlisted labels, numeric resource version",
        configmaps,
        {
            "metadata": meta(
                "settings",
                creationTimestamp=CREATED,
                resourceVersion="12345",
                labels={"app": "shop", "appVersion": "2"},
            ),
            "data": {"k": "v"},
        },
        ("app", "appVersion"),
        [
            f'kube_configmap_labels{{{CM},label_app="shop",label_app_version="2"}} 1',
            f"kube_configmap_info{{{CM}}} 1",
            f"kube_configmap_created{{{CM}}} {T}",
            f"kube_configmap_metadata_resource_version{{{CM}}} 12345",
        ],
    ),
    (
        "configmap no allowlist, no creation time, non-numeric resource version",
        configmaps,
        {"metadata": meta("settings", resourceVersion="abc", labels={"app": "shop"})},
        None,
        [f"kube_configmap_info{{{CM}}} 1"],
    ),
    (
        "secret with two owners (one not a controller)",
        secrets,
        {
            "metadata": meta(
                "tls",
                creationTimestamp=CREATED,
                resourceVersion="7",
                labels={"team": "a"},
                ownerReferences=[
                    {"kind": "Certificate", "name": "shop", "controller": True},
                    {"kind": "Issuer", "name": "ca"},
                ],
            ),
            "type": "kubernetes.io/tls",
        },
        ("*",),
        [
            f"kube_secret_info{{{SEC}}} 1",
            f'kube_secret_type{{{SEC},type="kubernetes.io/tls"}} 1',
            f'kube_secret_labels{{{SEC},label_team="a"}} 1',
            f"kube_secret_created{{{SEC}}} {T}",
            f"kube_secret_metadata_resource_version{{{SEC}}} 7",
            f'kube_secret_owner{{{SEC},owner_kind="Certificate",owner_name="shop",owner_is_controller="true"}} 1',  # noqa: E501
            f'kube_secret_owner{{{SEC},owner_kind="Issuer",owner_name="ca",owner_is_controller="false"}} 1',  # noqa: E501
        ],
    ),
    (
        "secret unowned, no type, no resource version",
        secrets,
        {"metadata": meta("tls")},
        None,
        [
            f"kube_secret_info{{{SEC}}} 1",
            f'kube_secret_type{{{SEC},type=""}} 1',
            f'kube_secret_owner{{{SEC},owner_kind="",owner_name="",owner_is_controller=""}} 1',
        ],
    ),
    (
        "ingress: class annotation wins, service and resource backends, rule without http, tls",
        ingresses,
        {
            "metadata": meta(
                "shop",
                creationTimestamp=CREATED,
                resourceVersion="99",
                labels={"app": "shop"},
                annotations={"kubernetes.io/ingress.class": "nginx"},
            ),
            "spec": {
                "ingressClassName": "traefik",
                "rules": [
                    {
                        "host": "shop.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "front", "port": {"number": 80}}
                                    },
                                },
                                {
                                    "path": "/api",
                                    "pathType": "Exact",
                                    "backend": {
                                        "service": {"name": "api", "port": {"name": "http"}}
                                    },
                                },
                            ]
                        },
                    },
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/static",
                                    "pathType": "ImplementationSpecific",
                                    "backend": {
                                        "resource": {
                                            "apiGroup": "k8s.example.com",
                                            "kind": "StorageBucket",
                                            "name": "assets",
                                        }
                                    },
                                },
                                {
                                    "path": "/raw",
                                    "backend": {"resource": {"kind": "ConfigMap", "name": "raw"}},
                                },
                            ]
                        }
                    },
                    {"host": "nohttp.example.com"},
                ],
                "tls": [
                    {"hosts": ["shop.example.com", "www.example.com"], "secretName": "shop-tls"},
                    {"hosts": ["other.example.com"]},
                    {"secretName": "no-hosts"},
                ],
            },
        },
        ("app",),
        [
            f'kube_ingress_info{{{ING},ingressclass="nginx"}} 1',
            f'kube_ingress_labels{{{ING},label_app="shop"}} 1',
            f"kube_ingress_created{{{ING}}} {T}",
            f"kube_ingress_metadata_resource_version{{{ING}}} 99",
            f'kube_ingress_path{{{ING},host="shop.example.com",path="/",path_type="Prefix",service_name="front",service_port="80"}} 1',  # noqa: E501
            f'kube_ingress_path{{{ING},host="shop.example.com",path="/api",path_type="Exact",service_name="api",service_port="0"}} 1',  # noqa: E501
            f'kube_ingress_path{{{ING},host="",path="/static",path_type="ImplementationSpecific",resource_api_group="k8s.example.com",resource_kind="StorageBucket",resource_name="assets"}} 1',  # noqa: E501
            f'kube_ingress_path{{{ING},host="",path="/raw",path_type="",resource_api_group="",resource_kind="ConfigMap",resource_name="raw"}} 1',  # noqa: E501
            f'kube_ingress_tls{{{ING},tls_host="shop.example.com",secret="shop-tls"}} 1',
            f'kube_ingress_tls{{{ING},tls_host="www.example.com",secret="shop-tls"}} 1',
            f'kube_ingress_tls{{{ING},tls_host="other.example.com",secret=""}} 1',
        ],
    ),
    (
        "ingress: ingressClassName only",
        ingresses,
        {"metadata": meta("shop"), "spec": {"ingressClassName": "traefik"}},
        None,
        [f'kube_ingress_info{{{ING},ingressclass="traefik"}} 1'],
    ),
    (
        "ingress: empty class annotation still wins",
        ingresses,
        {
            "metadata": meta("shop", annotations={"kubernetes.io/ingress.class": ""}),
            "spec": {"ingressClassName": "traefik"},
        },
        None,
        [f'kube_ingress_info{{{ING},ingressclass=""}} 1'],
    ),
    (
        "ingress: no class at all, default backend only",
        ingresses,
        {
            "metadata": meta("shop"),
            "spec": {"defaultBackend": {"service": {"name": "x", "port": {"number": 1}}}},
        },
        None,
        [f'kube_ingress_info{{{ING},ingressclass="_default"}} 1'],
    ),
    (
        "networkpolicy with rules",
        networkpolicies,
        {
            "metadata": meta("deny", creationTimestamp=CREATED, labels={"a": "b"}),
            "spec": {
                "podSelector": {},
                "ingress": [{"from": [{"podSelector": {}}]}, {"ports": [{"port": 80}]}],
                "egress": [{}],
                "policyTypes": ["Ingress", "Egress"],
            },
        },
        ("a",),
        [
            f"kube_networkpolicy_created{{{NP}}} {T}",
            f'kube_networkpolicy_labels{{{NP},label_a="b"}} 1',
            f"kube_networkpolicy_spec_ingress_rules{{{NP}}} 2",
            f"kube_networkpolicy_spec_egress_rules{{{NP}}} 1",
        ],
    ),
    (
        "networkpolicy without rules or creation time (Go's zero time, as KSM)",
        networkpolicies,
        {"metadata": meta("deny"), "spec": {"podSelector": {}}},
        None,
        [
            f"kube_networkpolicy_created{{{NP}}} -62135596800",
            f"kube_networkpolicy_spec_ingress_rules{{{NP}}} 0",
            f"kube_networkpolicy_spec_egress_rules{{{NP}}} 0",
        ],
    ),
    (
        "endpointslice: hints, conditions (terminating overwrites serving), label shift, ports",
        endpointslices,
        {
            "metadata": meta("api-x1", creationTimestamp=CREATED, labels={"svc": "api"}),
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": ["10.0.0.1", "10.0.0.2"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "hostname": "api-0",
                    "targetRef": {"kind": "Pod", "name": "api-0", "namespace": "web"},
                    "nodeName": "node-a",
                    "zone": "eu-1a",
                    "hints": {"forZones": [{"name": "eu-1a"}, {"name": "eu-1b"}]},
                },
                {
                    "addresses": ["10.0.0.3"],
                    "conditions": {"ready": False, "serving": True},
                },
                {"addresses": ["10.0.0.4"], "conditions": {}, "hints": {"forZones": []}},
                {
                    "addresses": [],
                    "conditions": {"ready": True},
                    "hints": {"forZones": [{"name": "z"}]},
                },
            ],
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 8080},
                {"name": "", "protocol": "UDP", "port": 53},
                {"port": 9090},
                {"name": "all"},
            ],
        },
        ("svc",),
        [
            f'kube_endpointslice_info{{{ES},addresstype="IPv4"}} 1',
            f"kube_endpointslice_created{{{ES}}} {T}",
            f'kube_endpointslice_endpoints_hints{{{ES},address="10.0.0.1",for_zone="eu-1a"}} 1',
            f'kube_endpointslice_endpoints_hints{{{ES},address="10.0.0.1",for_zone="eu-1b"}} 1',
            f'kube_endpointslice_endpoints{{{ES},ready="true",serving="false",hostname="",terminating="api-0",targetref_kind="Pod",targetref_name="api-0",targetref_namespace="web",endpoint_nodename="node-a",endpoint_zone="eu-1a",address="10.0.0.1"}} 1',  # noqa: E501
            f'kube_endpointslice_endpoints{{{ES},ready="true",serving="false",hostname="",terminating="api-0",targetref_kind="Pod",targetref_name="api-0",targetref_namespace="web",endpoint_nodename="node-a",endpoint_zone="eu-1a",address="10.0.0.2"}} 1',  # noqa: E501
            f'kube_endpointslice_endpoints{{{ES},ready="false",serving="true",hostname="",terminating="",targetref_kind="",targetref_name="",targetref_namespace="",endpoint_nodename="",endpoint_zone="",address="10.0.0.3"}} 1',  # noqa: E501
            f'kube_endpointslice_endpoints{{{ES},ready="",serving="",hostname="",terminating="",targetref_kind="",targetref_name="",targetref_namespace="",endpoint_nodename="",endpoint_zone="",address="10.0.0.4"}} 1',  # noqa: E501
            f'kube_endpointslice_ports{{{ES},port_name="http",port_protocol="TCP",port_number="8080"}} 1',  # noqa: E501
            f'kube_endpointslice_ports{{{ES},port_name="",port_protocol="UDP",port_number="53"}} 1',
            f'kube_endpointslice_ports{{{ES},port_name="",port_protocol="TCP",port_number="9090"}} 1',  # noqa: E501
            f'kube_endpointslice_labels{{{ES},label_svc="api"}} 1',
        ],
    ),
    (
        "endpointslice: empty, no creation time, labels not allowlisted",
        endpointslices,
        {"metadata": meta("api-x1", labels={"svc": "api"}), "addressType": "FQDN"},
        None,
        [f'kube_endpointslice_info{{{ES},addresstype="FQDN"}} 1'],
    ),
]


@series_cases(CASES)
def test_series(
    module: Any, obj: dict[str, Any], labels: tuple[str, ...] | None, expected: list[str]
) -> None:
    assert table_series(module, obj, labels) == sorted(expected)


def test_resources_and_family_order() -> None:
    assert [
        (m.RESOURCE.name, m.RESOURCE.group_version, m.RESOURCE.namespaced)
        for m in (configmaps, secrets, ingresses, endpointslices, networkpolicies)
    ] == [
        ("configmaps", "/api/v1", True),
        ("secrets", "/api/v1", True),
        ("ingresses", "/apis/networking.k8s.io/v1", True),
        ("endpointslices", "/apis/discovery.k8s.io/v1", True),
        ("networkpolicies", "/apis/networking.k8s.io/v1", True),
    ]
    assert [f.name for f in secrets.families(None)] == [
        "kube_secret_info",
        "kube_secret_type",
        "kube_secret_labels",
        "kube_secret_created",
        "kube_secret_metadata_resource_version",
        "kube_secret_owner",
    ]
    assert [f.name for f in endpointslices.families(None)] == [
        "kube_endpointslice_info",
        "kube_endpointslice_created",
        "kube_endpointslice_endpoints_hints",
        "kube_endpointslice_endpoints",
        "kube_endpointslice_ports",
        "kube_endpointslice_labels",
    ]
