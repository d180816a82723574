"""Pod families: kube-state-metrics v2.16 ``internal/store/pod.go`` names, labels and semantics.

Every series starts with ``namespace``, ``pod``, ``uid``. Every family KSM serves by default is
here, in KSM's order (``kube_pod_annotations`` is added by the exporter beside
``kube_pod_labels``); ``kube_pod_nodeselectors`` is opt-in, as in KSM.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import (
    condition_samples,
    go_timestamp,
    map_to_labels,
    one_hot,
    quantity,
    quantity_samples,
)
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.exporters.cluster.workload import status_time
from kubepulse.kube.informer import Resource

RESOURCE = Resource("pods", "/api/v1")
PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
QOS_CLASSES = ("BestEffort", "Burstable", "Guaranteed")
# KSM's podStatusReasons: one kube_pod_status_reason series each.
STATUS_REASONS = ("Evicted", "NodeAffinity", "NodeLost", "Shutdown", "UnexpectedAdmissionError")
STATUSES = "containerStatuses"
INIT_STATUSES = "initContainerStatuses"

Pod = dict[str, Any]


def prefix(pod: Pod) -> Labels:
    meta = pod["metadata"]
    return (("namespace", meta.get("namespace", "")), ("pod", meta["name"]), ("uid", meta["uid"]))


def _status(pod: Pod) -> dict[str, Any]:
    return pod.get("status") or {}


def _spec(pod: Pod) -> dict[str, Any]:
    return pod.get("spec") or {}


def _statuses(pod: Pod, key: str = STATUSES) -> list[dict[str, Any]]:
    return _status(pod).get(key) or []


def _condition(pod: Pod, kind: str) -> dict[str, Any] | None:
    for condition in _status(pod).get("conditions") or ():
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def info(pod: Pod) -> list[Sample]:
    meta, spec, status = pod["metadata"], _spec(pod), _status(pod)
    kind = name = ""
    for owner in meta.get("ownerReferences") or ():
        if owner.get("controller"):
            kind = owner.get("kind") or ""
            name = owner.get("name") or ""
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
    return one_hot("phase", PHASES, current) if current else []


def ready(pod: Pod) -> list[Sample]:
    condition = _condition(pod, "Ready")
    return condition_samples(condition.get("status")) if condition else []


def scheduled(pod: Pod) -> list[Sample]:
    condition = _condition(pod, "PodScheduled")
    return condition_samples(condition.get("status")) if condition else []


def _true_since(pod: Pod, kind: str) -> list[Sample]:
    return [
        ((), go_timestamp(c.get("lastTransitionTime")))
        for c in _status(pod).get("conditions") or ()
        if c.get("type") == kind and c.get("status") == "True"
    ]


def ready_time(pod: Pod) -> list[Sample]:
    return _true_since(pod, "Ready")


def container_ready_time(pod: Pod) -> list[Sample]:
    return _true_since(pod, "ContainersReady")


start_time = status_time("startTime")


def _container_info(pod: Pod, init: bool) -> list[Sample]:
    """One series per spec container that has a status (KSM joins the two by name)."""
    statuses = {cs.get("name"): cs for cs in _statuses(pod, INIT_STATUSES if init else STATUSES)}
    out: list[Sample] = []
    for c in _spec(pod).get("initContainers" if init else "containers") or ():
        cs = statuses.get(c.get("name"))
        if cs is None:
            continue
        labels: Labels = (
            ("container", cs.get("name", "")),
            ("image_spec", c.get("image", "")),
            ("image", cs.get("image", "")),
            ("image_id", cs.get("imageID", "")),
            ("container_id", cs.get("containerID", "")),
        )
        if init:
            labels = (*labels, ("restart_policy", c.get("restartPolicy", "")))
        out.append((labels, 1.0))
    return out


def _per_status(
    key: str, value: Callable[[dict[str, Any]], float]
) -> Callable[[Pod], list[Sample]]:
    """One ``container`` series per container status, valued by ``value(status)``."""

    def generate(pod: Pod) -> list[Sample]:
        return [((("container", cs.get("name", "")),), value(cs)) for cs in _statuses(pod, key)]

    return generate


def _in_state(state: str) -> Callable[[dict[str, Any]], float]:
    return lambda cs: 1.0 if (cs.get("state") or {}).get(state) is not None else 0.0


def _reason(key: str, where: str, state: str) -> Callable[[Pod], list[Sample]]:
    """``container``/``reason`` for each status whose ``where`` (state, lastState) is ``state``."""

    def generate(pod: Pod) -> list[Sample]:
        out: list[Sample] = []
        for cs in _statuses(pod, key):
            found = (cs.get(where) or {}).get(state)
            if found is not None:
                labels = (("container", cs.get("name", "")), ("reason", found.get("reason", "")))
                out.append((labels, 1.0))
        return out

    return generate


def _last_terminated(field: str) -> Callable[[Pod], list[Sample]]:
    """The last termination's exit code or finish time, for containers that have one."""

    def generate(pod: Pod) -> list[Sample]:
        out: list[Sample] = []
        for cs in _statuses(pod):
            term = (cs.get("lastState") or {}).get("terminated")
            if term is not None:
                value = (
                    float(term.get("exitCode", 0))
                    if field == "exitCode"
                    else go_timestamp(term.get(field))
                )
                out.append(((("container", cs.get("name", "")),), value))
        return out

    return generate


