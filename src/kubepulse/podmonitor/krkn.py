"""krkn-lib 7's function API (``krkn_lib.k8s.pod_monitor``) on kubepulse's pod monitor.

``select_and_monitor_by_label``, ``select_and_monitor_by_name_pattern_and_namespace_pattern``
and ``select_and_monitor_by_namespace_pattern_and_label`` have krkn-lib's names and signatures:
they take a kubernetes ``CoreV1Api`` (``KrknKubernetes.cli``), select the Running pods before
returning, and return a ``concurrent.futures.Future`` of a ``PodsSnapshot``: the per-pod event
timeline (``ADDED``, ``READY``, ``NOT_READY``, ``DELETION_SCHEDULED``, ``DELETED`` with receipt
times), ``to_dict()`` and ``PodsSnapshot(json_str)``, and ``get_pods_status()``.

Underneath is one ``PodMonitor`` per call (one request to the API server), so the status has
kubepulse's rules and times (see ``RecoveryTracker`` and ``AffectedPod``). What differs from
krkn-lib 7:

* ``get_pods_status()`` lists a killed pod that was never replaced as unrecovered, under its own
  name, as krkn-lib does, and also says why in ``error``;
* ``Future.cancel()`` on a running monitor stops it: the future then completes within about a
  second with what was gathered (krkn-lib's cannot stop a running monitor). Like a running
  future's ``cancel()`` it returns False, so ``result()`` still gives the snapshot;
* ``pods`` is keyed by pod name as in krkn-lib (a pod re-created with the same name shares its
  entry), except that a second namespace's pod of the same name is keyed ``namespace/name``;
* readiness is the pod's Ready condition (krkn-lib: every container ready).
"""

from __future__ import annotations

import enum
import math
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubepulse.podmonitor.models import PodsStatus
from kubepulse.podmonitor.monitor import DEFAULT_SETTLE_SECONDS, PodMonitor
from kubepulse.podmonitor.pool import PodsMonitorPool
from kubepulse.podmonitor.tracker import RecoveryTracker, Selection

__all__ = [
    "MonitoredPod",
    "PodEvent",
    "PodStatus",
    "PodsSnapshot",
    "select_and_monitor_by_label",
    "select_and_monitor_by_name_pattern_and_namespace_pattern",
    "select_and_monitor_by_namespace_pattern_and_label",
]

RUNNING = "status.phase=Running"


class PodStatus(enum.Enum):
    """krkn-lib's pod event statuses, same names and values."""

    UNDEFINED = 0
    READY = 1
    NOT_READY = 2
    DELETION_SCHEDULED = 3
    DELETED = 4
    ADDED = 5


@dataclass(frozen=True)
class PodEvent:
    """One change of one pod, with the Unix time the monitor received it."""

    status: PodStatus
    timestamp: float


@dataclass
class MonitoredPod:
    namespace: str = ""
    name: str = ""
    status_changes: list[PodEvent] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "status_changes": [
                {"status": e.status.name, "timestamp": e.timestamp} for e in self.status_changes
            ],
        }


