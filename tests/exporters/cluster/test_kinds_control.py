"""ReplicationController, CertificateSigningRequest, Lease and webhook-configuration family
tables, table-driven as KSM's ``*_test.go``: an API object in, the exact series out (headers
aside, sorted), no cluster needed."""

from __future__ import annotations

import base64
from types import ModuleType
from typing import Any

import pytest
from helpers_cluster_exporter import SeriesCase, epoch, series_cases, table_series

from kubepulse.exporters.cluster import (
    certificatesigningrequests,
    leases,
    mutatingwebhookconfigurations,
    replicationcontrollers,
    validatingwebhookconfigurations,
)

Obj = dict[str, Any]


CREATED = "2026-03-01T10:00:00Z"
T = epoch(CREATED)


# --- resources and family lists -------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "plural", "group_version", "namespaced", "names"),
    [
        (
            replicationcontrollers,
            "replicationcontrollers",
            "/api/v1",
            True,
            [
                "kube_replicationcontroller_created",
                "kube_replicationcontroller_status_replicas",
                "kube_replicationcontroller_status_fully_labeled_replicas",
                "kube_replicationcontroller_status_ready_replicas",
                "kube_replicationcontroller_status_available_replicas",
                "kube_replicationcontroller_status_observed_generation",
                "kube_replicationcontroller_spec_replicas",
                "kube_replicationcontroller_metadata_generation",
                "kube_replicationcontroller_owner",
            ],
        ),
        (
            certificatesigningrequests,
            "certificatesigningrequests",
            "/apis/certificates.k8s.io/v1",
            False,
            [
                "kube_certificatesigningrequest_labels",
                "kube_certificatesigningrequest_created",
                "kube_certificatesigningrequest_condition",
                "kube_certificatesigningrequest_cert_length",
            ],
        ),
        (
            leases,
            "leases",
            "/apis/coordination.k8s.io/v1",
            True,
            ["kube_lease_owner", "kube_lease_renew_time"],
        ),
        (
            mutatingwebhookconfigurations,
            "mutatingwebhookconfigurations",
            "/apis/admissionregistration.k8s.io/v1",
            False,
            [
                "kube_mutatingwebhookconfiguration_info",
                "kube_mutatingwebhookconfiguration_created",
                "kube_mutatingwebhookconfiguration_metadata_resource_version",
                "kube_mutatingwebhookconfiguration_webhook_clientconfig_service",
            ],
        ),
        (
            validatingwebhookconfigurations,
            "validatingwebhookconfigurations",
            "/apis/admissionregistration.k8s.io/v1",
            False,
            [
                "kube_validatingwebhookconfiguration_info",
                "kube_validatingwebhookconfiguration_created",
                "kube_validatingwebhookconfiguration_metadata_resource_version",
                "kube_validatingwebhookconfiguration_webhook_clientconfig_service",
            ],
        ),
    ],
)
def test_resource_and_families_in_ksm_order(
    module: ModuleType, plural: str, group_version: str, namespaced: bool, names: list[str]
) -> None:
    assert module.RESOURCE.name == plural
    assert module.RESOURCE.group_version == group_version
    assert module.RESOURCE.namespaced is namespaced
    specs = module.families(("*",))
    assert [s.name for s in specs] == names
    assert all(s.type == "gauge" and not s.opt_in for s in specs)


def test_help_texts_are_ksms() -> None:
    helps = {
        s.name: s.help
        for m in (certificatesigningrequests, leases, validatingwebhookconfigurations)
        for s in m.families(None)
    }
    assert helps["kube_certificatesigningrequest_condition"] == (
        "The number of each certificatesigningrequest condition"
    )
    assert helps["kube_lease_renew_time"] == "Kube lease renew time."
    assert helps["kube_validatingwebhookconfiguration_created"] == "Unix creation timestamp."
    assert helps["kube_validatingwebhookconfiguration_webhook_clientconfig_service"] == (
        "Service used by the apiserver to connect to a validating webhook."
    )
    rc = {s.name: s.help for s in replicationcontrollers.families(None)}
    assert rc["kube_replicationcontroller_metadata_generation"] == (
        "Sequence number representing a specific generation of the desired state."
    )
    assert rc["kube_replicationcontroller_owner"] == (
        "Information about the ReplicationController's owner."
    )


# --- ReplicationControllers -----------------------------------------------------------------

