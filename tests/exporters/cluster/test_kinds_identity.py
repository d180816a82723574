"""ServiceAccount and IngressClass family tables, table-driven as KSM's
``serviceaccount_test.go``/``ingressclass_test.go``: an API object in, the exact series out
(headers aside, sorted), no cluster needed."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_cluster_exporter import epoch, table_series

from kubepulse.exporters.cluster import ingressclasses, serviceaccounts
from kubepulse.exporters.cluster.exporter import Options, kind_families
from kubepulse.exporters.cluster.store import KindStore

CREATED = "2026-03-01T10:00:00.750Z"  # KSM's .Unix(): whole seconds
T = epoch("2026-03-01T10:00:00Z")
DELETED = "2026-03-02T08:30:00Z"
SA = 'namespace="ops",serviceaccount="builder",uid="sa-1"'


def test_resources() -> None:
    sa, ic = serviceaccounts.RESOURCE, ingressclasses.RESOURCE
    assert (sa.name, sa.group_version, sa.namespaced) == ("serviceaccounts", "/api/v1", True)
    assert (ic.name, ic.group_version, ic.namespaced) == (
        "ingressclasses",
        "/apis/networking.k8s.io/v1",
        False,
    )
    assert sa.path("ops") == "/api/v1/namespaces/ops/serviceaccounts"
    assert ic.path("ops") == "/apis/networking.k8s.io/v1/ingressclasses"


def _store(module: Any, name: str, opts: Options) -> KindStore:
    """The kind's store with the families the exporter serves for ``opts`` (annotations too)."""
    return KindStore(name, kind_families(name, module.KIND, opts), module.prefix)


def _headers(module: Any, name: str, opts: Options) -> list[str]:
    store = _store(module, name, opts)
    return [
        line for line in b"".join(store.chunks()).decode().splitlines() if line.startswith("# HELP")
    ]


def _samples(module: Any, name: str, opts: Options, obj: dict[str, Any], family: str) -> str:
    """``family``'s exposition lines for ``obj``, as the exporter serves it with ``opts``."""
    store = _store(module, name, opts)
    store.apply([obj], (), True)
    return store.samples(family).decode()


def test_family_order_and_help_texts() -> None:
    """KSM's order and help texts (annotations, just before labels in both, from the exporter)."""
    assert _headers(serviceaccounts, "serviceaccounts", Options()) == [
        "# HELP kube_serviceaccount_info Information about a service account",
        "# HELP kube_serviceaccount_created Unix creation timestamp",
        "# HELP kube_serviceaccount_deleted Unix deletion timestamp",
        "# HELP kube_serviceaccount_secret Secret being referenced by a service account",
        "# HELP kube_serviceaccount_image_pull_secret Secret being referenced by a service account for the purpose of pulling images",  # noqa: E501
        "# HELP kube_serviceaccount_annotations Kubernetes annotations converted to Prometheus labels.",  # noqa: E501
        "# HELP kube_serviceaccount_labels Kubernetes labels converted to Prometheus labels.",
    ]
    assert _headers(ingressclasses, "ingressclasses", Options()) == [
        "# HELP kube_ingressclass_info Information about ingressclass.",
        "# HELP kube_ingressclass_created Unix creation timestamp",
        "# HELP kube_ingressclass_annotations Kubernetes annotations converted to Prometheus labels.",  # noqa: E501
        "# HELP kube_ingressclass_labels Kubernetes labels converted to Prometheus labels.",
    ]
    every = [
        spec
        for module, name in (
            (serviceaccounts, "serviceaccounts"),
            (ingressclasses, "ingressclasses"),
        )
        for spec in kind_families(name, module.KIND, Options())
    ]
    assert {spec.type for spec in every} == {"gauge"}
    assert not [
        s.name
        for module in (serviceaccounts, ingressclasses)
        for s in module.families(None)
        if s.opt_in
    ]


FULL_SA: dict[str, Any] = {
    "metadata": {
        "name": "builder",
        "namespace": "ops",
        "uid": "sa-1",
        "creationTimestamp": CREATED,
        "deletionTimestamp": DELETED,
        "labels": {"app": "ci", "appVersion": "3", "other": "x"},
    },
    "automountServiceAccountToken": True,
    "secrets": [{"name": "builder-token"}, {"kind": "Secret", "name": "extra", "namespace": "ops"}],
    "imagePullSecrets": [{"name": "registry"}, {"name": "mirror"}],
}


