"""KSM's family selection and label rendering: allow/deny/opt-in lists, label and annotation
allowlists with their ``*`` forms, snake-cased label names and conflict suffixes. No cluster."""

from __future__ import annotations

from typing import Any

import pytest

from kubepulse.exporters.cluster import pods
from kubepulse.exporters.cluster.common import (
    expand_allowlist,
    map_to_labels,
    parse_labels_allowlist,
)
from kubepulse.exporters.cluster.exporter import DEFAULT_RESOURCES, KINDS, Options, kind_families
from kubepulse.exporters.cluster.store import KindStore

POD: dict[str, Any] = {
    "metadata": {
        "name": "p",
        "namespace": "n",
        "uid": "u",
        "labels": {"app": "web", "appVersion": "2", "app-version": "3", "team": "pay"},
        "annotations": {"owner": "alice", "kubernetes.io/change-cause": "deploy"},
    },
    "spec": {"nodeSelector": {"disktype": "ssd"}},
}


def names(opts: Options, kind: str = "pods") -> set[str]:
    return {s.name for s in kind_families(kind, KINDS[kind], opts)}


def lines(opts: Options, family: str) -> list[str]:
    store = KindStore("pods", kind_families("pods", pods.KIND, opts), pods.prefix)
    store.apply([POD], (), True)
    text = b"".join(store.chunks()).decode()
    return [line for line in text.splitlines() if line.startswith(family + "{")]


def test_defaults_serve_every_family_but_the_opt_in_ones() -> None:
    served = names(Options())
    assert {"kube_pod_info", "kube_pod_labels", "kube_pod_annotations"} <= served
    assert "kube_pod_nodeselectors" not in served
    assert "kube_pod_nodeselectors" in names(Options(metric_opt_in=["kube_pod_nodeselectors"]))
    # Every kind with a labels family has its annotations twin beside it, but VolumeAttachments
    # (KSM has none for them).
    for kind, served in KINDS.items():
        if kind == "volumeattachments":
            assert "kube_volumeattachment_annotations" not in names(Options(), kind)
            continue
        table = {s.name for s in served.families(None)}
        for label_family in (n for n in table if n.endswith("_labels")):
            assert label_family.replace("_labels", "_annotations") in names(Options(), kind)


def test_allowlist_and_denylist_match_anywhere_like_ksm() -> None:
    # Unanchored, as KSM's regexes: "kube_pod_status_ready" also selects its _time sibling.
    assert names(Options(metric_allowlist=["kube_pod_status_ready"])) == {
        "kube_pod_status_ready",
        "kube_pod_status_ready_time",
    }
    assert names(Options(metric_allowlist=["^kube_pod_info$", "_phase$"])) == {
        "kube_pod_info",
        "kube_pod_status_phase",
    }
    denied = names(Options(metric_denylist=["kube_pod_container_.*", "kube_pod_init_"]))
    assert not {n for n in denied if n.startswith(("kube_pod_container", "kube_pod_init"))}
    assert "kube_pod_info" in denied
    # An opt-in family needs the opt-in list even when the allowlist names it.
    assert names(Options(metric_allowlist=["nodeselectors"])) == set()
    assert names(
        Options(metric_allowlist=["nodeselectors"], metric_opt_in=["kube_pod_nodeselectors"])
    ) == {"kube_pod_nodeselectors"}


def test_labels_and_annotations_allowlists() -> None:
    h = 'namespace="n",pod="p",uid="u"'
    assert lines(Options(), "kube_pod_labels") == []
    assert lines(Options(), "kube_pod_annotations") == []
    allow = Options(labels_allowlist={"pods": ("team", "missing")})
    assert lines(allow, "kube_pod_labels") == [f'kube_pod_labels{{{h},label_team="pay"}} 1']
    # Allow-listed but absent everywhere: KSM still gives the bare series.
    assert lines(Options(labels_allowlist={"pods": ("missing",)}), "kube_pod_labels") == [
        f"kube_pod_labels{{{h}}} 1"
    ]
    # [*]: every label, snake-cased; appVersion and app-version both become label_app_version,
    # told apart by KSM's _conflictN suffixes in sorted key order.
    everything = Options(labels_allowlist={"*": ("*",)})
    assert lines(everything, "kube_pod_labels") == [
        f'kube_pod_labels{{{h},label_app="web",label_app_version_conflict1="3",'
        'label_app_version_conflict2="2",label_team="pay"} 1'
    ]
    annotated = Options(annotations_allowlist={"pods": ("kubernetes.io/change-cause",)})
    assert lines(annotated, "kube_pod_annotations") == [
        f'kube_pod_annotations{{{h},annotation_kubernetes_io_change_cause="deploy"}} 1'
    ]
    opt_in = Options(metric_opt_in=["kube_pod_nodeselectors"])
    assert lines(opt_in, "kube_pod_nodeselectors") == [
        f'kube_pod_nodeselectors{{{h},nodeselector_disktype="ssd"}} 1'
    ]


def test_wildcard_resource_takes_precedence() -> None:
    parsed = parse_labels_allowlist("*=[app],pods=[team]")
    assert parsed == {"*": ("app",), "pods": ("team",)}
    assert expand_allowlist(parsed, ["pods", "nodes"]) == {"pods": ("app",), "nodes": ("app",)}
    assert expand_allowlist({"pods": ("team",)}, ["pods", "nodes"]) == {"pods": ("team",)}


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("app", "label_app"),
        ("app.kubernetes.io/name", "label_app_kubernetes_io_name"),
        ("appVersion", "label_app_version"),
        ("ABC", "label_abc"),
        ("x9Y", "label_x9_y"),
    ],
)
def test_label_names_are_sanitized_and_snake_cased(key: str, name: str) -> None:
    assert map_to_labels("label", {key: "v"}) == ((name, "v"),)


def test_default_resources_are_ksm_v2_16_defaults() -> None:
    """--resources defaults to KSM v2.16's DefaultResources (pkg/options/resource.go), so a
    KSM swapped for kubepulse with no flags serves the same kinds; EndpointSlices opt in."""
    assert set(DEFAULT_RESOURCES) == {
        "certificatesigningrequests", "configmaps", "cronjobs", "daemonsets", "deployments",
        "endpoints", "horizontalpodautoscalers", "ingresses", "jobs", "leases", "limitranges",
        "mutatingwebhookconfigurations", "namespaces", "networkpolicies", "nodes",
        "persistentvolumes", "persistentvolumeclaims", "poddisruptionbudgets", "pods",
        "replicasets", "replicationcontrollers", "resourcequotas", "secrets", "services",
        "statefulsets", "storageclasses", "validatingwebhookconfigurations", "volumeattachments",
    }  # fmt: skip
    assert set(KINDS) - set(DEFAULT_RESOURCES) <= {
        "endpointslices", "roles", "rolebindings", "clusterroles", "clusterrolebindings",
        "serviceaccounts", "ingressclasses",
    }  # fmt: skip
    assert tuple(Options().resources) == DEFAULT_RESOURCES
