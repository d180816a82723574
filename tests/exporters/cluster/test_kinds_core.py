"""Node, Service, Namespace and StatefulSet families added for KSM v2.16 parity, table-driven:
an API object in, the exact series of each family out. No cluster."""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import namespaces, nodes, services, statefulsets
from kubepulse.exporters.cluster.store import KindStore


def series(module: Any, obj: dict[str, Any], family: str) -> list[str]:
    store = KindStore("x", module.families(None), module.prefix)
    store.apply([obj], (), True)
    text = b"".join(store.chunks()).decode()
    return sorted(line for line in text.splitlines() if line.startswith(family + "{"))


NODE: dict[str, Any] = {
    "metadata": {
        "name": "cp-1",
        "uid": "n1",
        "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": ""},
        "deletionTimestamp": "2026-03-01T10:00:00Z",
    },
    "spec": {"providerID": "kwok://cp-1"},
    "status": {
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": "cp-1"},
        ],
        "nodeInfo": {"kubeletVersion": "v1.34.4", "kubeProxyVersion": "v1.34.4"},
    },
}


def test_node_role_addresses_deletion_and_info() -> None:
    assert series(nodes, NODE, "kube_node_role") == [
        'kube_node_role{node="cp-1",role="control-plane"} 1',
        'kube_node_role{node="cp-1",role="etcd"} 1',
    ]
    assert series(nodes, NODE, "kube_node_status_addresses") == [
        'kube_node_status_addresses{node="cp-1",type="Hostname",address="cp-1"} 1',
        'kube_node_status_addresses{node="cp-1",type="InternalIP",address="127.0.0.1"} 1',
    ]
    assert series(nodes, NODE, "kube_node_deletion_timestamp") == [
        'kube_node_deletion_timestamp{node="cp-1"} 1772359200'
    ]
    # KSM's label is kubeproxy_version and its value the literal "deprecated".
    assert series(nodes, NODE, "kube_node_info") == [
        'kube_node_info{node="cp-1",kernel_version="",os_image="",container_runtime_version="",'
        'kubelet_version="v1.34.4",kubeproxy_version="deprecated",provider_id="kwok://cp-1",'
        'pod_cidr="",system_uuid="",internal_ip="127.0.0.1"} 1'
    ]
    plain = {"metadata": {"name": "w", "uid": "n2"}}
    assert series(nodes, plain, "kube_node_role") == []
    assert series(nodes, plain, "kube_node_deletion_timestamp") == []


def test_service_external_ips_ingress_and_traffic_policy() -> None:
    svc = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "s1"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.10",
            "externalTrafficPolicy": "Local",
            "externalIPs": ["192.0.2.1", "192.0.2.2"],
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": "198.51.100.1"}, {"hostname": "lb.example"}]}
        },
    }
    h = 'namespace="shop",service="web",uid="s1"'
    assert series(services, svc, "kube_service_info") == [
        f'kube_service_info{{{h},cluster_ip="10.96.0.10",external_name="",load_balancer_ip="",'
        'external_traffic_policy="Local"} 1'
    ]
    assert series(services, svc, "kube_service_spec_external_ip") == [
        f'kube_service_spec_external_ip{{{h},external_ip="192.0.2.1"}} 1',
        f'kube_service_spec_external_ip{{{h},external_ip="192.0.2.2"}} 1',
    ]
    assert series(services, svc, "kube_service_status_load_balancer_ingress") == [
        f'kube_service_status_load_balancer_ingress{{{h},ip="",hostname="lb.example"}} 1',
        f'kube_service_status_load_balancer_ingress{{{h},ip="198.51.100.1",hostname=""}} 1',
    ]
    bare = {"metadata": {"name": "web", "namespace": "shop", "uid": "s1"}, "spec": {}}
    assert series(services, bare, "kube_service_spec_external_ip") == []
    assert series(services, bare, "kube_service_status_load_balancer_ingress") == []


def test_namespace_conditions() -> None:
    ns = {
        "metadata": {"name": "gone", "uid": "ns1"},
        "status": {
            "phase": "Terminating",
            "conditions": [{"type": "NamespaceContentRemaining", "status": "True"}],
        },
    }
    assert series(namespaces, ns, "kube_namespace_status_condition") == sorted(
        f'kube_namespace_status_condition{{namespace="gone",condition="NamespaceContentRemaining",status="{s}"}} {v}'  # noqa: E501
        for s, v in (("true", 1), ("false", 0), ("unknown", 0))
    )


def test_statefulset_ordinals_and_retention_policy() -> None:
    sts = {
        "metadata": {"name": "pg", "namespace": "db", "uid": "st1"},
        "spec": {
            "ordinals": {"start": 5},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete",
                "whenScaled": "Retain",
            },
        },
    }
    h = 'namespace="db",statefulset="pg"'
    assert series(statefulsets, sts, "kube_statefulset_ordinals_start") == [
        f"kube_statefulset_ordinals_start{{{h}}} 5"
    ]
    assert series(statefulsets, sts, "kube_statefulset_persistentvolumeclaim_retention_policy") == [
        f'kube_statefulset_persistentvolumeclaim_retention_policy{{{h},when_deleted="Delete",when_scaled="Retain"}} 1'  # noqa: E501
    ]
    bare = {"metadata": {"name": "pg", "namespace": "db", "uid": "st1"}, "spec": {}}
    assert series(statefulsets, bare, "kube_statefulset_ordinals_start") == []
    assert (
        series(statefulsets, bare, "kube_statefulset_persistentvolumeclaim_retention_policy") == []
    )


def test_endpoints_addresses_and_ports() -> None:
    from kubepulse.exporters.cluster import endpoints

    ep = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "e1"},
        "subsets": [
            {
                "addresses": [{"ip": "10.1.0.1"}],
                "notReadyAddresses": [{"ip": "10.1.0.2"}],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            }
        ],
    }
    h = 'namespace="shop",endpoint="web"'
    assert series(endpoints, ep, "kube_endpoint_address") == [
        f'kube_endpoint_address{{{h},port_protocol="TCP",port_number="80",port_name="http",ip="10.1.0.1",ready="true"}} 1',  # noqa: E501
        f'kube_endpoint_address{{{h},port_protocol="TCP",port_number="80",port_name="http",ip="10.1.0.2",ready="false"}} 1',  # noqa: E501
    ]
    assert series(endpoints, ep, "kube_endpoint_ports") == [
        f'kube_endpoint_ports{{{h},port_name="http",port_protocol="TCP",port_number="80"}} 1'
    ]
    assert series(endpoints, ep, "kube_endpoint_info") == [f"kube_endpoint_info{{{h}}} 1"]
    empty = {"metadata": {"name": "web", "namespace": "shop", "uid": "e1"}}
    assert series(endpoints, empty, "kube_endpoint_address") == []