def _state_started(pod: Pod) -> list[Sample]:
    out: list[Sample] = []
    for cs in _statuses(pod):
        state = cs.get("state") or {}
        current = state.get("running")
        if current is None:
            current = state.get("terminated")
        if current is not None:
            out.append(
                ((("container", cs.get("name", "")),), go_timestamp(current.get("startedAt")))
            )
    return out


def _completion_time(pod: Pod) -> list[Sample]:
    """The latest finish time of the containers that terminated (none while any runs on)."""
    last = 0.0
    for cs in _statuses(pod):
        term = (cs.get("state") or {}).get("terminated")
        if term is not None:
            finished = go_timestamp(term.get("finishedAt"))
            if last == 0 or last < finished:
                last = finished
    return [((), last)] if last > 0 else []


def _resources(kind: str, containers: str) -> Callable[[Pod], Iterator[Sample]]:
    def generate(pod: Pod) -> Iterator[Sample]:
        node = _spec(pod).get("nodeName", "")
        for c in _spec(pod).get(containers) or ():
            yield from quantity_samples(
                (c.get("resources") or {}).get(kind),
                ("container", c.get("name", "")),
                ("node", node),
            )

    return generate


def _ips(pod: Pod) -> list[Sample]:
    out: list[Sample] = []
    for entry in _status(pod).get("podIPs") or ():
        ip = entry.get("ip", "")
        try:
            family = str(ipaddress.ip_address(ip).version)  # k8s.io/utils/net: "4", "6"
        except ValueError:
            continue  # KSM skips an address it cannot parse
        out.append(((("ip", ip), ("ip_family", family)), 1.0))
    return out


def _overhead(resource: str) -> Callable[[Pod], list[Sample]]:
    def generate(pod: Pod) -> list[Sample]:
        raw = (_spec(pod).get("overhead") or {}).get(resource)
        converted = quantity(resource, str(raw)) if raw is not None else None
        return [((), converted[2])] if converted else []

    return generate


def _qos_class(pod: Pod) -> list[Sample]:
    current = _status(pod).get("qosClass")
    return one_hot("qos_class", QOS_CLASSES, current) if current else []


def _status_reason(pod: Pod) -> list[Sample]:
    """1 for a reason on the pod, on any condition, or on a terminated container."""
    status = _status(pod)
    seen = {status.get("reason")}
    seen.update(c.get("reason") for c in status.get("conditions") or ())
    for cs in _statuses(pod):
        term = (cs.get("state") or {}).get("terminated")
        if term is not None:
            seen.add(term.get("reason"))
    return [((("reason", r),), 1.0 if r in seen else 0.0) for r in STATUS_REASONS]


def _unschedulable(pod: Pod) -> list[Sample]:
    return [
        ((), 1.0)
        for c in _status(pod).get("conditions") or ()
        if c.get("type") == "PodScheduled" and c.get("status") == "False"
    ]


