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

from kubepulse.podmonitor.models import AffectedPod, PodsStatus

__all__ = [
    "FieldSelector",
    "PodTimeline",
    "Progress",
    "RecoveryTracker",
    "Selection",
    "controller_uid",
    "is_ready",
    "ready_condition",
]


# Pod fields the API server accepts in a field selector, and where they are in the object.
_FIELDS: dict[str, tuple[str, str]] = {
    "metadata.name": ("metadata", "name"),
    "metadata.namespace": ("metadata", "namespace"),
    "spec.nodeName": ("spec", "nodeName"),
    "spec.restartPolicy": ("spec", "restartPolicy"),
    "spec.schedulerName": ("spec", "schedulerName"),
    "spec.serviceAccountName": ("spec", "serviceAccountName"),
    "spec.hostNetwork": ("spec", "hostNetwork"),
    "status.phase": ("status", "phase"),
    "status.podIP": ("status", "podIP"),
    "status.nominatedNodeName": ("status", "nominatedNodeName"),
}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z.]+)\s*(==|!=|=)\s*([^,=!\s]*)\s*$")


@dataclass(frozen=True)
class FieldSelector:
    """A pod field selector (``status.phase=Running``), evaluated here on pod objects.

    The API server's grammar for pods: comma-separated ``field=value``, ``field==value`` or
    ``field!=value`` over the fields the server indexes for pods. ``parse`` raises
    ``ValueError`` naming ``field_selector`` for anything else.
    """

    text: str
    requirements: tuple[tuple[str, bool, str], ...]

    @classmethod
    def parse(cls, text: str, argument: str = "field_selector") -> FieldSelector:
        if not isinstance(text, str):
            raise ValueError(f"{argument}: expected a string, got {type(text).__name__}")
        requirements = []
        for part in text.split(","):
            m = _REQUIREMENT.match(part)
            if m is None:
                raise ValueError(f"{argument}: cannot parse requirement {part.strip()!r}")
            name, op, value = m.groups()
            if name not in _FIELDS:
                known = ", ".join(sorted(_FIELDS))
                raise ValueError(f"{argument}: pods have no field {name!r} (known: {known})")
            requirements.append((name, op != "!=", value))
        return cls(text.strip(), tuple(requirements))

    def matches(self, pod: dict[str, Any]) -> bool:
        for name, equal, value in self.requirements:
            section, key = _FIELDS[name]
            raw = (pod.get(section) or {}).get(key)
            actual = ("true" if raw else "false") if isinstance(raw, bool) else (raw or "")
            if (actual == value) is not equal:
                return False
        return True


@dataclass(frozen=True)
class Selection:
    """Which pods a monitor watches.

    The label selector is applied by the API server. Name and namespace patterns are matched as
    krkn-lib matches them, with ``re.match``: anchored at the start only, so ``web`` selects
    ``web-1`` and ``webshop-0`` but not ``my-web``; end a pattern with ``$`` to match whole
    names. A namespace pattern that is a plain name ending in ``$`` (``^shop$``) becomes a
    server-side namespace filter. The field selector (krkn's plugins pass
    ``status.phase=Running``) decides which pods the initial snapshot holds, as in krkn-lib;
    replacements are followed from their creation, whatever their phase.
    """

    label_selector: str | None = None
    namespace_pattern: re.Pattern[str] | None = None
    name_pattern: re.Pattern[str] | None = None
    field_selector: FieldSelector | None = None

    def matches(self, namespace: str, name: str) -> bool:
        if self.namespace_pattern and not self.namespace_pattern.match(namespace):
            return False
        return not (self.name_pattern and not self.name_pattern.match(name))

    def selects(self, pod: dict[str, Any]) -> bool:
        """Whether ``pod`` belongs in the initial snapshot: patterns and field selector."""
        meta = pod["metadata"]
        if not self.matches(meta["namespace"], meta["name"]):
            return False
        return self.field_selector is None or self.field_selector.matches(pod)

    @property
    def namespace(self) -> str | None:
        """The one namespace to list and watch, when the pattern can match only one name."""
        if self.namespace_pattern is not None:
            m = re.fullmatch(r"\^?([A-Za-z0-9-]+)\$", self.namespace_pattern.pattern)
            if m is not None:
                return m.group(1)
        return None

    def describe(self) -> str:
        parts = []
        if self.label_selector:
            parts.append(f"label {self.label_selector!r}")
        if self.namespace_pattern is not None:
            parts.append(f"namespace ~ {self.namespace_pattern.pattern!r}")
        if self.name_pattern is not None:
            parts.append(f"name ~ {self.name_pattern.pattern!r}")
        if self.field_selector is not None:
            parts.append(f"fields {self.field_selector.text!r}")
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


