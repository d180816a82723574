"""The pod families beyond the basics, table-driven as KSM's ``pod_test.go``: an API object in,
the exact series of each family out. No cluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from kubepulse.exporters.cluster import pods
from kubepulse.exporters.cluster.common import GO_ZERO_TIME
from kubepulse.exporters.cluster.store import KindStore


def series(obj: dict[str, Any], prefix: str) -> list[str]:
    store = KindStore("pods", pods.families(None), pods.prefix)
    store.apply([obj], (), True)
    text = b"".join(store.chunks()).decode()
    return sorted(
        line for line in text.splitlines() if line.startswith(prefix + "{") and "#" not in line
    )


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


H = 'namespace="db",pod="pg-0",uid="u1"'
POD: dict[str, Any] = {
    "metadata": {"name": "pg-0", "namespace": "db", "uid": "u1"},
    "spec": {
        "nodeName": "n1",
        "restartPolicy": "Always",
        "serviceAccountName": "pg",
        "schedulerName": "default-scheduler",
        "runtimeClassName": "gvisor",
        "overhead": {"cpu": "250m", "memory": "120Mi"},
        "initContainers": [
            {
                "name": "migrate",
                "image": "pg-migrate:1",
                "resources": {"requests": {"cpu": "1", "memory": "64Mi"}},
            },
            {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always"},
        ],
        "containers": [{"name": "pg", "image": "postgres:17"}],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-pg-0"}},
            {"name": "wal", "persistentVolumeClaim": {"claimName": "wal-pg-0", "readOnly": True}},
            {"name": "tmp", "emptyDir": {}},
        ],
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"},
        ],
    },
    "status": {
        "phase": "Running",
        "qosClass": "Burstable",
        "podIPs": [{"ip": "10.244.0.7"}, {"ip": "fd00::7"}],
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-03-01T10:00:05Z"},
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": "2026-03-01T10:00:01Z",
            },
        ],
        "initContainerStatuses": [
            {
                "name": "migrate",
                "image": "pg-migrate:1",
                "imageID": "sha256:m",
                "containerID": "containerd://m",
                "ready": False,
                "restartCount": 1,
                "state": {
                    "terminated": {
                        "reason": "Completed",
                        "exitCode": 0,
                        "startedAt": "2026-03-01T10:00:02Z",
                        "finishedAt": "2026-03-01T10:00:04Z",
                    }
                },
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
            },
            {
                "name": "proxy",
                "image": "envoy:1",
                "imageID": "sha256:e",
                "containerID": "containerd://e",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-03-01T10:00:05Z"}},
            },
        ],
        "containerStatuses": [
            {
                "name": "pg",
                "image": "postgres:17",
                "imageID": "sha256:p",
                "containerID": "containerd://p",
                "ready": False,
                "restartCount": 3,
                "state": {"running": {"startedAt": "2026-03-01T10:01:00Z"}},
                "lastState": {
                    "terminated": {
                        "reason": "OOMKilled",
                        "exitCode": 137,
                        "finishedAt": "2026-03-01T10:00:59Z",
                    }
                },
            }
        ],
    },
}


# POD's series, family by family: each family's exact lines (in any order).
POD_FAMILIES: list[tuple[str, list[str]]] = [
    # Init containers.
    (
        "kube_pod_init_container_info",
        [
            f'kube_pod_init_container_info{{{H},container="migrate",image_spec="pg-migrate:1",image="pg-migrate:1",image_id="sha256:m",container_id="containerd://m",restart_policy=""}} 1',  # noqa: E501
            f'kube_pod_init_container_info{{{H},container="proxy",image_spec="envoy:1",image="envoy:1",image_id="sha256:e",container_id="containerd://e",restart_policy="Always"}} 1',  # noqa: E501
        ],
    ),
    (
        "kube_pod_init_container_resource_requests",
        [
            f'kube_pod_init_container_resource_requests{{{H},container="migrate",node="n1",resource="cpu",unit="core"}} 1',  # noqa: E501
            f'kube_pod_init_container_resource_requests{{{H},container="migrate",node="n1",resource="memory",unit="byte"}} 67108864',  # noqa: E501
        ],
    ),
    ("kube_pod_init_container_resource_limits", []),
    (
        "kube_pod_init_container_status_terminated_reason",
        [
            f'kube_pod_init_container_status_terminated_reason{{{H},container="migrate",reason="Completed"}} 1'  # noqa: E501
        ],
    ),
    (
        "kube_pod_init_container_status_last_terminated_reason",
        [
            f'kube_pod_init_container_status_last_terminated_reason{{{H},container="migrate",reason="Error"}} 1'  # noqa: E501
        ],
    ),
    *(
        (
            f"kube_pod_init_container_status_{family}",
            [
                f'kube_pod_init_container_status_{family}{{{H},container="migrate"}} {migrate}',
                f'kube_pod_init_container_status_{family}{{{H},container="proxy"}} {proxy}',
            ],
        )
        for family, (migrate, proxy) in {
            "ready": (0, 1),
            "restarts_total": (1, 0),
            "running": (0, 1),
            "terminated": (1, 0),
            "waiting": (0, 0),
        }.items()
    ),
    ("kube_pod_init_container_status_waiting_reason", []),
    # Container times and exit codes.
    (
        "kube_pod_container_state_started",
        [f'kube_pod_container_state_started{{{H},container="pg"}} {epoch("2026-03-01T10:01:00Z")}'],
    ),
    (
        "kube_pod_container_status_last_terminated_exitcode",
        [f'kube_pod_container_status_last_terminated_exitcode{{{H},container="pg"}} 137'],
    ),
    (
        "kube_pod_container_status_last_terminated_timestamp",
        [
            f'kube_pod_container_status_last_terminated_timestamp{{{H},container="pg"}} {epoch("2026-03-01T10:00:59Z")}'  # noqa: E501
        ],
    ),
    # A container is still running: no completion time.
    ("kube_pod_completion_time", []),
    # Spec families.
    ("kube_pod_restart_policy", [f'kube_pod_restart_policy{{{H},type="Always"}} 1']),
    ("kube_pod_service_account", [f'kube_pod_service_account{{{H},service_account="pg"}} 1']),
    ("kube_pod_scheduler", [f'kube_pod_scheduler{{{H},name="default-scheduler"}} 1']),
    (
        "kube_pod_runtimeclass_name_info",
        [f'kube_pod_runtimeclass_name_info{{{H},runtimeclass_name="gvisor"}} 1'],
    ),
    ("kube_pod_overhead_cpu_cores", [f"kube_pod_overhead_cpu_cores{{{H}}} 0.25"]),
    ("kube_pod_overhead_memory_bytes", [f"kube_pod_overhead_memory_bytes{{{H}}} 125829120"]),
    (
        "kube_pod_spec_volumes_persistentvolumeclaims_info",
        [
            f'kube_pod_spec_volumes_persistentvolumeclaims_info{{{H},volume="data",persistentvolumeclaim="data-pg-0"}} 1',  # noqa: E501
            f'kube_pod_spec_volumes_persistentvolumeclaims_info{{{H},volume="wal",persistentvolumeclaim="wal-pg-0"}} 1',  # noqa: E501
        ],
    ),
    (
        "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
        [
            f'kube_pod_spec_volumes_persistentvolumeclaims_readonly{{{H},volume="data",persistentvolumeclaim="data-pg-0"}} 0',  # noqa: E501
            f'kube_pod_spec_volumes_persistentvolumeclaims_readonly{{{H},volume="wal",persistentvolumeclaim="wal-pg-0"}} 1',  # noqa: E501
        ],
    ),
    # The duplicate toleration is listed once.
    (
        "kube_pod_tolerations",
        [
            f'kube_pod_tolerations{{{H},key="node.kubernetes.io/not-ready",operator="Exists",value="",effect="NoExecute",toleration_seconds="300"}} 1',  # noqa: E501
            f'kube_pod_tolerations{{{H},key="dedicated",operator="Equal",value="db",effect="NoSchedule",toleration_seconds=""}} 1',  # noqa: E501
        ],
    ),
    # Status families.
    (
        "kube_pod_ips",
        [
            f'kube_pod_ips{{{H},ip="10.244.0.7",ip_family="4"}} 1',
            f'kube_pod_ips{{{H},ip="fd00::7",ip_family="6"}} 1',
        ],
    ),
    (
        "kube_pod_status_qos_class",
        [
            f'kube_pod_status_qos_class{{{H},qos_class="BestEffort"}} 0',
            f'kube_pod_status_qos_class{{{H},qos_class="Burstable"}} 1',
            f'kube_pod_status_qos_class{{{H},qos_class="Guaranteed"}} 0',
        ],
    ),
    (
        "kube_pod_status_initialized_time",
        [f"kube_pod_status_initialized_time{{{H}}} {epoch('2026-03-01T10:00:05Z')}"],
    ),
    (
        "kube_pod_status_scheduled_time",
        [f"kube_pod_status_scheduled_time{{{H}}} {epoch('2026-03-01T10:00:01Z')}"],
    ),
    ("kube_pod_status_unschedulable", []),
    (
        "kube_pod_status_reason",
        [f'kube_pod_status_reason{{{H},reason="{r}"}} 0' for r in sorted(pods.STATUS_REASONS)],
    ),
    # No owner: KSM's empty owner labels, and kube_pod_info's created_by_* empty too.
    (
        "kube_pod_owner",
        [f'kube_pod_owner{{{H},owner_kind="",owner_name="",owner_is_controller=""}} 1'],
    ),
]


@pytest.mark.parametrize(
    ("family", "expected"), [pytest.param(f, e, id=f) for f, e in POD_FAMILIES]
)
def test_family(family: str, expected: list[str]) -> None:
    assert series(POD, family) == sorted(expected)


def test_evicted_unschedulable_and_finished_pods() -> None:
    evicted = {
        "metadata": {"name": "pg-0", "namespace": "db", "uid": "u1"},
        "spec": {},
        "status": {
            "phase": "Failed",
            "reason": "Evicted",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
                {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"},
            ],
            "containerStatuses": [
                {
                    "name": "a",
                    "state": {
                        "terminated": {"reason": "Completed", "finishedAt": "2026-03-01T10:00:09Z"}
                    },
                },
                {
                    "name": "b",
                    "state": {
                        "terminated": {"reason": "NodeLost", "finishedAt": "2026-03-01T10:00:07Z"}
                    },
                },
                {"name": "c", "state": {"terminated": {"reason": "Error"}}},
            ],
        },
    }
    values = {
        line.split('reason="')[1].split('"')[0]: line.rsplit(" ", 1)[1]
        for line in series(evicted, "kube_pod_status_reason")
    }
    assert values == {
        "Evicted": "1",  # status.reason
        "NodeAffinity": "0",
        "NodeLost": "1",  # a terminated container's reason
        "Shutdown": "0",
        "UnexpectedAdmissionError": "0",
    }
    assert series(evicted, "kube_pod_status_unschedulable") == [
        f"kube_pod_status_unschedulable{{{H}}} 1"
    ]
    # The latest finish wins; a container with no finish time counts as Go's zero time.
    assert series(evicted, "kube_pod_completion_time") == [
        f"kube_pod_completion_time{{{H}}} {epoch('2026-03-01T10:00:09Z')}"
    ]
    assert series(evicted, "kube_pod_container_state_started") == [
        f'kube_pod_container_state_started{{{H},container="{c}"}} {GO_ZERO_TIME:.0f}' for c in "abc"
    ]
    # No qosClass, no restartPolicy, no runtime class: KSM's empty and absent forms.
    assert series(evicted, "kube_pod_status_qos_class") == []
    assert series(evicted, "kube_pod_restart_policy") == [
        f'kube_pod_restart_policy{{{H},type=""}} 1'
    ]
    assert series(evicted, "kube_pod_runtimeclass_name_info") == []
