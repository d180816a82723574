"""The UID-keyed store of pre-rendered exposition text, as kube-state-metrics keeps it.

Each resource kind has a ``KindStore``: one ``dict[uid, bytes]`` per metric family. A watch event
renders the object's lines once per family (``FamilySpec.generate``); a delete pops them. A plain
scrape is a ``Stream``: per family the ``# HELP``/``# TYPE`` header, then the stored values,
taken (references only) when the scrape starts and joined into 256 KiB batches only as the
socket accepts them, so no copy of a whole family body is ever held, cached or per scrape (KSM
writes its per-object bytes the same way). Gzip is cached as gzip members (one per header, one
per family body, compressed from those batches): gzip streams may be concatenated (RFC 1952
multi-member), so an unchanged family is never compressed twice and a scrape storm costs no
compression at all, in text format 0.0.4 and in OpenMetrics alike. That cache holds the
compressed text once (a seventh of the text or less), the one whole-body cache kept.

Only the rendered text is kept per object. ``transform`` (the informer's hook) renders each object
as its page or event is decoded and hands on just its UID and text, so the decoded JSON of a
first list is let go page by page rather than held whole until the list completes.

An update that leaves a family's text unchanged (a pod's status moves, its ``kube_pod_info`` does
not) does not invalidate that family's caches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubepulse.exposition.server import Stream
from kubepulse.exposition.text import (
    Family,
    escape_help,
    format_value,
    gzip_member,
    label_pairs,
)
from kubepulse.kube.informer import Resource

__all__ = [
    "FamilySpec",
    "Kind",
    "KindStore",
    "Sample",
    "batches",
    "openmetrics_header",
    "render_object",
]

Labels = Sequence[tuple[str, str]]
Sample = tuple[Labels, float]
Object = dict[str, Any]
# Where ``KindStore.transform`` puts an object's rendered text.
_RENDERED = "kubepulse.rendered"


@dataclass(frozen=True)
class FamilySpec:
    """A family and how one object yields its samples (extra labels after the object's own)."""

    name: str
    help: str
    generate: Callable[[Object], Iterable[Sample]]
    type: str = "gauge"
    opt_in: bool = False  # served only when named by --metric-opt-in-list, as in KSM
    family: Family = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(self.name, self.help, self.type))


@dataclass(frozen=True)
class Kind:
    """One served kind, as its module declares it: ``KIND = Kind(RESOURCE, prefix, families)``.

    ``resource`` is what the informer lists and watches; ``prefix(obj)`` the labels every family
    of the kind starts with; ``families(allowed_labels)`` the family table, in KSM's order, with
    ``allowed_labels`` feeding the kind's ``_labels`` family (``None``: KSM's default, none).
    """

    resource: Resource
    prefix: Callable[[Object], Labels]
    families: Callable[[tuple[str, ...] | None], list[FamilySpec]]

    @property
    def name(self) -> str:
        return self.resource.name


# Stored values are joined into batches of about this size while a scrape is written.
BATCH_BYTES = 256 * 1024


