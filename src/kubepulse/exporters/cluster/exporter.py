"""The cluster exporter: informers → KindStores → ``/metrics`` handler, plus self-metrics.

Before every served kind has completed its first list, ``/metrics`` answers **503** (and
``/readyz`` too): a half-synced cache is never served as complete. After that, an outage or a
re-list never empties the cache: the last known state is served until the watch catches up.
"""

from __future__ import annotations

import gc
import itertools
import logging
import platform
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kubepulse import __version__
from kubepulse.exporters.cluster import (
    certificatesigningrequests,
    clusterrolebindings,
    clusterroles,
    configmaps,
    cronjobs,
    daemonsets,
    deployments,
    endpoints,
    endpointslices,
    horizontalpodautoscalers,
    ingressclasses,
    ingresses,
    jobs,
    leases,
    limitranges,
    mutatingwebhookconfigurations,
    namespaces,
    networkpolicies,
    nodes,
    persistentvolumeclaims,
    persistentvolumes,
    poddisruptionbudgets,
    pods,
    replicasets,
    replicationcontrollers,
    resourcequotas,
    rolebindings,
    roles,
    secrets,
    serviceaccounts,
    services,
    statefulsets,
    storageclasses,
    validatingwebhookconfigurations,
    volumeattachments,
)
from kubepulse.exporters.cluster.common import allowed_map_sample, expand_allowlist
from kubepulse.exporters.cluster.custom_resources import (
    CustomResourceConfig,
    CustomResourceSource,
)
from kubepulse.exporters.cluster.store import FamilySpec, Kind, KindStore
from kubepulse.exporters.cluster.usage_by_label import CpuUsageByLabel, RequestsByLabel
from kubepulse.exposition.server import Request, Response, Stream, server_metrics
from kubepulse.exposition.text import CONTENT_TYPE, gzip_member
from kubepulse.kube.client import KubeClient
from kubepulse.kube.informer import Backoff, Informer, InformerHandler

__all__ = [
    "DEFAULT_RESOURCES",
    "KINDS",
    "KSM_RESOURCES",
    "OPT_IN_KINDS",
    "ClusterExporter",
    "Options",
    "family_enabled",
    "kind_families",
    "ksm_type_name",
    "shard_of",
]

log = logging.getLogger(__name__)

# Served kinds, in output order.
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        certificatesigningrequests.KIND,
        clusterrolebindings.KIND,
        clusterroles.KIND,
        configmaps.KIND,
        cronjobs.KIND,
        daemonsets.KIND,
        deployments.KIND,
        endpoints.KIND,
        endpointslices.KIND,
        horizontalpodautoscalers.KIND,
        ingressclasses.KIND,
        ingresses.KIND,
        jobs.KIND,
        leases.KIND,
        limitranges.KIND,
        mutatingwebhookconfigurations.KIND,
        namespaces.KIND,
        networkpolicies.KIND,
        nodes.KIND,
        persistentvolumeclaims.KIND,
        persistentvolumes.KIND,
        poddisruptionbudgets.KIND,
        pods.KIND,
        replicasets.KIND,
        replicationcontrollers.KIND,
        resourcequotas.KIND,
        rolebindings.KIND,
        roles.KIND,
        secrets.KIND,
        serviceaccounts.KIND,
        services.KIND,
        statefulsets.KIND,
        storageclasses.KIND,
        validatingwebhookconfigurations.KIND,
        volumeattachments.KIND,
    )
}
# Served only when --resources names them, as in KSM v2.16.
OPT_IN_KINDS = frozenset(
    {
        "clusterrolebindings",
        "clusterroles",
        "endpointslices",
        "ingressclasses",
        "rolebindings",
        "roles",
        "serviceaccounts",
    }
)
# What --resources defaults to: KSM v2.16's DefaultResources.
DEFAULT_RESOURCES = tuple(name for name in KINDS if name not in OPT_IN_KINDS)
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_GZ_EOF = gzip_member(b"# EOF\n")
_GC_GEN0 = 50_000
# The cyclic collector stays off during the first sync, at most this long (seconds).
GC_PAUSE_MAX = 120.0