RC_FULL: Obj = {
    "metadata": {
        "name": "legacy-web",
        "namespace": "shop",
        "uid": "rc1",
        "creationTimestamp": CREATED,
        "generation": 7,
        "labels": {"app": "web"},
        "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
    },
    "spec": {"replicas": 3, "selector": {"app": "web"}},
    "status": {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 1,
        "observedGeneration": 6,
    },
}
RC = 'namespace="shop",replicationcontroller="legacy-web"'
RC_BARE = 'namespace="legacy",replicationcontroller="old"'


RC_CASES: list[SeriesCase] = [
    (
        # Labels allow-listed change nothing: KSM has no kube_replicationcontroller_labels.
        "replicationcontroller rolling out",
        replicationcontrollers,
        RC_FULL,
        ("*",),
        [
            f"kube_replicationcontroller_created{{{RC}}} {T}",
            f"kube_replicationcontroller_status_replicas{{{RC}}} 3",
            f"kube_replicationcontroller_status_fully_labeled_replicas{{{RC}}} 3",
            f"kube_replicationcontroller_status_ready_replicas{{{RC}}} 2",
            f"kube_replicationcontroller_status_available_replicas{{{RC}}} 1",
            f"kube_replicationcontroller_status_observed_generation{{{RC}}} 6",
            f"kube_replicationcontroller_spec_replicas{{{RC}}} 3",
            f"kube_replicationcontroller_metadata_generation{{{RC}}} 7",
            f'kube_replicationcontroller_owner{{{RC},owner_kind="Deployment",owner_name="web",owner_is_controller="true"}} 1',  # noqa: E501
        ],
    ),
    (
        # No creation time, no spec.replicas, empty status, no owner: zeros, two series fewer.
        "replicationcontroller bare",
        replicationcontrollers,
        {"metadata": {"name": "old", "namespace": "legacy", "uid": "rc2"}, "spec": {}},
        None,
        [
            f"kube_replicationcontroller_status_replicas{{{RC_BARE}}} 0",
            f"kube_replicationcontroller_status_fully_labeled_replicas{{{RC_BARE}}} 0",
            f"kube_replicationcontroller_status_ready_replicas{{{RC_BARE}}} 0",
            f"kube_replicationcontroller_status_available_replicas{{{RC_BARE}}} 0",
            f"kube_replicationcontroller_status_observed_generation{{{RC_BARE}}} 0",
            f"kube_replicationcontroller_metadata_generation{{{RC_BARE}}} 0",
            f'kube_replicationcontroller_owner{{{RC_BARE},owner_kind="",owner_name="",owner_is_controller=""}} 1',  # noqa: E501
        ],
    ),
]


def test_replicationcontroller_scaled_to_zero_with_uncontrolling_owners() -> None:
    rc = {
        "metadata": {
            "name": "idle",
            "namespace": "legacy",
            "uid": "rc3",
            "creationTimestamp": "2026-03-02T00:00:00Z",
            "generation": 2,
            "ownerReferences": [
                {"kind": "ConfigMap", "name": "anchor"},
                {"kind": "Service", "name": "front", "controller": False},
            ],
        },
        "spec": {"replicas": 0},
        "status": {"replicas": 0, "observedGeneration": 2},
    }
    head = 'namespace="legacy",replicationcontroller="idle"'
    lines = table_series(replicationcontrollers, rc)
    assert f"kube_replicationcontroller_spec_replicas{{{head}}} 0" in lines
    assert f"kube_replicationcontroller_created{{{head}}} {epoch('2026-03-02T00:00:00Z')}" in lines
    assert [line for line in lines if "_owner" in line] == sorted(
        [
            f'kube_replicationcontroller_owner{{{head},owner_kind="ConfigMap",owner_name="anchor",owner_is_controller="false"}} 1',  # noqa: E501
            f'kube_replicationcontroller_owner{{{head},owner_kind="Service",owner_name="front",owner_is_controller="false"}} 1',  # noqa: E501
        ]
    )
    assert len(lines) == 10


# --- CertificateSigningRequests -------------------------------------------------------------

CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CSR_ISSUED: Obj = {
    "metadata": {
        "name": "alice-client",
        "uid": "csr1",
        "creationTimestamp": CREATED,
        "labels": {"team": "identity", "app.kubernetes.io/name": "alice"},
    },
    "spec": {
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"],
        "request": "LS0tLS1CRUdJTi==",
    },
    "status": {
        "conditions": [
            {"type": "Approved", "status": "True", "reason": "AutoApproved"},
        ],
        "certificate": base64.b64encode(CERT).decode(),
    },
}
CSR = 'certificatesigningrequest="alice-client",signer_name="kubernetes.io/kube-apiserver-client"'
CSR_PENDING = (
    'certificatesigningrequest="node-csr-x",'
    'signer_name="kubernetes.io/kube-apiserver-client-kubelet"'
)
CSR_ODD = 'certificatesigningrequest="odd",signer_name="example.com/signer"'


