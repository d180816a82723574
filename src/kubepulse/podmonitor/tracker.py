"""A pod monitor's recovery state machine: pod objects and receipt times in, ``PodsStatus`` out.

``RecoveryTracker`` knows nothing of the API server; ``PodMonitor`` feeds it from a list followed
by a watch. Every handler is idempotent on pod state, so a reconnect or a re-list that replays
what was already seen never counts a kill or a replacement twice.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubepulse.kube.selectors import is_literal_pattern
from kubepulse.podmonitor.models import AffectedPod, PodsStatus

__all__ = [
    "Progress",
    "RecoveryTracker",
    "Selection",
    "controller_uid",
    "is_ready",
    "ready_condition",
]


@dataclass(frozen=True)
class Selection:
    """Which pods a monitor watches. The label selector is applied by the API server; the
    patterns by ``fullmatch`` here. Replacements are followed by owner, whatever their name."""

    label_selector: str | None = None
    namespace_pattern: re.Pattern[str] | None = None
    name_pattern: re.Pattern[str] | None = None

    def matches(self, namespace: str, name: str) -> bool:
        if self.namespace_pattern and not self.namespace_pattern.fullmatch(namespace):
            return False
        return not (self.name_pattern and not self.name_pattern.fullmatch(name))

    @property
    def namespace(self) -> str | None:
        """The one namespace to list and watch, when the pattern is a plain name."""
        if self.namespace_pattern is not None and is_literal_pattern(self.namespace_pattern):
            return self.namespace_pattern.pattern
        return None

    def describe(self) -> str:
        parts = []
        if self.label_selector:
            parts.append(f"label {self.label_selector!r}")
        if self.namespace_pattern is not None:
            parts.append(f"namespace ~ {self.namespace_pattern.pattern!r}")
        if self.name_pattern is not None:
            parts.append(f"name ~ {self.name_pattern.pattern!r}")
        return ", ".join(parts) or "all pods"


@dataclass(frozen=True)
class Progress:
    """Counts for a live display: disruptions seen, replacements seen, disruptions back Ready."""

    killed: int = 0
    replaced: int = 0
    ready: int = 0

    def __add__(self, other: Progress) -> Progress:
        return Progress(
            self.killed + other.killed, self.replaced + other.replaced, self.ready + other.ready
        )


@dataclass
class _Pod:
    uid: str
    name: str
    namespace: str
    owner_uid: str | None
    ready: bool = False
    deleting: bool = False


@dataclass
class _Disruption:
    pod: _Pod
    kind: str
    killed_at: float
    deletion_timestamp: str | None = None
    replacement: _Pod | None = None
    replaced_at: float | None = None
    creation_timestamp: str | None = None
    ready_at: float | None = None
    ready_timestamp: str | None = None


def controller_uid(pod: dict[str, Any]) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            uid: str = ref["uid"]
            return uid
    return None


def ready_condition(pod: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def is_ready(pod: dict[str, Any]) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


class RecoveryTracker:
    """Disruptions and recoveries of the selected pods, from pod objects and receipt times.

    Times passed in are ``time.monotonic()`` values; ``wall_offset`` turns them into Unix time
    for the report. Thread-safe: the monitor thread writes, progress readers read.
    """

    def __init__(self, selection: Selection, max_timeout: float, wall_offset: float) -> None:
        self.selection = selection
        self.max_timeout = max_timeout
        self.wall_offset = wall_offset
        self.pods: dict[str, _Pod] = {}
        self.owners: set[str] = set()
        self.disruptions: list[_Disruption] = []
        self._pending: dict[str, list[_Disruption]] = {}
        self._by_replacement: dict[str, _Disruption] = {}
        self._lock = threading.Lock()
        self._replaced = 0
        self._ready = 0

    def snapshot(self, pods: Iterable[dict[str, Any]]) -> None:
        """The initial list: these pods are watched; nothing in it counts as a disruption."""
        with self._lock:
            for pod in pods:
                meta = pod["metadata"]
                if not self.selection.matches(meta["namespace"], meta["name"]):
                    continue
                p = self._add(pod)
                p.ready = is_ready(pod)
                p.deleting = meta.get("deletionTimestamp") is not None

    def _add(self, pod: dict[str, Any]) -> _Pod:
        meta = pod["metadata"]
        owner = controller_uid(pod)
        p = _Pod(meta["uid"], meta["name"], meta["namespace"], owner)
        self.pods[p.uid] = p
        if owner is not None:
            self.owners.add(owner)
        return p

    def observe(self, pod: dict[str, Any], now: float) -> None:
        """A pod as the watch (or a re-list) delivered it at ``now``."""
        meta = pod["metadata"]
        with self._lock:
            p = self.pods.get(meta["uid"])
            if p is None:
                owner = controller_uid(pod)
                if not (
                    (owner is not None and owner in self.owners)
                    or self.selection.matches(meta["namespace"], meta["name"])
                ):
                    return
                p = self._add(pod)
                self._match_replacement(p, meta, now)
            ready = is_ready(pod)
            deletion = meta.get("deletionTimestamp")
            if deletion is not None and not p.deleting:
                p.deleting = True
                self._kill(p, now, deletion)
            d = self._by_replacement.get(p.uid)
            if d is not None and ready and d.ready_at is None:
                d.ready_at = now
                d.ready_timestamp = (ready_condition(pod) or {}).get("lastTransitionTime")
                self._ready += 1
            elif not p.deleting and p.ready and not ready:
                # Ready -> NotReady without a deletion: a container restart, recovered in place.
                restart = _Disruption(p, "restart", now, replacement=p, replaced_at=now)
                restart.creation_timestamp = meta.get("creationTimestamp")
                self.disruptions.append(restart)
                self._by_replacement[p.uid] = restart
                self._replaced += 1
            p.ready = ready

    def observe_gone(self, uid: str, now: float) -> None:
        """The pod with ``uid`` no longer exists (DELETED event, or missing from a re-list)."""
        with self._lock:
            p = self.pods.pop(uid, None)
            if p is not None and not p.deleting:
                p.deleting = True
                self._kill(p, now, None)

    def reconcile(self, pods: list[dict[str, Any]], now: float) -> None:
        """A re-list after 410 Gone: whatever changed while no watch was open.

        Kills are applied before new pods are looked at, so a replacement created during the gap
        is matched to the kill it replaces rather than taken for a scale-up.
        """
        listed = {pod["metadata"]["uid"] for pod in pods}
        for uid in list(self.pods):
            if uid not in listed:
                self.observe_gone(uid, now)
        for known in (True, False):
            for pod in pods:
                if (pod["metadata"]["uid"] in self.pods) is known:
                    self.observe(pod, now)

    def _kill(self, p: _Pod, now: float, deletion_timestamp: str | None) -> None:
        earlier = self._by_replacement.pop(p.uid, None)
        if earlier is not None and earlier.kind == "deleted" and earlier.ready_at is None:
            # A replacement killed before it was ever Ready: the original kill is still not
            # recovered, and whatever replaces this pod replaces it; measure from the first kill.
            earlier.replacement = earlier.replaced_at = earlier.creation_timestamp = None
            self._replaced -= 1
            if p.owner_uid is not None:
                self._pending.setdefault(p.owner_uid, []).append(earlier)
            return
        d = _Disruption(p, "deleted", now, deletion_timestamp)
        self.disruptions.append(d)
        if p.owner_uid is not None:
            self._pending.setdefault(p.owner_uid, []).append(d)

    def _match_replacement(self, p: _Pod, meta: dict[str, Any], now: float) -> None:
        waiting = self._pending.get(p.owner_uid or "")
        if not waiting:
            return
        # A StatefulSet brings the same name back; anything else replaces the oldest kill.
        d = next((w for w in waiting if w.pod.name == p.name), waiting[0])
        waiting.remove(d)
        d.replacement = p
        d.replaced_at = now
        d.creation_timestamp = meta.get("creationTimestamp")
        self._by_replacement[p.uid] = d
        self._replaced += 1

    def progress(self) -> Progress:
        with self._lock:
            return Progress(len(self.disruptions), self._replaced, self._ready)

    def live_pods(self) -> list[tuple[str, str]]:
        """(namespace, name) of selected pods that exist and are not being deleted."""
        with self._lock:
            return sorted(
                (p.namespace, p.name)
                for p in self.pods.values()
                if not p.deleting and self.selection.matches(p.namespace, p.name)
            )

    def resolved_at(self) -> float | None:
        """When the last disruption recovered, if there was one and all have; else None."""
        with self._lock:
            if not self.disruptions or any(d.ready_at is None for d in self.disruptions):
                return None
            return max(d.ready_at for d in self.disruptions if d.ready_at is not None)

    def _wall(self, t: float | None) -> float | None:
        return None if t is None else t + self.wall_offset

    def status(self, note: str = "", ended_at: float | None = None) -> PodsStatus:
        """Classify every disruption: recovered within ``max_timeout`` of it, unrecovered
        (replaced but not Ready in time), or an error (never replaced). ``ended_at`` is when
        watching stopped: a kill later than ``ended_at - max_timeout`` had less time than
        ``max_timeout``, and its error says how much."""
        result = PodsStatus()
        with self._lock:
            for d in self.disruptions:
                pod = AffectedPod(
                    pod_name=d.pod.name,
                    namespace=d.pod.namespace,
                    disruption=d.kind,
                    killed_at=self._wall(d.killed_at),
                    deletion_timestamp=d.deletion_timestamp,
                )
                if d.replacement is None or d.replaced_at is None:
                    watched = None if ended_at is None else ended_at - d.killed_at
                    if d.pod.owner_uid is None:
                        why = "has no controller, so nothing replaces it"
                    elif watched is not None and watched < self.max_timeout:
                        why = f"was not replaced before the monitor ended, {watched:.1f} s later"
                    else:
                        why = f"was not replaced within {self.max_timeout:g} s"
                    result.add_error(
                        f"pod {d.pod.namespace}/{d.pod.name} was deleted and {why}{note}"
                    )
                    continue
                pod.replacement_name = d.replacement.name
                pod.replaced_at = self._wall(d.replaced_at)
                pod.replacement_creation_timestamp = d.creation_timestamp
                pod.pod_rescheduling_time = round(d.replaced_at - d.killed_at, 6)
                if d.ready_at is not None and d.ready_at - d.killed_at <= self.max_timeout:
                    pod.ready_at = self._wall(d.ready_at)
                    pod.ready_transition_timestamp = d.ready_timestamp
                    pod.pod_readiness_time = round(d.ready_at - d.replaced_at, 6)
                    pod.total_recovery_time = round(d.ready_at - d.killed_at, 6)
                    result.recovered.append(pod)
                else:
                    result.unrecovered.append(pod)
        return result
