"""Pod CPU usage (and requests) summed by a chosen pod label.

``kubepulse_pod_cpu_usage_cores_by_label{label_name, label_value, namespace}`` sums the containers'
CPU usage from the ``metrics.k8s.io/v1beta1`` PodMetrics (metrics-server), polled every
``interval`` seconds (PodMetrics cannot be watched). Only pods the exporter's pod informer keeps
are counted, with the labels the informer saw: PodMetrics carry no pod UID and the metrics API
takes no field selector, so without this join a ``--namespaces-denylist`` namespace would be
counted and every ``--shard`` would count every pod. Polling starts once that informer has
synced. A pod without any of the labels is not counted. When the metrics API is absent (404,
503: no metrics-server) the exporter logs once, omits the family and keeps polling, so it
appears when the API does.

``kubepulse_pod_resource_requests_by_label{label_name, label_value, namespace, resource, unit}``
sums container requests (cpu in cores, memory in bytes) of pods that are not finished
(phase other than Succeeded/Failed), fed from the pod informer: no metrics API needed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from kubepulse.exporters.cluster.common import quantity
from kubepulse.exposition.text import Family, gzip_member, sample
from kubepulse.kube.client import ApiError, KubeClient
from kubepulse.kube.quantity import parse_quantity

__all__ = ["CpuUsageByLabel", "RequestsByLabel"]

log = logging.getLogger(__name__)

CPU_FAMILY = Family(
    "kubepulse_pod_cpu_usage_cores_by_label",
    "CPU usage of pods in cores (metrics.k8s.io), summed by pod label and namespace.",
)
REQUESTS_FAMILY = Family(
    "kubepulse_pod_resource_requests_by_label",
    "Container resource requests of unfinished pods, summed by pod label and namespace.",
)
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/pods"


class _Rendered:
    """A family rendered on demand and cached until its inputs change."""

    family: Family

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._cache: tuple[int, bytes, bytes] = (-1, b"", b"")
        self.synced = threading.Event()
        self.synced.set()

    def _samples(self) -> str:
        raise NotImplementedError

    def _bump(self) -> None:
        self._generation += 1

    def present(self) -> bool:
        return True

    def _render(self) -> tuple[bytes, bytes]:
        with self._lock:
            gen = self._generation
            if self._cache[0] != gen:
                body = self._samples().encode()
                text = self.family.header.encode() + body
                self._cache = (gen, text, gzip_member(text))
            return self._cache[1], self._cache[2]

    def chunks(self, openmetrics: bool = False) -> list[bytes]:
        return [self._render()[0]] if self.present() else []

    def gzip_chunks(self, openmetrics: bool = False) -> list[bytes]:
        return [self._render()[1]] if self.present() else []


class RequestsByLabel(_Rendered):
    """An informer handler on pods that keeps requests per pod and sums them by label."""

    family = REQUESTS_FAMILY

    def __init__(self, label_names: Sequence[str]) -> None:
        super().__init__()
        self.label_names = tuple(label_names)
        # uid -> (namespace, ((label, value), ...), ((resource, unit, value), ...))
        self._pods: dict[str, tuple[str, tuple[tuple[str, str], ...], tuple[Any, ...]]] = {}
        # (namespace, name) <-> uid of the pods in ``_pods``, for joining PodMetrics.
        self._uids: dict[tuple[str, str], str] = {}
        self._names: dict[str, tuple[str, str]] = {}
        self.synced.clear()

    def chosen_labels(self, namespace: str, name: str) -> tuple[tuple[str, str], ...] | None:
        """The (label, value) pairs of an unfinished pod the informer kept; None if not kept."""
        with self._lock:
            uid = self._uids.get((namespace, name))
            entry = self._pods.get(uid) if uid is not None else None
        return entry[1] if entry is not None else None

    def _forget(self, uid: str) -> None:
        if self._pods.pop(uid, None) is not None:
            self._generation += 1
        key = self._names.pop(uid, None)
        if key is not None and self._uids.get(key) == uid:
            del self._uids[key]

    def apply(
        self, upserts: Sequence[dict[str, Any]], deleted_uids: Iterable[str], synced: bool
    ) -> None:
        with self._lock:
            for uid in deleted_uids:
                self._forget(uid)
            for pod in upserts:
                uid = pod["metadata"]["uid"]
                entry = self._entry(pod)
                if entry is None:
                    self._forget(uid)
                    continue
                if self._pods.get(uid) != entry:
                    self._pods[uid] = entry
                    self._generation += 1
                if uid not in self._names:
                    key = (entry[0], pod["metadata"].get("name", ""))
                    self._names[uid] = key
                    self._uids[key] = uid
        if synced:
            self.synced.set()

    def _entry(
        self, pod: dict[str, Any]
    ) -> tuple[str, tuple[tuple[str, str], ...], tuple[Any, ...]] | None:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return None
        labels = pod["metadata"].get("labels") or {}
        chosen = tuple((n, labels[n]) for n in self.label_names if n in labels)
        if not chosen:
            return None
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for c in (pod.get("spec") or {}).get("containers") or ():
            for resource, raw in ((c.get("resources") or {}).get("requests") or {}).items():
                converted = quantity(resource, str(raw))
                if converted is not None:
                    totals[converted[0], converted[1]] += converted[2]
        return (
            pod["metadata"].get("namespace", ""),
            chosen,
            tuple((r, u, v) for (r, u), v in sorted(totals.items())),
        )

    def _samples(self) -> str:
        sums: dict[tuple[str, str, str, str, str], float] = defaultdict(float)
        for namespace, chosen, requests in self._pods.values():
            for name, value in chosen:
                for resource, unit, amount in requests:
                    sums[name, value, namespace, resource, unit] += amount
        return "".join(
            sample(
                self.family.name,
                (
                    ("label_name", name),
                    ("label_value", value),
                    ("namespace", namespace),
                    ("resource", resource),
                    ("unit", unit),
                ),
                total,
            )
            for (name, value, namespace, resource, unit), total in sorted(sums.items())
        )


class CpuUsageByLabel(_Rendered):
    """Polls PodMetrics and sums CPU usage by label; absent API → family omitted, logged once."""

    family = CPU_FAMILY

    def __init__(
        self,
        client: KubeClient,
        label_names: Sequence[str],
        interval: float = 15.0,
        namespaces: Sequence[str] | None = None,
        pods: RequestsByLabel | None = None,
    ) -> None:
        """``pods``: the pod informer's view; when given, only its pods count, with its labels."""
        super().__init__()
        self.client = client
        self.pods = pods
        self.label_names = tuple(label_names)
        self.interval = interval
        self.namespaces = list(namespaces) if namespaces else None
        self.available = False
        self._sums: dict[tuple[str, str, str], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._absent_logged = False

    def present(self) -> bool:
        return self.available

    def poll(self) -> None:
        """One poll; sets ``available`` and the sums. Errors are logged, never raised."""
        paths = (
            [f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods" for ns in self.namespaces]
            if self.namespaces
            else [METRICS_PATH]
        )
        items: list[dict[str, Any]] = []
        try:
            for path in paths:
                items.extend(self.client.get_json(path, timeout=10).get("items") or ())
        except ApiError as exc:
            if exc.status in (404, 503) or exc.status == 0:
                if not self._absent_logged:
                    log.warning(
                        "metrics API (metrics.k8s.io) unavailable (%s): omitting %s until it "
                        "appears",
                        exc,
                        self.family.name,
                    )
                    self._absent_logged = True
            else:
                log.warning("metrics API: %s", exc)
            with self._lock:
                self.available = False
            return
        if self._absent_logged:
            log.warning("metrics API (metrics.k8s.io) available again")
            self._absent_logged = False
        sums: dict[tuple[str, str, str], float] = defaultdict(float)
        for item in items:
            metadata = item.get("metadata") or {}
            namespace = metadata.get("namespace", "")
            if self.pods is not None:
                chosen = self.pods.chosen_labels(namespace, metadata.get("name", ""))
                if chosen is None:
                    continue
            else:
                labels = metadata.get("labels") or {}
                chosen = tuple((n, labels[n]) for n in self.label_names if n in labels)
            cores = 0.0
            for c in item.get("containers") or ():
                # Nanocore precision: KSM's millicore rounding would inflate idle pods.
                with contextlib.suppress(ValueError):
                    cores += float(parse_quantity(str((c.get("usage") or {}).get("cpu", "0"))))
            for name, value in chosen:
                sums[name, value, namespace] += cores
        with self._lock:
            self._sums = dict(sums)
            self.available = True
            self._generation += 1

    def _samples(self) -> str:
        return "".join(
            sample(
                self.family.name,
                (("label_name", n), ("label_value", v), ("namespace", ns)),
                round(total, 9),
            )
            for (n, v, ns), total in sorted(self._sums.items())
        )

    def _run(self) -> None:
        # Joined against an unsynced informer, a poll would publish sums missing pods.
        while self.pods is not None and not self.pods.synced.wait(0.2):
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def start(self) -> CpuUsageByLabel:
        self._thread = threading.Thread(target=self._run, name="cpu-by-label", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
