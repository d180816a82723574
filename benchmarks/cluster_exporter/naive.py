"""Baseline (b): the naive exporter. prometheus_client ``Gauge`` objects set from the same watch.

Same informers and the same family tables as kubepulse (so the samples are the same); only the
storage and exposition differ: one labelled ``Gauge`` child per sample, rendered by
prometheus_client at every scrape. Families whose label keys vary per object (``*_labels``) are
left out, which only makes the baseline faster.

Run: python naive.py KUBECONFIG PORT
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import Gauge, start_http_server

from kubepulse.exporters.cluster.exporter import KINDS
from kubepulse.exporters.cluster.store import FamilySpec
from kubepulse.kube.client import connect
from kubepulse.kube.informer import Informer


class GaugeHandler:
    def __init__(self, specs: Sequence[FamilySpec], prefix: Any) -> None:
        self.specs = [s for s in specs if not s.name.endswith("_labels")]
        self.prefix = prefix
        self.gauges: dict[str, Gauge] = {}
        self.children: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        self.lock = threading.Lock()

    def _gauge(self, name: str, help_text: str, keys: tuple[str, ...]) -> Gauge:
        gauge = self.gauges.get(name)
        if gauge is None:
            gauge = self.gauges[name] = Gauge(name.removesuffix("_total"), help_text, keys)
        return gauge

    def _drop(self, uid: str) -> None:
        for name, values in self.children.pop(uid, ()):
            with contextlib.suppress(KeyError):
                self.gauges[name].remove(*values)

    def apply(
        self, upserts: Sequence[dict[str, Any]], deleted: Iterable[str], synced: bool
    ) -> None:
        with self.lock:
            for uid in deleted:
                self._drop(uid)
            for obj in upserts:
                uid = obj["metadata"]["uid"]
                self._drop(uid)
                head = list(self.prefix(obj))
                made: list[tuple[str, tuple[str, ...]]] = []
                for spec in self.specs:
                    for extra, value in spec.generate(obj):
                        pairs = head + list(extra)
                        keys = tuple(k for k, _ in pairs)
                        values = tuple(v for _, v in pairs)
                        gauge = self._gauge(spec.name, spec.help, keys)
                        if tuple(gauge._labelnames) != keys:
                            continue
                        gauge.labels(*values).set(value)
                        made.append((spec.name, values))
                self.children[uid] = made


def main() -> None:
    kubeconfig, port = sys.argv[1], int(sys.argv[2])
    client = connect(kubeconfig)
    informers = []
    for module in KINDS.values():
        handler = GaugeHandler(module.families(None), module.prefix)
        informers.append(Informer(client, module.RESOURCE, handler).start())
    for informer in informers:
        informer.synced.wait()
    start_http_server(port, addr="127.0.0.1")
    print("synced", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