class PodsSnapshot:
    """The pods one monitor watched, their timelines, and their recovery status.

    ``PodsSnapshot(json_str)`` reads ``json.dumps(snapshot.to_dict())`` back, from kubepulse or
    from krkn-lib. kubepulse's own snapshots carry the status they computed (``pods_status``);
    for one without it, ``get_pods_status()`` replays the timeline through kubepulse's rules
    (no controller is known then, so replacements are matched by name or by order).
    """

    def __init__(self, json_str: str | bytes | None = None) -> None:
        self.resource_version = ""
        self.pods: dict[str, MonitoredPod] = {}
        self.added_pods: list[str] = []
        self.initial_pods: list[str] = []
        self.pods_status: PodsStatus | None = None
        if json_str:
            self._load(json_str)

    def _load(self, json_str: str | bytes) -> None:
        try:
            data = orjson.loads(json_str)
            self.resource_version = str(data.get("resource_version") or "")
            for key, pod in data["pods"]:
                events = [
                    PodEvent(PodStatus[e["status"]], float(e["timestamp"]))
                    for e in pod["status_changes"]
                ]
                self.pods[key] = MonitoredPod(pod["namespace"], pod["name"], events)
            self.added_pods = [str(p) for p in data["added_pods"]]
            self.initial_pods = [str(p) for p in data["initial_pods"]]
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"PodsSnapshot: not a pods snapshot: {exc!r}") from None
        if data.get("pods_status") is not None:
            self.pods_status = PodsStatus.from_dict(data["pods_status"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_version": self.resource_version,
            "pods": [[k, v.to_dict()] for k, v in self.pods.items()],
            "added_pods": self.added_pods,
            "initial_pods": self.initial_pods,
            "pods_status": None if self.pods_status is None else self.pods_status.to_dict(),
        }

    def get_pods_status(self) -> PodsStatus:
        """Recovered and unrecovered pods (a pod never replaced is unrecovered) and errors."""
        if self.pods_status is not None:
            return PodsStatus.from_dict(self.pods_status.to_dict())
        return self._replay()

    def _replay(self) -> PodsStatus:
        tracker = RecoveryTracker(Selection(), math.inf, 0.0)
        initial = set(self.initial_pods)
        uids = {key: f"{key}#0" for key in self.pods if key in initial}
        tracker.snapshot(_pod(uid, self.pods[key], ready=True) for key, uid in uids.items())
        generation: dict[str, int] = {}
        ready: dict[str, bool] = dict.fromkeys(uids.values(), True)
        timeline = sorted(
            (
                (e.timestamp, key, e.status)
                for key, pod in self.pods.items()
                for e in pod.status_changes
            ),
            key=lambda item: item[0],
        )
        for when, key, status in timeline:
            pod = self.pods[key]
            if status is PodStatus.ADDED:
                generation[key] = generation.get(key, 0) + 1
                uids[key] = f"{key}#{generation[key]}"
                ready[uids[key]] = False
            uid = uids.get(key)
            if uid is None:
                continue
            if status is PodStatus.DELETED:
                tracker.observe_gone(uid, when)
                continue
            if status in (PodStatus.READY, PodStatus.NOT_READY):
                ready[uid] = status is PodStatus.READY
            deleting = status is PodStatus.DELETION_SCHEDULED
            tracker.observe(_pod(uid, pod, ready=ready[uid], deleting=deleting), when)
        return tracker.status(unreplaced_unrecovered=True)


def _pod(uid: str, pod: MonitoredPod, *, ready: bool, deleting: bool = False) -> dict[str, Any]:
    """A pod object as the tracker reads it, for a replayed timeline entry."""
    meta: dict[str, Any] = {"uid": uid, "name": pod.name, "namespace": pod.namespace}
    if deleting:
        meta["deletionTimestamp"] = "replayed"
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {"metadata": meta, "status": {"conditions": [condition]}}


class _SnapshotFuture(Future[PodsSnapshot]):
    """A future whose ``cancel()`` stops the running monitor (it then completes soon)."""

    def __init__(self, pool: PodsMonitorPool) -> None:
        super().__init__()
        self.pool = pool

    def cancel(self) -> bool:
        self.pool.cancel()
        return False


def _snapshot_of(monitor: PodMonitor, status: PodsStatus, resource_version: str) -> PodsSnapshot:
    snapshot = PodsSnapshot()
    snapshot.resource_version = resource_version
    tracker = monitor.tracker
    for entry in tracker.timeline.values():
        key = entry.name
        existing = snapshot.pods.get(key)
        if existing is not None and existing.namespace != entry.namespace:
            key = f"{entry.namespace}/{entry.name}"
        pod = snapshot.pods.setdefault(key, MonitoredPod(entry.namespace, entry.name))
        pod.status_changes += [
            PodEvent(PodStatus[status], tracker.wall(t) or 0.0) for status, t in entry.events
        ]
        target = snapshot.initial_pods if entry.initial else snapshot.added_pods
        if key not in target:
            target.append(key)
    for pod in snapshot.pods.values():
        pod.status_changes.sort(key=lambda e: e.timestamp)
    never_replaced = tracker.status(unreplaced_unrecovered=True).unrecovered
    status.unrecovered += [p for p in never_replaced if p.replacement_name is None]
    snapshot.pods_status = status
    return snapshot


def _start(v1_client: Any, max_timeout: Any, **selection: Any) -> Future[PodsSnapshot]:
    pool = PodsMonitorPool(v1_client, settle_seconds=DEFAULT_SETTLE_SECONDS)
    monitor = pool.select_and_monitor(max_timeout=max_timeout, field_selector=RUNNING, **selection)
    resource_version = monitor.resource_version
    future = _SnapshotFuture(pool)
    future.set_running_or_notify_cancel()

    def finish() -> None:
        try:
            future.set_result(_snapshot_of(monitor, pool.join(), resource_version))
        except Exception as exc:  # the future carries it to result()
            future.set_exception(exc)

    threading.Thread(target=finish, name="podmonitor-snapshot", daemon=True).start()
    return future


def select_and_monitor_by_label(
    label_selector: str, max_timeout: float, v1_client: Any
) -> Future[PodsSnapshot]:
    """Monitor the Running pods matching ``label_selector`` in all namespaces."""
    return _start(v1_client, max_timeout, label_selector=label_selector)


def select_and_monitor_by_name_pattern_and_namespace_pattern(
    pod_name_pattern: str, namespace_pattern: str, max_timeout: float, v1_client: Any
) -> Future[PodsSnapshot]:
    """Monitor the Running pods whose name and namespace match the regexes from their start."""
    return _start(
        v1_client, max_timeout, name_pattern=pod_name_pattern, namespace_pattern=namespace_pattern
    )


def select_and_monitor_by_namespace_pattern_and_label(
    namespace_pattern: str, label_selector: str, v1_client: Any, max_timeout: float = 30
) -> Future[PodsSnapshot]:
    """Monitor the Running pods matching ``label_selector`` in namespaces matching the regex."""
    return _start(
        v1_client, max_timeout, label_selector=label_selector, namespace_pattern=namespace_pattern
    )