def _pvc_volumes(readonly: bool) -> Callable[[Pod], list[Sample]]:
    def generate(pod: Pod) -> list[Sample]:
        out: list[Sample] = []
        for volume in _spec(pod).get("volumes") or ():
            claim = volume.get("persistentVolumeClaim")
            if claim is not None:
                labels = (
                    ("volume", volume.get("name", "")),
                    ("persistentvolumeclaim", claim.get("claimName", "")),
                )
                out.append((labels, (1.0 if claim.get("readOnly") else 0.0) if readonly else 1.0))
        return out

    return generate


def _tolerations(pod: Pod) -> list[Sample]:
    """One series per distinct toleration (KSM drops exact duplicates)."""
    out: list[Sample] = []
    seen: set[Labels] = set()
    for t in _spec(pod).get("tolerations") or ():
        seconds = t.get("tolerationSeconds")
        labels: Labels = (
            ("key", t.get("key", "")),
            ("operator", t.get("operator", "")),
            ("value", t.get("value", "")),
            ("effect", t.get("effect", "")),
            ("toleration_seconds", "" if seconds is None else str(int(seconds))),
        )
        if labels not in seen:
            seen.add(labels)
            out.append((labels, 1.0))
    return out


def _spec_label(label: str, key: str, *, optional: bool = False) -> Callable[[Pod], list[Sample]]:
    def generate(pod: Pod) -> list[Sample]:
        value = _spec(pod).get(key)
        if value is None and optional:
            return []
        return [(((label, value or ""),), 1.0)]

    return generate


def _container_families(init: bool) -> list[FamilySpec]:
    """The status families KSM has for both containers and init containers."""
    key = INIT_STATUSES if init else STATUSES
    name = "kube_pod_init_container" if init else "kube_pod_container"
    what = "init container" if init else "container"
    return [
        FamilySpec(
            f"{name}_status_last_terminated_reason",
            f"Describes the last reason the {what} was in terminated state.",
            _reason(key, "lastState", "terminated"),
        ),
        FamilySpec(
            f"{name}_status_ready",
            f"Describes whether the {what}s readiness check succeeded.",
            _per_status(key, lambda cs: 1.0 if cs.get("ready") else 0.0),
        ),
        FamilySpec(
            f"{name}_status_restarts_total",
            "The number of restarts for the init container."
            if init
            else "The number of container restarts per container.",
            _per_status(key, lambda cs: float(cs.get("restartCount", 0))),
            "counter",
        ),
        *(
            FamilySpec(
                f"{name}_status_{state}",
                f"Describes whether the {what} is currently in {state} state.",
                _per_status(key, _in_state(state)),
            )
            for state in ("running", "terminated")
        ),
        FamilySpec(
            f"{name}_status_terminated_reason",
            f"Describes the reason the {what} is currently in terminated state.",
            _reason(key, "state", "terminated"),
        ),
        FamilySpec(
            f"{name}_status_waiting",
            f"Describes whether the {what} is currently in waiting state.",
            _per_status(key, _in_state("waiting")),
        ),
        FamilySpec(
            f"{name}_status_waiting_reason",
            f"Describes the reason the {what} is currently in waiting state.",
            _reason(key, "state", "waiting"),
        ),
    ]