def _jump_hash(key: int, buckets: int) -> int:
    """Lamping & Veach jump consistent hash, as github.com/dgryski/go-jump computes it."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def shard_of(uid: str, total_shards: int) -> int:
    """The shard that owns an object: KSM's ``jump.Hash(fnv64a(uid), totalShards)``."""
    return _jump_hash(_fnv64a(uid.encode()), total_shards)


@dataclass
class Options:
    """What the CLI flags choose (see ``cli.py`` for their meaning)."""

    resources: Sequence[str] = DEFAULT_RESOURCES
    namespaces: Sequence[str] = ()
    namespaces_denylist: Sequence[str] = ()
    labels_allowlist: dict[str, tuple[str, ...]] = field(default_factory=dict)
    annotations_allowlist: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Family name patterns (Python regexes, matched anywhere in the name, as KSM's ECMAScript
    # ones are): an allowlist or a denylist, never both; opt-in families need the opt-in list.
    metric_allowlist: Sequence[str] = ()
    metric_denylist: Sequence[str] = ()
    metric_opt_in: Sequence[str] = ()
    shard: int = 0
    total_shards: int = 1
    usage_labels: Sequence[str] = ()
    usage_interval: float = 15.0
    backoff_cap: float = 4.0
    # --custom-resource-state-config(-file): KSM's custom resource state metrics.
    custom_resource_state: CustomResourceConfig | None = None


_LABELS_FAMILY = re.compile(r"^kube_([a-z]+)_labels$")
# KSM kinds whose labels family has no annotations twin.
_NO_ANNOTATIONS = frozenset({"volumeattachments"})


def kind_families(name: str, kind: Kind, opts: Options) -> list[FamilySpec]:
    """The families a kind serves under ``opts``: its table, plus ``kube_<kind>_annotations``
    beside its labels family, less what the metric allow/deny/opt-in lists leave out."""
    labels = expand_allowlist(opts.labels_allowlist, opts.resources).get(name)
    annotations = expand_allowlist(opts.annotations_allowlist, opts.resources).get(name)
    specs: list[FamilySpec] = []
    for spec in kind.families(labels):
        match = _LABELS_FAMILY.match(spec.name)
        if match and name not in _NO_ANNOTATIONS:
            specs.append(_annotations_family(match.group(1), annotations))
        specs.append(spec)
    return [s for s in specs if family_enabled(s, opts)]


def _annotations_family(kind: str, allowed: tuple[str, ...] | None) -> FamilySpec:
    return FamilySpec(
        f"kube_{kind}_annotations",
        "Kubernetes annotations converted to Prometheus labels.",
        lambda o: allowed_map_sample("annotation", o["metadata"].get("annotations"), allowed),
    )


def family_enabled(spec: FamilySpec, opts: Options) -> bool:
    """KSM's allow/deny list (unanchored regexes) and opt-in filter, both applied."""

    def hit(patterns: Sequence[str]) -> bool:
        return any(re.search(p, spec.name) for p in patterns)

    if opts.metric_allowlist:
        included = hit(opts.metric_allowlist)
    else:
        included = not hit(opts.metric_denylist)
    return included and (not spec.opt_in or hit(opts.metric_opt_in))


class Source(Protocol):
    @property
    def synced(self) -> Any: ...
    def chunks(self, openmetrics: bool = False) -> list[bytes] | Stream: ...
    def gzip_chunks(self, openmetrics: bool = False) -> list[bytes]: ...


class _Fanout:
    def __init__(self, handlers: Sequence[InformerHandler]) -> None:
        self.handlers = handlers

    def apply(
        self, upserts: Sequence[dict[str, Any]], deleted_uids: Iterable[str], synced: bool
    ) -> None:
        deleted = list(deleted_uids)
        for handler in self.handlers:
            handler.apply(upserts, deleted, synced)


def _with_requests(store: KindStore) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The store's digest of a pod plus what ``RequestsByLabel`` reads of it: UID, name,
    namespace, labels, phase and each container's requests."""

    def transform(pod: dict[str, Any]) -> dict[str, Any]:
        digest = store.transform(pod)
        meta = pod["metadata"]
        digest["metadata"] = {
            k: meta[k] for k in ("uid", "name", "namespace", "labels") if k in meta
        }
        digest["status"] = {"phase": (pod.get("status") or {}).get("phase")}
        containers = (pod.get("spec") or {}).get("containers") or ()
        digest["spec"] = {
            "containers": [
                {"resources": {"requests": (c.get("resources") or {}).get("requests") or {}}}
                for c in containers
            ]
        }
        return digest

    return transform


# KSM labels its list/watch counters with the Go type it watches (reflect's "*v1.Pod").
_KINDS_BY_PLURAL = {
    "certificatesigningrequests": "CertificateSigningRequest",
    "clusterrolebindings": "ClusterRoleBinding",
    "clusterroles": "ClusterRole",
    "configmaps": "ConfigMap",
    "cronjobs": "CronJob",
    "daemonsets": "DaemonSet",
    "deployments": "Deployment",
    "endpoints": "Endpoints",
    "endpointslices": "EndpointSlice",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "ingressclasses": "IngressClass",
    "ingresses": "Ingress",
    "jobs": "Job",
    "leases": "Lease",
    "limitranges": "LimitRange",
    "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
    "namespaces": "Namespace",
    "networkpolicies": "NetworkPolicy",
    "nodes": "Node",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "persistentvolumes": "PersistentVolume",
    "poddisruptionbudgets": "PodDisruptionBudget",
    "pods": "Pod",
    "replicasets": "ReplicaSet",
    "replicationcontrollers": "ReplicationController",
    "resourcequotas": "ResourceQuota",
    "rolebindings": "RoleBinding",
    "roles": "Role",
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "services": "Service",
    "statefulsets": "StatefulSet",
    "storageclasses": "StorageClass",
    "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
    "volumeattachments": "VolumeAttachment",
}


# Every resource name KSM v2.16 knows (flags naming one that is not served are accepted, as KSM
# accepts them).
KSM_RESOURCES = frozenset(
    {
        *_KINDS_BY_PLURAL,
        "clusterrolebindings",
        "clusterroles",
        "endpoints",
        "ingressclasses",
        "rolebindings",
        "roles",
        "serviceaccounts",
    }
)


def ksm_type_name(resource: str) -> str:
    """``pods`` → ``*v1.Pod``, ``horizontalpodautoscalers`` → ``*v2.HorizontalPodAutoscaler``."""
    served = KINDS.get(resource)
    kind = _KINDS_BY_PLURAL.get(resource)
    if served is None or kind is None:
        return resource
    return f"*{served.resource.group_version.rsplit('/', 1)[-1]}.{kind}"


class _Telemetry:
    """Self-metrics with KSM's names and labels (so its alerts work), plus kubepulse's own."""

    def __init__(self, exporter: ClusterExporter) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        opts = exporter.options
        Info(
            "kube_state_metrics_build",
            "A metric with a constant '1' value labeled by version, revision, branch, goversion "
            "from which kube_state_metrics was built, and the goos and goarch for the build.",
            registry=self.registry,
        ).info(
            {
                "branch": "",
                "goarch": platform.machine(),
                "goos": sys.platform,
                "goversion": f"python{platform.python_version()}",
                "revision": "",
                "tags": "",
                "version": f"kubepulse-{__version__}",
            }
        )
        Gauge(
            "kube_state_metrics_shard_ordinal",
            "Current sharding ordinal/index of this instance",
            ["shard_ordinal"],
            registry=self.registry,
        ).labels(str(opts.shard)).set(opts.shard)
        Gauge(
            "kube_state_metrics_total_shards",
            "Number of total shards this instance is aware of",
            registry=self.registry,
        ).set(opts.total_shards)
        # KSM's pair of API call counters, by result and watched Go type.
        self.lists, self.watches = (
            Counter(
                f"kube_state_metrics_{call}_total",
                f"Number of total resource {call} calls in kube-state-metrics",
                ["result", "resource"],
                registry=self.registry,
            )
            for call in ("list", "watch")
        )
        self.http = Histogram(
            "http_request_duration_seconds",
            "A histogram of requests for kube-state-metrics metrics handler.",
            ["handler", "method"],
            registry=self.registry,
        )
        self.events = Counter(
            "kubepulse_cluster_events_processed_total",
            "Watch events applied to the store, by resource and event type.",
            ["resource", "type"],
            registry=self.registry,
        )
        self.scrape = Histogram(
            "kubepulse_cluster_scrape_duration_seconds",
            "Time to assemble a /metrics response (before sending it).",
            ["encoding"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(exporter))
        self.registry.register(server_metrics())  # kubepulse_http_*, kubepulse_auth_*

    def list_result(self, resource: str, ok: bool) -> None:
        self.lists.labels("success" if ok else "error", ksm_type_name(resource)).inc()

    def watch_result(self, resource: str, ok: bool) -> None:
        self.watches.labels("success" if ok else "error", ksm_type_name(resource)).inc()

    def event(self, resource: str, kind: str) -> None:
        self.events.labels(resource, kind).inc()


class _StoreCollector(Collector):
    def __init__(self, exporter: ClusterExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterable[GaugeMetricFamily]:
        objects = GaugeMetricFamily(
            "kubepulse_cluster_store_objects",
            "Objects held in the exporter's store, by resource.",
            labels=["resource"],
        )
        synced = GaugeMetricFamily(
            "kubepulse_cluster_resource_synced",
            "1 once the resource's first list has completed.",
            labels=["resource"],
        )
        for name, store in self.exporter.stores.items():
            objects.add_metric([name], len(store))
            synced.add_metric([name], 1.0 if store.synced.is_set() else 0.0)
        yield objects
        yield synced


class ClusterExporter:
    """Everything but the HTTP servers: ``start()``, the ``metrics``/``readyz`` handlers."""

    def __init__(self, client: KubeClient, options: Options | None = None) -> None:
        self.client = client
        self.options = options or Options()
        self.stores: dict[str, KindStore] = {}
        self.telemetry = _Telemetry(self)
        self.sources: list[Source] = []
        self.informers: list[Informer] = []
        self.usage: CpuUsageByLabel | None = None
        requests: RequestsByLabel | None = None
        opts = self.options
        keep = None
        if opts.total_shards > 1:

            def keep(obj: dict[str, Any]) -> bool:
                uid = obj["metadata"]["uid"]
                return shard_of(uid, opts.total_shards) == opts.shard

        field_selector = (
            ",".join(f"metadata.namespace!={ns}" for ns in opts.namespaces_denylist) or None
        )
        for name, kind in KINDS.items():
            if name not in opts.resources:
                continue
            namespaced = kind.resource.namespaced
            scopes: list[str | None] = (
                list(opts.namespaces) if namespaced and opts.namespaces else [None]
            )
            store = KindStore(
                name,
                kind_families(name, kind, opts),
                kind.prefix,
                informers=len(scopes),
            )
            self.stores[name] = store
            self.sources.append(store)
            handler: InformerHandler = store
            if name == "pods" and opts.usage_labels:
                requests = RequestsByLabel(opts.usage_labels)
                handler = _Fanout([store, requests])
                self.sources.append(requests)
            for scope in scopes:
                selector = None
                if namespaced:
                    selector = field_selector
                elif name == "namespaces":
                    selector = field_selector and field_selector.replace(
                        "metadata.namespace", "metadata.name"
                    )
                self.informers.append(
                    Informer(
                        client,
                        kind.resource,
                        handler,
                        namespace=scope,
                        field_selector=selector,
                        keep=keep,
                        # The store needs only each object's text; the requests-by-label
                        # fan-out also the few pod fields it sums.
                        transform=store.transform if handler is store else _with_requests(store),
                        stats=self.telemetry,
                        backoff=Backoff(cap=opts.backoff_cap),
                    )
                )
        if opts.usage_labels and "pods" in self.stores:
            self.usage = CpuUsageByLabel(
                client,
                opts.usage_labels,
                opts.usage_interval,
                list(opts.namespaces) or None,
                pods=requests,
            )
            self.sources.append(self.usage)
        self._gc_threshold: tuple[int, ...] | None = None
        self._gc_paused = False
        self._gc_lock = threading.Lock()
        self.gc_pause_max = GC_PAUSE_MAX
        self.custom_resources: CustomResourceSource | None = None
        if opts.custom_resource_state is not None:
            self.custom_resources = CustomResourceSource(
                client,
                opts.custom_resource_state,
                family_filter=lambda spec: family_enabled(spec, opts),
                namespaces=opts.namespaces,
                field_selector=field_selector,
                keep=keep,
                stats=self.telemetry,
                backoff_cap=opts.backoff_cap,
            )
            self.sources.append(self.custom_resources)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ClusterExporter:
        # A first list decodes millions of short-lived containers, almost none of them cyclic;
        # at the default generation-0 threshold (700) the cyclic collector runs thousands of
        # times over them, about a third of a sync's CPU. Raised while the exporter runs.
        # During the first sync it is off altogether (the lists are the bulk of the objects a
        # run ever makes, none of them cyclic; 10 % of a 10,000-pod sync here, even at the raised
        # threshold), until every kind has synced or for ``gc_pause_max`` seconds at most, and
        # not at all if something else had switched it off.
        self._gc_threshold = gc.get_threshold()
        gen0, *older = self._gc_threshold
        gc.set_threshold(max(gen0, _GC_GEN0), *older)
        if gc.isenabled() and self.gc_pause_max > 0:
            gc.disable()
            self._gc_paused = True
            threading.Thread(
                target=self._resume_gc_after_sync, name="gc-after-sync", daemon=True
            ).start()
        for informer in self.informers:
            informer.start()
        if self.usage is not None:
            self.usage.start()
        if self.custom_resources is not None:
            self.custom_resources.start()
        return self

    def stop(self) -> None:
        for informer in self.informers:
            informer.stop(timeout=0)
        if self.usage is not None:
            self.usage.stop()
        if self.custom_resources is not None:
            self.custom_resources.stop()
        for informer in self.informers:
            informer.stop()
        self._resume_gc()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None

    def _resume_gc_after_sync(self) -> None:
        synced = self.wait_synced(self.gc_pause_max)
        if not synced:
            log.info("not synced after %.0f s: cyclic GC on again", self.gc_pause_max)
        self._resume_gc()

    def _resume_gc(self) -> None:
        with self._gc_lock:
            if self._gc_paused:
                self._gc_paused = False
                gc.enable()

    def unsynced(self) -> list[str]:
        waiting = [name for name, store in self.stores.items() if not store.synced.is_set()]
        if self.custom_resources is not None:
            waiting.extend(self.custom_resources.unsynced())
        return waiting

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for store in self.stores.values():
            if not store.synced.wait(max(0.0, deadline - time.monotonic())):
                return False
        while self.custom_resources is not None and self.custom_resources.unsynced():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    # ------------------------------------------------------------------ HTTP handlers

    def metrics(self, request: Request) -> Response:
        """``/metrics``: 503 until synced; gzip members straight from the cache when asked,
        else a ``Stream`` of the stored text (nothing joined beyond the batch being written)."""
        started = time.perf_counter()
        waiting = self.unsynced()
        if waiting:
            return Response(
                503,
                f"not synced yet: {', '.join(waiting)}\n".encode(),
                "text/plain; charset=utf-8",
            )
        accept = request.headers.get("Accept") or ""
        openmetrics = "application/openmetrics-text" in accept
        gzip = "gzip" in (request.headers.get("Accept-Encoding") or "")
        parts: list[list[bytes] | Stream] = [
            source.gzip_chunks(openmetrics) if gzip else source.chunks(openmetrics)
            for source in self.sources
        ]
        headers = {"Content-Encoding": "gzip"} if gzip else {}
        content_type = CONTENT_TYPE
        if openmetrics:
            parts.append([_GZ_EOF if gzip else b"# EOF\n"])
            content_type = OPENMETRICS
        length = sum(
            part.length if isinstance(part, Stream) else sum(len(c) for c in part) for part in parts
        )
        body = Stream(length, itertools.chain.from_iterable(parts))
        elapsed = time.perf_counter() - started
        self.telemetry.scrape.labels("gzip" if gzip else "identity").observe(elapsed)
        self.telemetry.http.labels("metrics", request.method.lower()).observe(elapsed)
        return Response(200, body, content_type, headers)

    def readyz(self, _: Request) -> Response:
        waiting = self.unsynced()
        if waiting:
            return Response(
                503, f"not synced: {', '.join(waiting)}\n".encode(), "text/plain; charset=utf-8"
            )
        return Response(200, b"ok\n", "text/plain; charset=utf-8")