CSR_CASES: list[SeriesCase] = [
    (
        "csr approved and issued",
        certificatesigningrequests,
        CSR_ISSUED,
        ("*",),
        [
            f'kube_certificatesigningrequest_labels{{{CSR},label_app_kubernetes_io_name="alice",label_team="identity"}} 1',  # noqa: E501
            f"kube_certificatesigningrequest_created{{{CSR}}} {T}",
            f'kube_certificatesigningrequest_condition{{{CSR},condition="approved"}} 1',
            f'kube_certificatesigningrequest_condition{{{CSR},condition="denied"}} 0',
            f"kube_certificatesigningrequest_cert_length{{{CSR}}} {len(CERT)}",
        ],
    ),
    (
        "csr pending without status or creation time",
        certificatesigningrequests,
        {
            "metadata": {"name": "node-csr-x", "uid": "csr2"},
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet"},
        },
        None,
        [
            f'kube_certificatesigningrequest_condition{{{CSR_PENDING},condition="approved"}} 0',
            f'kube_certificatesigningrequest_condition{{{CSR_PENDING},condition="denied"}} 0',
            f"kube_certificatesigningrequest_cert_length{{{CSR_PENDING}}} 0",
        ],
    ),
    (
        "csr conditions are counted and other types ignored",
        certificatesigningrequests,
        {
            "metadata": {"name": "odd", "uid": "csr3", "creationTimestamp": CREATED},
            "spec": {"signerName": "example.com/signer"},
            "status": {
                "conditions": [
                    {"type": "Denied", "status": "True", "reason": "Policy"},
                    {"type": "Failed", "status": "True", "reason": "SignerError"},
                    {"type": "Approved", "status": "True"},
                    {"type": "Approved", "status": "True"},
                ],
                # Not valid base64 (client-go would refuse it): counted as no certificate.
                "certificate": "not base64!",
            },
        },
        None,
        [
            f"kube_certificatesigningrequest_created{{{CSR_ODD}}} {T}",
            f'kube_certificatesigningrequest_condition{{{CSR_ODD},condition="approved"}} 2',
            f'kube_certificatesigningrequest_condition{{{CSR_ODD},condition="denied"}} 1',
            f"kube_certificatesigningrequest_cert_length{{{CSR_ODD}}} 0",
        ],
    ),
]


def test_csr_labels_follow_the_allowlist() -> None:
    lines = table_series(certificatesigningrequests, CSR_ISSUED, ("team", "absent"))
    assert f'kube_certificatesigningrequest_labels{{{CSR},label_team="identity"}} 1' in lines
    # Nothing allow-listed: no labels series at all.
    assert not [s for s in table_series(certificatesigningrequests, CSR_ISSUED) if "_labels" in s]


def test_csr_without_signer_name() -> None:
    csr = {"metadata": {"name": "bare", "uid": "csr4"}, "spec": {}, "status": {}}
    lines = table_series(certificatesigningrequests, csr)
    assert (
        'kube_certificatesigningrequest_cert_length{certificatesigningrequest="bare",signer_name=""} 0'  # noqa: E501
        in lines
    )


# --- Leases ---------------------------------------------------------------------------------

RENEWED = "2026-03-01T10:00:05.734123Z"
NODE_LEASE: Obj = {
    "metadata": {
        "name": "worker-1",
        "namespace": "kube-node-lease",
        "uid": "l1",
        "creationTimestamp": CREATED,
        "labels": {"app": "ignored"},
        "ownerReferences": [{"kind": "Node", "name": "worker-1", "uid": "n1"}],
    },
    "spec": {"holderIdentity": "worker-1", "leaseDurationSeconds": 40, "renewTime": RENEWED},
}


