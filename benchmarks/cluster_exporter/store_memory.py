"""What the cluster exporter's pod store holds, per pod and per family, measured in process.

10,000 pods shaped as the API server returns the benchmark's kwok pods (managed fields, default
tolerations, the service-account volume, four conditions, one running container) are encoded
as 1,000-pod list pages, then fed to a pod ``KindStore`` with every default family two ways:

- page by page through ``KindStore.transform`` (what the exporter does: each object rendered as
  its page arrives, only its UID and text kept);
- the whole list decoded first, then applied (what it did before: every decoded object alive
  until the list completed).

``tracemalloc`` gives the peak and the retained bytes of each; the per-family table gives each
family's text and the bytes its per-pod entries cost (text + the bytes object + its dict slot).

Run: .venv/bin/python benchmarks/cluster_exporter/store_memory.py [--pods 10000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import table, write_results
from kubepulse.exporters.cluster.exporter import KINDS, Options, kind_families
from kubepulse.exporters.cluster.store import KindStore

PAGE = 1000


def pod(i: int) -> dict[str, Any]:
    """One pod as the API server lists a benchmark pod."""
    name = f"p{i:06d}"
    uid = str(uuid.UUID(int=i))
    return {
        "metadata": {
            "name": name,
            "namespace": "bench",
            "uid": uid,
            "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-12-01T23:00:00Z",
            "labels": {"app": f"a{i % 100}"},
            "managedFields": [
                {
                    "manager": "python",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-12-01T23:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"c"}': {
                                    ".": {},
                                    "f:image": {},
                                    "f:imagePullPolicy": {},
                                    "f:name": {},
                                    "f:resources": {
                                        ".": {},
                                        "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}},
                                    },
                                    "f:terminationMessagePath": {},
                                    "f:terminationMessagePolicy": {},
                                }
                            },
                            "f:dnsPolicy": {},
                            "f:enableServiceLinks": {},
                            "f:nodeName": {},
                            "f:restartPolicy": {},
                            "f:schedulerName": {},
                            "f:securityContext": {},
                            "f:terminationGracePeriodSeconds": {},
                        },
                    },
                },
                {
                    "manager": "kwok",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-12-01T23:00:01Z",
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {
                        "f:status": {
                            "f:conditions": {
                                'k:{"type":"Ready"}': {
                                    ".": {},
                                    "f:lastProbeTime": {},
                                    "f:lastTransitionTime": {},
                                    "f:status": {},
                                    "f:type": {},
                                }
                            },
                            "f:containerStatuses": {},
                            "f:hostIP": {},
                            "f:phase": {},
                            "f:podIP": {},
                            "f:startTime": {},
                        }
                    },
                },
            ],
        },
        "spec": {
            "nodeName": f"kwok-node-{i % 100}",
            "containers": [
                {
                    "name": "c",
                    "image": "example.invalid/x:1",
                    "imagePullPolicy": "IfNotPresent",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "volumeMounts": [
                        {
                            "name": "kube-api-access-abcde",
                            "readOnly": True,
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        }
                    ],
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "volumes": [
                {
                    "name": "kube-api-access-abcde",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                        }
                                    ]
                                }
                            },
                        ],
                        "defaultMode": 420,
                    },
                }
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.0.0.1",
            "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": f"10.1.{i // 250}.{i % 250}",
            "podIPs": [{"ip": f"10.1.{i // 250}.{i % 250}"}],
            "startTime": "2026-12-01T23:00:01Z",
            "qosClass": "Burstable",
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": "2026-12-01T23:00:01Z",
                }
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "c",
                    "state": {"running": {"startedAt": "2026-12-01T23:00:01Z"}},
                    "lastState": {},
                    "ready": True,
                    "restartCount": 0,
                    "image": "example.invalid/x:1",
                    "imageID": "",
                    "started": True,
                }
            ],
        },
    }


def new_store() -> KindStore:
    kind = KINDS["pods"]
    return KindStore("pods", kind_families("pods", kind, Options()), kind.prefix)


def page_by_page(pages: list[bytes]) -> KindStore:
    store = new_store()
    items: list[dict[str, Any]] = []
    for page in pages:
        items.extend(store.transform(o) for o in orjson.loads(page)["items"])
    store.apply(items, (), True)
    return store


def whole_list(pages: list[bytes]) -> KindStore:
    store = new_store()
    items: list[dict[str, Any]] = []
    for page in pages:
        items.extend(orjson.loads(page)["items"])
    store.apply(items, (), True)
    return store


def traced(build: Any, pages: list[bytes]) -> tuple[KindStore, int, int]:
    """The store, the peak bytes while building it and the bytes it keeps."""
    gc.collect()
    tracemalloc.start()
    store = build(pages)
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return store, peak, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10000)
    args = parser.parse_args()
    n = args.pods
    pages = [
        orjson.dumps({"items": [pod(i) for i in range(p, min(n, p + PAGE))], "metadata": {}})
        for p in range(0, n, PAGE)
    ]
    mib = 2**20
    rows = []
    for label, build in (("page by page (now)", page_by_page), ("whole list (before)", whole_list)):
        store, peak, kept = traced(build, pages)
        rows.append([label, f"{peak / mib:.1f}", f"{kept / mib:.1f}", f"{kept / n:.0f}"])
        del store
    store, _, _ = traced(page_by_page, pages)
    tracemalloc.start()
    for _ in store.chunks():  # a plain scrape, written batch by batch
        pass
    plain = tracemalloc.get_traced_memory()
    store.gzip_chunks()
    caches = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    families = []
    for i, spec in enumerate(store.specs):
        values = store._data[i]
        text = sum(len(v) for v in values.values())
        entries = sum(sys.getsizeof(v) for v in values.values()) + sys.getsizeof(values)
        families.append((entries, spec.name, len(values), text))
    families.sort(reverse=True)
    total_text = sum(f[3] for f in families)
    total_entries = sum(f[0] for f in families)
    family_rows = [
        [name, f"{count}", f"{text / n:.0f}", f"{entries / n:.0f}"]
        for entries, name, count, text in families
        if count
    ]
    empty = [name for _, name, count, _ in families if not count]
    lines = [
        f"{n} pods in {len(pages)} list pages of {PAGE} ({len(pages[0]) / mib:.1f} MiB of JSON "
        f"each), {len(store.specs)} pod families (KSM's defaults and kube_pod_annotations).",
        "",
        table(["first list", "peak MiB", "kept MiB", "kept bytes per pod"], rows),
        "",
        f"Scrape caches after one plain and one gzip scrape: {caches / mib:.1f} MiB "
        f"({caches / n:.0f} bytes per pod), the gzip member of each family: the plain scrape "
        f"is streamed from the stored text and keeps nothing ({plain[0] / mib:.1f} MiB after "
        f"it, {plain[1] / mib:.1f} MiB at most while it was written, for a "
        f"{sum(store._size) / mib:.1f} MiB body; until 2026-12-02 each family's joined text "
        "was cached as well, 53 MiB more at 10,000 pods).",
        "",
        f"Per family (bytes per pod; entries = text + bytes object + dict slot; "
        f"total text {total_text / n:.0f}, entries {total_entries / n:.0f}):",
        "",
        table(["family", "pods with text", "text B/pod", "entries B/pod"], family_rows),
        "",
        f"Families with no text for these pods: {', '.join(sorted(empty)) or 'none'}.",
    ]
    write_results("cluster_store_memory", "Cluster exporter: pod store memory", "\n".join(lines))


if __name__ == "__main__":
    main()