@dataclass
class PodTimeline:
    """What happened to one pod while it was watched: (status, receipt time) pairs.

    Statuses are krkn-lib's: ``ADDED`` (a pod that was not in the snapshot appeared), ``READY``,
    ``NOT_READY``, ``DELETION_SCHEDULED`` and ``DELETED``; one event per change, times are
    monotonic-clock values until the tracker converts them.
    """

    uid: str
    name: str
    namespace: str
    owner_uid: str | None
    initial: bool
    events: list[tuple[str, float]]


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

    A disruption is a deletion (its ``deletionTimestamp`` appears, or the pod is gone) or a
    Ready pod turning NotReady without one (a container restart, recovered in place). A killed
    pod's replacement is the first new pod that takes its place, by these rules in order:

    1. same controller: a new pod owned by the killed pod's controller (a StatefulSet's pod
       with the killed pod's name first, else the oldest kill of that controller);
    2. same name: a new pod with the killed pod's namespace and name (a bare pod re-created by
       hand, as krkn-lib's own tests do);
    3. krkn-lib's rule, for a killed pod without a controller: a new pod the selection matches,
       created after the kill and owned by no controller whose pods are watched (the oldest such
       kill, in the same namespace if there is one).

    Limits: rule 3 cannot tell a hand-made replacement from an unrelated pod created in the same
    window (another scenario's pod with the same labels would count); a controller's scale-up
    never replaces another controller's pod, and a killed controller pod is replaced only by its
    controller or its name.

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
        self.timeline: dict[str, PodTimeline] = {}
        self._pending: list[_Disruption] = []
        self._excluded: set[str] = set()
        self._by_replacement: dict[str, _Disruption] = {}
        # Pods killed while watched that still exist (terminating), and when the last one went.
        self._terminating: set[str] = set()
        self._last_gone: float | None = None
        self._lock = threading.Lock()
        self._replaced = 0
        self._ready = 0

    def snapshot(self, pods: Iterable[dict[str, Any]]) -> None:
        """The initial list: these pods are watched; nothing in it counts as a disruption."""
        with self._lock:
            for pod in pods:
                if not self.selection.selects(pod):
                    # Left out by the field selector (or the patterns): its later events are not
                    # a new pod appearing.
                    self._excluded.add(pod["metadata"]["uid"])
                    continue
                p = self._add(pod, initial=True)
                p.ready = is_ready(pod)
                p.deleting = pod["metadata"].get("deletionTimestamp") is not None

    def _add(self, pod: dict[str, Any], *, initial: bool) -> _Pod:
        meta = pod["metadata"]
        owner = controller_uid(pod)
        p = _Pod(meta["uid"], meta["name"], meta["namespace"], owner)
        self.pods[p.uid] = p
        self.timeline[p.uid] = PodTimeline(p.uid, p.name, p.namespace, owner, initial, [])
        if owner is not None:
            self.owners.add(owner)
        return p

    def _event(self, p: _Pod, status: str, now: float) -> None:
        self.timeline[p.uid].events.append((status, now))

    def observe(self, pod: dict[str, Any], now: float) -> None:
        """A pod as the watch (or a re-list) delivered it at ``now``."""
        meta = pod["metadata"]
        with self._lock:
            p = self.pods.get(meta["uid"])
            if p is None:
                if meta["uid"] in self._excluded:
                    return
                owner = controller_uid(pod)
                known_owner = owner is not None and owner in self.owners
                matches = self.selection.matches(meta["namespace"], meta["name"])
                if not (known_owner or matches):
                    return
                p = self._add(pod, initial=False)
                self._event(p, "ADDED", now)
                self._match_replacement(p, meta, now, matches and not known_owner)
            ready = is_ready(pod)
            deletion = meta.get("deletionTimestamp")
            if deletion is not None and not p.deleting:
                p.deleting = True
                self._terminating.add(p.uid)
                self._event(p, "DELETION_SCHEDULED", now)
                self._kill(p, now, deletion)
            elif ready != p.ready and not p.deleting:
                self._event(p, "READY" if ready else "NOT_READY", now)
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
            if p is None:
                return
            if not p.deleting:
                p.deleting = True
                self._kill(p, now, None)
            if uid in self._terminating:
                self._terminating.discard(uid)
                self._last_gone = now
            self._event(p, "DELETED", now)

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
            self._pending.append(earlier)
            self._pending.sort(key=lambda w: w.killed_at)
            return
        d = _Disruption(p, "deleted", now, deletion_timestamp)
        self.disruptions.append(d)
        self._pending.append(d)

    def _match_replacement(
        self, p: _Pod, meta: dict[str, Any], now: float, unowned_match: bool
    ) -> None:
        """Give the new pod ``p`` the pending kill it replaces, by the class docstring's rules."""
        pending = self._pending
        if not pending:
            return
        same_owner = [w for w in pending if p.owner_uid and w.pod.owner_uid == p.owner_uid]
        same_name = [w for w in pending if (w.pod.namespace, w.pod.name) == (p.namespace, p.name)]
        d = next(iter(w for w in same_owner if w in same_name), None)
        d = d or next(iter(same_owner), None) or next(iter(same_name), None)
        if d is None and unowned_match:
            bare = [w for w in pending if w.pod.owner_uid is None]
            d = next(iter(w for w in bare if w.pod.namespace == p.namespace), None)
            d = d or next(iter(bare), None)
        if d is None:
            return
        pending.remove(d)
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
        """When the last disruption recovered, if there was one and all have, and every pod
        killed while watched is gone; else None.

        A killed pod still terminating holds the monitor open: krkn's plugins kill a scenario's
        pods one after another with ``KrknKubernetes.delete_pod``, which returns only once the
        pod is gone (a grace period of 30 s is common), so the next kill comes after that, not
        after the replacement is Ready. Settling from the replacement alone could end the
        monitor between two kills of one scenario and miss the second without a word."""
        with self._lock:
            if not self.disruptions or any(d.ready_at is None for d in self.disruptions):
                return None
            if self._terminating:
                return None
            times = [d.ready_at for d in self.disruptions if d.ready_at is not None]
            if self._last_gone is not None:
                times.append(self._last_gone)
            return max(times)

    def wall(self, t: float | None) -> float | None:
        """A time on the tracker's clock as Unix time."""
        return None if t is None else t + self.wall_offset

    def status(
        self, note: str = "", ended_at: float | None = None, *, unreplaced_unrecovered: bool = False
    ) -> PodsStatus:
        """Classify every disruption: recovered within ``max_timeout`` of it, unrecovered
        (replaced but not Ready in time), or an error (never replaced). ``ended_at`` is when
        watching stopped: a kill later than ``ended_at - max_timeout`` had less time than
        ``max_timeout``, and its error says how much. ``unreplaced_unrecovered``: a pod never
        replaced is also listed as unrecovered, under its own name (krkn-lib 7's snapshots do
        that, and krkn fails a run on unrecovered pods only)."""
        result = PodsStatus()
        with self._lock:
            for d in self.disruptions:
                pod = AffectedPod(
                    pod_name=d.pod.name,
                    namespace=d.pod.namespace,
                    disruption=d.kind,
                    killed_pod_name=d.pod.name,
                    killed_at=self.wall(d.killed_at),
                    deletion_timestamp=d.deletion_timestamp,
                )
                if d.replacement is None or d.replaced_at is None:
                    watched = None if ended_at is None else ended_at - d.killed_at
                    # Compared as displayed: a kill 9.98 s before a 10 s monitor ended had 10 s.
                    if watched is not None and round(watched, 1) < self.max_timeout:
                        why = f"was not replaced before the monitor ended, {watched:.1f} s later"
                    else:
                        why = f"was not replaced within {self.max_timeout:g} s"
                    if d.pod.owner_uid is None:
                        why += " (it has no controller and no new pod took its place)"
                    result.add_error(
                        f"pod {d.pod.namespace}/{d.pod.name} was deleted and {why}{note}"
                    )
                    if unreplaced_unrecovered:
                        result.unrecovered.append(pod)
                    continue
                pod.pod_name = pod.replacement_name = d.replacement.name
                pod.replaced_at = self.wall(d.replaced_at)
                pod.replacement_creation_timestamp = d.creation_timestamp
                pod.pod_rescheduling_time = round(d.replaced_at - d.killed_at, 6)
                if d.ready_at is not None and d.ready_at - d.killed_at <= self.max_timeout:
                    pod.ready_at = self.wall(d.ready_at)
                    pod.ready_transition_timestamp = d.ready_timestamp
                    pod.pod_readiness_time = round(d.ready_at - d.replaced_at, 6)
                    pod.total_recovery_time = round(d.ready_at - d.killed_at, 6)
                    result.recovered.append(pod)
                else:
                    result.unrecovered.append(pod)
        return result