def test_full_serviceaccount() -> None:
    assert table_series(serviceaccounts, FULL_SA, ("app", "appVersion", "missing")) == sorted(
        [
            f'kube_serviceaccount_info{{{SA},automount_token="true"}} 1',
            f"kube_serviceaccount_created{{{SA}}} {T}",
            f"kube_serviceaccount_deleted{{{SA}}} {epoch(DELETED)}",
            f'kube_serviceaccount_secret{{{SA},name="builder-token"}} 1',
            f'kube_serviceaccount_secret{{{SA},name="extra"}} 1',
            f'kube_serviceaccount_image_pull_secret{{{SA},name="registry"}} 1',
            f'kube_serviceaccount_image_pull_secret{{{SA},name="mirror"}} 1',
            f'kube_serviceaccount_labels{{{SA},label_app="ci",label_app_version="3"}} 1',
        ]
    )


def test_serviceaccount_labels_all_allowed() -> None:
    out = table_series(serviceaccounts, FULL_SA, ("*",))
    assert [s for s in out if s.startswith("kube_serviceaccount_labels")] == [
        f'kube_serviceaccount_labels{{{SA},label_app="ci",label_app_version="3",label_other="x"}} 1'
    ]


@pytest.mark.parametrize(("automount", "label"), [(False, "false"), (None, "")])
def test_bare_serviceaccount(automount: bool | None, label: str) -> None:
    """No creation or deletion time, no secrets, no labels allowlisted: info alone (the
    ``automount_token`` of an unset field is KSM's empty string)."""
    sa: dict[str, Any] = {
        "metadata": {"name": "default", "namespace": "kube-system", "uid": "sa-2", "labels": {}},
        "secrets": [],
    }
    if automount is not None:
        sa["automountServiceAccountToken"] = automount
    head = 'namespace="kube-system",serviceaccount="default",uid="sa-2"'
    assert table_series(serviceaccounts, sa) == [
        f'kube_serviceaccount_info{{{head},automount_token="{label}"}} 1'
    ]


def test_serviceaccount_labels_allowlisted_but_absent() -> None:
    """An allowlist naming keys the object lacks: one series with no label_ labels, as KSM."""
    sa = {"metadata": {"name": "builder", "namespace": "ops", "uid": "sa-1"}}
    assert table_series(serviceaccounts, sa, ("app",)) == sorted(
        [
            f'kube_serviceaccount_info{{{SA},automount_token=""}} 1',
            f"kube_serviceaccount_labels{{{SA}}} 1",
        ]
    )


def test_serviceaccount_annotations_from_the_exporter() -> None:
    sa = {**FULL_SA, "metadata": {**FULL_SA["metadata"], "annotations": {"owner": "team-a"}}}
    opts = Options(annotations_allowlist={"serviceaccounts": ("owner",)})
    out = _samples(serviceaccounts, "serviceaccounts", opts, sa, "kube_serviceaccount_annotations")
    assert out == f'kube_serviceaccount_annotations{{{SA},annotation_owner="team-a"}} 1\n'


FULL_IC: dict[str, Any] = {
    "metadata": {
        "name": "nginx",
        "uid": "ic-1",
        "creationTimestamp": CREATED,
        "labels": {"app.kubernetes.io/name": "ingress-nginx", "tier": "edge"},
        "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
    },
    "spec": {
        "controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "Params", "name": "p"},
    },
}


def test_full_ingressclass() -> None:
    assert table_series(ingressclasses, FULL_IC, ("app.kubernetes.io/name",)) == sorted(
        [
            'kube_ingressclass_info{ingressclass="nginx",controller="k8s.io/ingress-nginx"} 1',
            f'kube_ingressclass_created{{ingressclass="nginx"}} {T}',
            'kube_ingressclass_labels{ingressclass="nginx",label_app_kubernetes_io_name="ingress-nginx"} 1',  # noqa: E501
        ]
    )


def test_ingressclass_annotations_from_the_exporter() -> None:
    opts = Options(annotations_allowlist={"ingressclasses": ("*",)})
    out = _samples(ingressclasses, "ingressclasses", opts, FULL_IC, "kube_ingressclass_annotations")
    assert out == (
        'kube_ingressclass_annotations{ingressclass="nginx",'
        'annotation_ingressclass_kubernetes_io_is_default_class="true"} 1\n'
    )


@pytest.mark.parametrize("spec", [{}, None, {"controller": ""}])
def test_bare_ingressclass(spec: dict[str, Any] | None) -> None:
    """No controller: KSM's empty string; no creation time, no labels allowlisted: info alone."""
    ic: dict[str, Any] = {"metadata": {"name": "plain", "uid": "ic-2", "labels": {"a": "b"}}}
    if spec is not None:
        ic["spec"] = spec
    assert table_series(ingressclasses, ic) == [
        'kube_ingressclass_info{ingressclass="plain",controller=""} 1'
    ]