LEASE_CASES: list[SeriesCase] = [
    (
        # The microsecond renew time is cut to whole seconds, as Go's Unix().
        "node lease",
        leases,
        NODE_LEASE,
        ("*",),
        [
            'kube_lease_owner{lease="worker-1",owner_kind="Node",owner_name="worker-1",namespace="kube-node-lease",lease_holder="worker-1"} 1',  # noqa: E501
            f'kube_lease_renew_time{{lease="worker-1",namespace="kube-node-lease"}} {T + 5}',
        ],
    ),
    (
        "leader election lease in another namespace, unowned, unheld",
        leases,
        {
            "metadata": {"name": "my-operator-lock", "namespace": "operators", "uid": "l2"},
            "spec": {"leaseDurationSeconds": 15},
        },
        None,
        [
            'kube_lease_owner{lease="my-operator-lock",owner_kind="",owner_name="",namespace="operators",lease_holder=""} 1',  # noqa: E501
        ],
    ),
    (
        "lease with two owners and no spec",
        leases,
        {
            "metadata": {
                "name": "shared",
                "namespace": "apps",
                "uid": "l3",
                "ownerReferences": [
                    {"kind": "Deployment", "name": "a", "controller": True},
                    {"kind": "Pod", "name": "a-1"},
                ],
            },
        },
        None,
        [
            'kube_lease_owner{lease="shared",owner_kind="Deployment",owner_name="a",namespace="apps",lease_holder=""} 1',  # noqa: E501
            'kube_lease_owner{lease="shared",owner_kind="Pod",owner_name="a-1",namespace="apps",lease_holder=""} 1',  # noqa: E501
        ],
    ),
]


@series_cases(RC_CASES + CSR_CASES + LEASE_CASES)
def test_series(
    module: ModuleType, obj: Obj, labels: tuple[str, ...] | None, expected: list[str]
) -> None:
    assert table_series(module, obj, labels) == sorted(expected)


# --- Mutating and validating webhook configurations ----------------------------------------

WEBHOOK_KINDS = [
    (mutatingwebhookconfigurations, "mutatingwebhookconfiguration"),
    (validatingwebhookconfigurations, "validatingwebhookconfiguration"),
]


@pytest.mark.parametrize(("module", "kind"), WEBHOOK_KINDS)
def test_webhook_configuration_with_service_and_url_webhooks(module: ModuleType, kind: str) -> None:
    config = {
        "metadata": {
            "name": "policy-engine",
            "uid": "w1",
            "creationTimestamp": CREATED,
            "resourceVersion": "184467",
            "labels": {"app": "policy"},
        },
        "webhooks": [
            {
                "name": "pods.policy.example.com",
                "clientConfig": {
                    "service": {"name": "policy-svc", "namespace": "policy", "port": 443},
                    "caBundle": "Zm9v",
                },
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
            },
            {
                "name": "external.policy.example.com",
                "clientConfig": {"url": "https://hooks.example.com/validate"},
            },
        ],
    }
    head = f'{kind}="policy-engine"'
    assert table_series(module, config, ("*",)) == sorted(
        [
            f"kube_{kind}_info{{{head}}} 1",
            f"kube_{kind}_created{{{head}}} {T}",
            f"kube_{kind}_metadata_resource_version{{{head}}} 184467",
            f'kube_{kind}_webhook_clientconfig_service{{{head},webhook_name="pods.policy.example.com",service_name="policy-svc",service_namespace="policy"}} 1',  # noqa: E501
            f'kube_{kind}_webhook_clientconfig_service{{{head},webhook_name="external.policy.example.com",service_name="",service_namespace=""}} 1',  # noqa: E501
        ]
    )


@pytest.mark.parametrize(("module", "kind"), WEBHOOK_KINDS)
@pytest.mark.parametrize("version", ["", "abc", " 12", "1_000", None])
def test_webhook_configuration_empty_with_unparsable_version(
    module: ModuleType, kind: str, version: str | None
) -> None:
    """No webhooks, no creation time, a version Go's ParseFloat refuses: only the info series."""
    meta: Obj = {"name": "empty", "uid": "w2"}
    if version is not None:
        meta["resourceVersion"] = version
    assert table_series(module, {"metadata": meta, "webhooks": None}) == [
        f'kube_{kind}_info{{{kind}="empty"}} 1'
    ]


@pytest.mark.parametrize("version", ["7", "1e3", "0012"])
def test_resource_version_parses_as_go_does(version: str) -> None:
    config = {"metadata": {"name": "v", "uid": "w3", "resourceVersion": version}}
    lines = table_series(validatingwebhookconfigurations, config)
    value = int(float(version))
    assert (
        f'kube_validatingwebhookconfiguration_metadata_resource_version{{validatingwebhookconfiguration="v"}} {value}'  # noqa: E501
        in lines
    )


def test_webhook_without_client_config() -> None:
    config = {"metadata": {"name": "odd", "uid": "w4"}, "webhooks": [{"name": "a.example.com"}]}
    lines = table_series(mutatingwebhookconfigurations, config)
    assert (
        'kube_mutatingwebhookconfiguration_webhook_clientconfig_service{mutatingwebhookconfiguration="odd",webhook_name="a.example.com",service_name="",service_namespace=""} 1'  # noqa: E501
        in lines
    )
