"""Role, RoleBinding, ClusterRole and ClusterRoleBinding family tables, table-driven as KSM's
``role_test.go``/``rolebinding_test.go``/``clusterrole_test.go``/``clusterrolebinding_test.go``:
an API object in, the exact series out (headers aside, sorted), no cluster needed."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from helpers_cluster_exporter import SeriesCase, epoch, series_cases, table_series

from kubepulse.exporters.cluster import clusterrolebindings, clusterroles, rolebindings, roles

CREATED = "2026-03-01T10:00:00.750Z"  # KSM's .Unix(): whole seconds
T = epoch("2026-03-01T10:00:00Z")
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"u-{name}", **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


FULL = {
    "creationTimestamp": CREATED,
    "resourceVersion": "123",
    "labels": {"app": "web", "appVersion": "2", "other": "x"},
}
RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]


def test_resources() -> None:
    assert (roles.RESOURCE.name, roles.RESOURCE.group_version, roles.RESOURCE.namespaced) == (
        "roles",
        RBAC,
        True,
    )
    assert (rolebindings.RESOURCE.name, rolebindings.RESOURCE.namespaced) == ("rolebindings", True)
    assert (clusterroles.RESOURCE.name, clusterroles.RESOURCE.namespaced) == (
        "clusterroles",
        False,
    )
    assert (clusterrolebindings.RESOURCE.name, clusterrolebindings.RESOURCE.namespaced) == (
        "clusterrolebindings",
        False,
    )
    assert {
        m.RESOURCE.group_version for m in (rolebindings, clusterroles, clusterrolebindings)
    } == {RBAC}
    assert roles.RESOURCE.path("ops") == f"{RBAC}/namespaces/ops/roles"
    assert clusterroles.RESOURCE.path("ops") == f"{RBAC}/clusterroles"


def test_family_order() -> None:
    """KSM's order (its annotations family, first, is added by the exporter)."""
    for module, kind in (
        (roles, "role"),
        (rolebindings, "rolebinding"),
        (clusterroles, "clusterrole"),
        (clusterrolebindings, "clusterrolebinding"),
    ):
        assert [f.name for f in module.families(None)] == [
            f"kube_{kind}_labels",
            f"kube_{kind}_info",
            f"kube_{kind}_created",
            f"kube_{kind}_metadata_resource_version",
        ]
        assert {f.help for f in module.families(None)} >= {
            "Kubernetes labels converted to Prometheus labels.",
            "Unix creation timestamp",
        }
        assert not any(f.opt_in for f in module.families(None))
        assert {f.type for f in module.families(None)} == {"gauge"}


@pytest.mark.parametrize(
    ("module", "info_help", "rv_help"),
    [
        (roles, "Information about role.", "the role."),
        (rolebindings, "Information about rolebinding.", "the rolebinding."),
        (clusterroles, "Information about cluster role.", "the cluster role."),
        (
            clusterrolebindings,
            "Information about clusterrolebinding.",
            "the clusterrolebinding.",
        ),
    ],
)
def test_help_texts(module: ModuleType, info_help: str, rv_help: str) -> None:
    helps = [f.help for f in module.families(None)]
    assert helps[1] == info_help
    assert helps[3] == f"Resource version representing a specific version of {rv_help}"


ROLE = 'namespace="ops",role="reader"'
ROLEBINDING = 'namespace="ops",rolebinding="read-pods"'
CLUSTERROLE = 'clusterrole="admin"'
CLUSTERROLEBINDING = 'clusterrolebinding="admins"'