def _resource_families(init: bool) -> list[FamilySpec]:
    containers = "initContainers" if init else "containers"
    if init:
        name, what, tail = "kube_pod_init_container", "an init container", ""
    else:
        name, what = "kube_pod_container", "a container"
        tail = (
            " It is recommended to use the kube_pod_resource_{} metric exposed by kube-scheduler"
            " instead, as it is more precise."
        )
    return [
        FamilySpec(
            f"{name}_resource_{kind}",
            f"The number of requested {word} resource by {what}.{tail.format(kind)}",
            _resources(kind, containers),
        )
        for kind, word in (("limits", "limit"), ("requests", "request"))
    ]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    """The pod family table, in KSM's order; ``allowed_labels`` feeds ``kube_pod_labels``."""
    containers = _container_families(init=False)
    return [
        FamilySpec(
            "kube_pod_completion_time",
            "Completion time in unix timestamp for a pod.",
            _completion_time,
        ),
        FamilySpec(
            "kube_pod_container_info",
            "Information about a container in a pod.",
            lambda p: _container_info(p, init=False),
        ),
        *_resource_families(init=False),
        FamilySpec(
            "kube_pod_container_state_started",
            "Start time in unix timestamp for a pod container.",
            _state_started,
        ),
        containers[0],  # last_terminated_reason
        FamilySpec(
            "kube_pod_container_status_last_terminated_exitcode",
            "Describes the exit code for the last container in terminated state.",
            _last_terminated("exitCode"),
        ),
        FamilySpec(
            "kube_pod_container_status_last_terminated_timestamp",
            "Last terminated time for a pod container in unix timestamp.",
            _last_terminated("finishedAt"),
        ),
        *containers[1:],
        metadata.created_family("pod"),
        metadata.deletion_timestamp_family("pod"),
        FamilySpec("kube_pod_info", "Information about pod.", info),
        FamilySpec("kube_pod_ips", "Pod IP addresses", _ips),
        FamilySpec(
            "kube_pod_init_container_info",
            "Information about an init container in a pod.",
            lambda p: _container_info(p, init=True),
        ),
        *_resource_families(init=True),
        *_container_families(init=True),
        metadata.labels_family("pod", allowed_labels),
        FamilySpec(
            "kube_pod_overhead_cpu_cores",
            "The pod overhead in regards to cpu cores associated with running a pod.",
            _overhead("cpu"),
        ),
        FamilySpec(
            "kube_pod_overhead_memory_bytes",
            "The pod overhead in regards to memory associated with running a pod.",
            _overhead("memory"),
        ),
        metadata.owner_family("pod", "Pod"),
        FamilySpec(
            "kube_pod_restart_policy",
            "Describes the restart policy in use by this pod.",
            _spec_label("type", "restartPolicy"),
        ),
        FamilySpec(
            "kube_pod_runtimeclass_name_info",
            "The runtimeclass associated with the pod.",
            _spec_label("runtimeclass_name", "runtimeClassName", optional=True),
        ),
        FamilySpec(
            "kube_pod_spec_volumes_persistentvolumeclaims_info",
            "Information about persistentvolumeclaim volumes in a pod.",
            _pvc_volumes(readonly=False),
        ),
        FamilySpec(
            "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
            "Describes whether a persistentvolumeclaim is mounted read only.",
            _pvc_volumes(readonly=True),
        ),
        FamilySpec("kube_pod_start_time", "Start time in unix timestamp for a pod.", start_time),
        FamilySpec("kube_pod_status_phase", "The pods current phase.", phase),
        FamilySpec("kube_pod_status_qos_class", "The pods current qosClass.", _qos_class),
        FamilySpec(
            "kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", ready
        ),
        FamilySpec(
            "kube_pod_status_ready_time",
            "Readiness achieved time in unix timestamp for a pod.",
            ready_time,
        ),
        FamilySpec(
            "kube_pod_status_initialized_time",
            "Initialized time in unix timestamp for a pod.",
            lambda p: _true_since(p, "Initialized"),
        ),
        FamilySpec(
            "kube_pod_status_container_ready_time",
            "Readiness achieved time in unix timestamp for a pod containers.",
            container_ready_time,
        ),
        FamilySpec("kube_pod_status_reason", "The pod status reasons", _status_reason),
        FamilySpec(
            "kube_pod_status_scheduled",
            "Describes the status of the scheduling process for the pod.",
            scheduled,
        ),
        FamilySpec(
            "kube_pod_status_scheduled_time",
            "Unix timestamp when pod moved into scheduled status",
            lambda p: _true_since(p, "PodScheduled"),
        ),
        FamilySpec(
            "kube_pod_status_unschedulable",
            "Describes the unschedulable status for the pod.",
            _unschedulable,
        ),
        FamilySpec("kube_pod_tolerations", "Information about the pod tolerations", _tolerations),
        FamilySpec(
            "kube_pod_service_account",
            "The service account for a pod.",
            _spec_label("service_account", "serviceAccountName"),
        ),
        FamilySpec(
            "kube_pod_scheduler",
            "The scheduler for a pod.",
            _spec_label("name", "schedulerName"),
        ),
        FamilySpec(
            "kube_pod_nodeselectors",
            "Describes the Pod nodeSelectors.",
            lambda p: [(map_to_labels("nodeselector", _spec(p).get("nodeSelector") or {}), 1.0)],
            opt_in=True,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