def batches(values: Sequence[bytes], size: int) -> Iterator[bytes]:
    """``values`` (totalling ``size`` bytes) joined into ~``BATCH_BYTES`` batches, in order."""
    if not values:
        return
    step = max(1, BATCH_BYTES * len(values) // max(size, 1))
    if step >= len(values):
        yield b"".join(values)
        return
    for start in range(0, len(values), step):
        yield b"".join(values[start : start + step])


def openmetrics_header(family: Family) -> str:
    """OpenMetrics names a counter family without its ``_total`` suffix."""
    name = family.name
    if family.type == "counter" and name.endswith("_total"):
        name = name[: -len("_total")]
    return f"# HELP {name} {escape_help(family.help)}\n# TYPE {name} {family.type}\n"


# Most extra label sets and values repeat across objects (``phase="Running"``, ``1``), so their
# text is looked up rather than escaped and formatted again. Bounded: emptied when full, so
# high-cardinality labels cost a little churn here, never memory.
_CACHE_LIMIT = 8192
_pairs_text: dict[Labels, str] = {}
_value_text: dict[float, str] = {}


def _cached(cache: dict[Any, str], key: Any, make: Callable[[Any], str]) -> str:
    try:
        return cache[key]
    except KeyError:
        text = cache[key] = make(key)
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        return text


def _extra_pairs(extra: Labels) -> str:
    try:
        return _cached(_pairs_text, extra, label_pairs)
    except TypeError:  # a list: unhashable
        return label_pairs(extra)


def _value(value: float) -> str:
    # 1, 1.0 and True are equal keys and all render "1" (0, 0.0, -0.0 and False "0").
    return _cached(_value_text, value, format_value)


def render_object(specs: Sequence[FamilySpec], prefix: Labels, obj: Object) -> list[bytes]:
    """The object's text for each family (``b""`` where it has no samples)."""
    head = label_pairs(prefix)
    sep = f"{head}," if head else ""
    out: list[bytes] = []
    for spec in specs:
        lines = []
        start = spec.name + "{"
        for extra, value in spec.generate(obj):
            labels = sep + _extra_pairs(extra) if extra else head
            lines.append(f"{start}{labels}}} {_value(value)}\n")
        out.append("".join(lines).encode() if lines else b"")
    return out


class KindStore:
    """Pre-rendered text of one resource kind, keyed by UID. Thread-safe.

    ``prefix(obj)`` gives the labels every family of the kind starts with (``namespace``,
    ``pod``, ``uid`` for pods). ``synced`` is set once every informer feeding the store has
    completed its first list.
    """

    def __init__(
        self,
        resource: str,
        specs: Sequence[FamilySpec],
        prefix: Callable[[Object], Labels],
        informers: int = 1,
    ) -> None:
        self.resource = resource
        self.specs = list(specs)
        self.prefix = prefix
        self._data: list[dict[str, bytes]] = [{} for _ in self.specs]
        self._size = [0] * len(self.specs)  # bytes of text per family
        self._generation = [0] * len(self.specs)
        # Per family: (generation, gzip member of its body) once a gzip scrape asked for it.
        self._gz: list[tuple[int, bytes]] = [(-1, b"")] * len(self.specs)
        self._headers = [
            (spec.family.header.encode(), openmetrics_header(spec.family).encode())
            for spec in self.specs
        ]
        self._gz_headers = [(gzip_member(t), gzip_member(o)) for t, o in self._headers]
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._pending_sync = informers
        self._objects: set[str] = set()
        self.synced = threading.Event()
        self.on_change: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._objects)

    def transform(self, obj: Object) -> Object:
        """``obj`` reduced to its UID and its rendered text, which ``apply`` then takes as is."""
        uid = obj["metadata"]["uid"]
        return {"metadata": {"uid": uid}, _RENDERED: self._render(obj)}

    def _render(self, obj: Object) -> list[bytes]:
        return render_object(self.specs, self.prefix(obj), obj)

    def apply(self, upserts: Sequence[Object], deleted_uids: Iterable[str], synced: bool) -> None:
        """Render ``upserts`` outside the lock (unless ``transform`` did), then swap them in and
        drop ``deleted_uids``."""
        rendered = [
            (
                obj["metadata"]["uid"],
                obj[_RENDERED] if _RENDERED in obj else self._render(obj),
            )
            for obj in upserts
        ]
        size = self._size
        with self._lock:
            for uid in deleted_uids:
                self._objects.discard(uid)
                for i, family in enumerate(self._data):
                    old = family.pop(uid, None)
                    if old is not None:
                        size[i] -= len(old)
                        self._generation[i] += 1
            for uid, texts in rendered:
                self._objects.add(uid)
                for i, text in enumerate(texts):
                    family = self._data[i]
                    if text:
                        old = family.get(uid)
                        if old != text:
                            family[uid] = text
                            size[i] += len(text) - (len(old) if old is not None else 0)
                            self._generation[i] += 1
                    else:
                        old = family.pop(uid, None)
                        if old is not None:
                            size[i] -= len(old)
                            self._generation[i] += 1
            if synced and not self.synced.is_set():
                self._pending_sync -= 1
                if self._pending_sync <= 0:
                    self.synced.set()
        for callback in self.on_change:
            callback()

    def _snapshot(self, i: int) -> tuple[int, list[bytes], int]:
        """Generation, stored values (references) and their total size of family ``i``."""
        with self._lock:
            data = self._data[i]
            return self._generation[i], list(data.values()) if data else [], self._size[i]

    def _gzip_body(self, i: int) -> bytes:
        gen, gz = self._gz[i]
        if gen == self._generation[i]:
            return gz
        with self._render_lock:  # one compression per change, however many scrapes ask
            gen, gz = self._gz[i]
            if gen == self._generation[i]:
                return gz
            gen, values, size = self._snapshot(i)
            gz = gzip_member(batches(values, size)) if values else b""
            self._gz[i] = (gen, gz)
            return gz

    def chunks(self, openmetrics: bool = False) -> Stream:
        """Header and body of each family, in table order (headers for empty families too):
        the values as they are now, batched only while the ``Stream`` is written."""
        with self._lock:  # one consistent view of every family, and the length to match
            views = [
                (list(data.values()), size) if data else ([], 0)
                for data, size in zip(self._data, self._size, strict=True)
            ]
        headers = [h[openmetrics] for h in self._headers]
        length = sum(len(h) for h in headers) + sum(size for _, size in views)

        def produce() -> Iterator[bytes]:
            for header, (values, size) in zip(headers, views, strict=True):
                yield header
                yield from batches(values, size)

        return Stream(length, produce())

    def gzip_chunks(self, openmetrics: bool = False) -> list[bytes]:
        """The same as gzip members: one per header, one per non-empty body, all cached."""
        out: list[bytes] = []
        for i in range(len(self.specs)):
            body_gz = self._gzip_body(i)
            out.append(self._gz_headers[i][openmetrics])
            if body_gz:
                out.append(body_gz)
        return out

    def samples(self, family: str) -> bytes:
        """The stored text of one family (for tests and debugging)."""
        for i, spec in enumerate(self.specs):
            if spec.name == family:
                return b"".join(self._snapshot(i)[1])
        raise KeyError(family)