CASES: list[SeriesCase] = [
    (
        "role",
        roles,
        {"metadata": _meta("reader", "ops", **FULL), "rules": RULES},
        ("app", "appVersion", "missing"),
        [
            f'kube_role_labels{{{ROLE},label_app="web",label_app_version="2"}} 1',
            f"kube_role_info{{{ROLE}}} 1",
            f"kube_role_created{{{ROLE}}} {T}",
            f"kube_role_metadata_resource_version{{{ROLE}}} 123",
        ],
    ),
    (
        # No allowlist: no labels series; no creation time, no numeric version: none either.
        "role bare",
        roles,
        {"metadata": _meta("r", "ops", labels={"a": "b"}, resourceVersion="abc")},
        None,
        ['kube_role_info{namespace="ops",role="r"} 1'],
    ),
    (
        # An allowlist naming nothing the object has: the series, with no label_ labels.
        "role bare, allowlist naming nothing it has",
        roles,
        {"metadata": _meta("r", "ops")},
        ("a",),
        [
            'kube_role_info{namespace="ops",role="r"} 1',
            'kube_role_labels{namespace="ops",role="r"} 1',
        ],
    ),
    (
        "rolebinding",
        rolebindings,
        {
            "metadata": _meta("read-pods", "ops", **FULL),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}],
        },
        ("*",),
        [
            f'kube_rolebinding_labels{{{ROLEBINDING},label_app="web",label_app_version="2",label_other="x"}} 1',  # noqa: E501
            f'kube_rolebinding_info{{{ROLEBINDING},roleref_kind="Role",roleref_name="reader"}} 1',
            f"kube_rolebinding_created{{{ROLEBINDING}}} {T}",
            f"kube_rolebinding_metadata_resource_version{{{ROLEBINDING}}} 123",
        ],
    ),
    (
        "rolebinding to a clusterrole",
        rolebindings,
        {"metadata": _meta("view", "dev"), "roleRef": {"kind": "ClusterRole", "name": "view"}},
        None,
        [
            'kube_rolebinding_info{namespace="dev",rolebinding="view",roleref_kind="ClusterRole",roleref_name="view"} 1'  # noqa: E501
        ],
    ),
    (
        "rolebinding without roleRef",
        rolebindings,
        {"metadata": _meta("x", "dev")},
        None,
        [
            'kube_rolebinding_info{namespace="dev",rolebinding="x",roleref_kind="",roleref_name=""} 1'  # noqa: E501
        ],
    ),
    (
        "clusterrole",
        clusterroles,
        {"metadata": _meta("admin", **FULL), "rules": RULES},
        ("other",),
        [
            f'kube_clusterrole_labels{{{CLUSTERROLE},label_other="x"}} 1',
            f"kube_clusterrole_info{{{CLUSTERROLE}}} 1",
            f"kube_clusterrole_created{{{CLUSTERROLE}}} {T}",
            f"kube_clusterrole_metadata_resource_version{{{CLUSTERROLE}}} 123",
        ],
    ),
    (
        "clusterrole bare, empty resource version",
        clusterroles,
        {"metadata": _meta("bare", resourceVersion="")},
        None,
        ['kube_clusterrole_info{clusterrole="bare"} 1'],
    ),
    (
        "clusterrolebinding",
        clusterrolebindings,
        {
            "metadata": _meta("admins", **FULL),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}],
        },
        ("app",),
        [
            f'kube_clusterrolebinding_labels{{{CLUSTERROLEBINDING},label_app="web"}} 1',
            f'kube_clusterrolebinding_info{{{CLUSTERROLEBINDING},roleref_kind="ClusterRole",roleref_name="admin"}} 1',  # noqa: E501
            f"kube_clusterrolebinding_created{{{CLUSTERROLEBINDING}}} {T}",
            f"kube_clusterrolebinding_metadata_resource_version{{{CLUSTERROLEBINDING}}} 123",
        ],
    ),
    (
        "clusterrolebinding bare",
        clusterrolebindings,
        {"metadata": _meta("bare")},
        None,
        [
            'kube_clusterrolebinding_info{clusterrolebinding="bare",roleref_kind="",roleref_name=""} 1'  # noqa: E501
        ],
    ),
]


@series_cases(CASES)
def test_series(
    module: ModuleType, obj: dict[str, Any], labels: tuple[str, ...] | None, expected: list[str]
) -> None:
    assert table_series(module, obj, labels) == sorted(expected)
