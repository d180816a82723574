"""Pod families: kube-state-metrics ``internal/store/pod.go`` names, labels and semantics.

Every series starts with ``namespace``, ``pod``, ``uid``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubepulse.exporters.cluster.common import (
    condition_samples,
    labels_sample,
    owner_samples,
    quantity_samples,
    timestamp,
)
from kubepulse.exporters.cluster.store import FamilySpec, Labels, Sample
from kubepulse.kube.informer import Resource

RESOURCE = Resource("pods", "/api/v1")
PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")

Pod = dict[str, Any]


def prefix(pod: Pod) -> Labels:
    meta = pod["metadata"]
    return (("namespace", meta.get("namespace", "")), ("pod", meta["name"]), ("uid", meta["uid"]))


def _status(pod: Pod) -> dict[str, Any]:
    return pod.get("status") or {}


def _spec(pod: Pod) -> dict[str, Any]:
    return pod.get("spec") or {}


def _statuses(pod: Pod) -> list[dict[str, Any]]:
    return _status(pod).get("containerStatuses") or []


def _condition(pod: Pod, kind: str) -> dict[str, Any] | None:
    for condition in _status(pod).get("conditions") or ():
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def info(pod: Pod) -> list[Sample]:
    meta, spec, status = pod["metadata"], _spec(pod), _status(pod)
    kind = name = "<none>"
    for owner in meta.get("ownerReferences") or ():
        if owner.get("controller"):
            kind = owner.get("kind") or "<none>"
            name = owner.get("name") or "<none>"
            break
    return [
        (
            (
                ("host_ip", status.get("hostIP", "")),
                ("pod_ip", status.get("podIP", "")),
                ("node", spec.get("nodeName", "")),
                ("created_by_kind", kind),
                ("created_by_name", name),
                ("priority_class", spec.get("priorityClassName", "")),
                ("host_network", "true" if spec.get("hostNetwork") else "false"),
            ),
            1.0,
        )
    ]


def phase(pod: Pod) -> list[Sample]:
    current = _status(pod).get("phase")
    if not current:
        return []
    return [((("phase", p),), 1.0 if p == current else 0.0) for p in PHASES]


def ready(pod: Pod) -> list[Sample]:
    condition = _condition(pod, "Ready")
    return condition_samples(condition.get("status")) if condition else []


def scheduled(pod: Pod) -> list[Sample]:
    condition = _condition(pod, "PodScheduled")
    return condition_samples(condition.get("status")) if condition else []


def _true_since(pod: Pod, kind: str) -> list[Sample]:
    condition = _condition(pod, kind)
    if condition and condition.get("status") == "True" and condition.get("lastTransitionTime"):
        return [((), timestamp(condition["lastTransitionTime"]))]
    return []


def ready_time(pod: Pod) -> list[Sample]:
    return _true_since(pod, "Ready")


def container_ready_time(pod: Pod) -> list[Sample]:
    return _true_since(pod, "ContainersReady")


def _time(value: str | None) -> list[Sample]:
    return [((), timestamp(value))] if value else []


def start_time(pod: Pod) -> list[Sample]:
    return _time(_status(pod).get("startTime"))


def created(pod: Pod) -> list[Sample]:
    return _time(pod["metadata"].get("creationTimestamp"))


def deletion_timestamp(pod: Pod) -> list[Sample]:
    return _time(pod["metadata"].get("deletionTimestamp"))


def container_info(pod: Pod) -> list[Sample]:
    images = {c.get("name"): c.get("image", "") for c in _spec(pod).get("containers") or ()}
    return [
        (
            (
                ("container", cs.get("name", "")),
                ("image_spec", images.get(cs.get("name"), "")),
                ("image", cs.get("image", "")),
                ("image_id", cs.get("imageID", "")),
                ("container_id", cs.get("containerID", "")),
            ),
            1.0,
        )
        for cs in _statuses(pod)
    ]


def container_ready(pod: Pod) -> list[Sample]:
    return [
        ((("container", cs.get("name", "")),), 1.0 if cs.get("ready") else 0.0)
        for cs in _statuses(pod)
    ]


def container_restarts(pod: Pod) -> list[Sample]:
    return [
        ((("container", cs.get("name", "")),), float(cs.get("restartCount", 0)))
        for cs in _statuses(pod)
    ]


def _state(state_name: str, pod: Pod) -> list[Sample]:
    out: list[Sample] = []
    for cs in _statuses(pod):
        state = (cs.get("state") or {}).get(state_name)
        if state is not None:
            out.append(
                ((("container", cs.get("name", "")), ("reason", state.get("reason", ""))), 1.0)
            )
    return out


def waiting_reason(pod: Pod) -> list[Sample]:
    return _state("waiting", pod)


def terminated_reason(pod: Pod) -> list[Sample]:
    return _state("terminated", pod)


def last_terminated_reason(pod: Pod) -> list[Sample]:
    out: list[Sample] = []
    for cs in _statuses(pod):
        term = (cs.get("lastState") or {}).get("terminated")
        if term is not None:
            out.append(
                ((("container", cs.get("name", "")), ("reason", term.get("reason", ""))), 1.0)
            )
    return out


def _state_flag(state_name: str, pod: Pod) -> list[Sample]:
    return [
        (
            (("container", cs.get("name", "")),),
            1.0 if state_name in (cs.get("state") or {}) else 0.0,
        )
        for cs in _statuses(pod)
    ]


def _resources(kind: str, pod: Pod) -> Iterator[Sample]:
    node = _spec(pod).get("nodeName", "")
    for c in _spec(pod).get("containers") or ():
        yield from quantity_samples(
            (c.get("resources") or {}).get(kind), ("container", c.get("name", "")), ("node", node)
        )


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    """The pod family table; ``allowed_labels`` feeds ``kube_pod_labels``."""
    return [
        FamilySpec("kube_pod_info", "Information about pod.", info),
        FamilySpec(
            "kube_pod_owner",
            "Information about the Pod's owner.",
            lambda p: owner_samples(p["metadata"]),
        ),
        FamilySpec(
            "kube_pod_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda p: labels_sample(p["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec("kube_pod_created", "Unix creation timestamp", created),
        FamilySpec("kube_pod_deletion_timestamp", "Unix deletion timestamp", deletion_timestamp),
        FamilySpec("kube_pod_start_time", "Start time in unix timestamp for a pod.", start_time),
        FamilySpec("kube_pod_status_phase", "The pods current phase.", phase),
        FamilySpec(
            "kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", ready
        ),
        FamilySpec(
            "kube_pod_status_scheduled",
            "Describes the status of the scheduling process for the pod.",
            scheduled,
        ),
        FamilySpec(
            "kube_pod_status_ready_time",
            "Readiness achieved time in unix timestamp for a pod.",
            ready_time,
        ),
        FamilySpec(
            "kube_pod_status_container_ready_time",
            "Readiness achieved time in unix timestamp for a pod containers.",
            container_ready_time,
        ),
        FamilySpec(
            "kube_pod_container_info", "Information about a container in a pod.", container_info
        ),
        FamilySpec(
            "kube_pod_container_status_ready",
            "Describes whether the containers readiness check succeeded.",
            container_ready,
        ),
        FamilySpec(
            "kube_pod_container_status_restarts_total",
            "The number of container restarts per container.",
            container_restarts,
            "counter",
        ),
        FamilySpec(
            "kube_pod_container_status_running",
            "Describes whether the container is currently in running state.",
            lambda p: _state_flag("running", p),
        ),
        FamilySpec(
            "kube_pod_container_status_waiting",
            "Describes whether the container is currently in waiting state.",
            lambda p: _state_flag("waiting", p),
        ),
        FamilySpec(
            "kube_pod_container_status_terminated",
            "Describes whether the container is currently in terminated state.",
            lambda p: _state_flag("terminated", p),
        ),
        FamilySpec(
            "kube_pod_container_status_waiting_reason",
            "Describes the reason the container is currently in waiting state.",
            waiting_reason,
        ),
        FamilySpec(
            "kube_pod_container_status_terminated_reason",
            "Describes the reason the container is currently in terminated state.",
            terminated_reason,
        ),
        FamilySpec(
            "kube_pod_container_status_last_terminated_reason",
            "Describes the last reason the container was in terminated state.",
            last_terminated_reason,
        ),
        FamilySpec(
            "kube_pod_container_resource_requests",
            "The number of requested request resource by a container.",
            lambda p: _resources("requests", p),
        ),
        FamilySpec(
            "kube_pod_container_resource_limits",
            "The number of requested limit resource by a container.",
            lambda p: _resources("limits", p),
        ),
    ]
