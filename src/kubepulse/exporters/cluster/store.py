"""The UID-keyed store of pre-rendered exposition text, as kube-state-metrics keeps it.

Each resource kind has a ``KindStore``: one ``dict[uid, bytes]`` per metric family. A watch event
renders the object's lines once per family (``FamilySpec.generate``); a delete pops them. A scrape
only concatenates: per family the ``# HELP``/``# TYPE`` header, then ``b"".join`` of the stored
values, cached until that family changes. Gzip is cached the same way, as gzip members (one per
header, one per family body): gzip streams may be concatenated (RFC 1952 multi-member), so an
unchanged family is never compressed twice and a scrape storm costs no compression at all, in
text format 0.0.4 and in OpenMetrics alike.

Only the rendered text is kept per object. ``transform`` (the informer's hook) renders each object
as its page or event is decoded and hands on just its UID and text, so the decoded JSON of a
first list is let go page by page rather than held whole until the list completes.

An update that leaves a family's text unchanged (a pod's status moves, its ``kube_pod_info`` does
not) does not invalidate that family's caches.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubepulse.exposition.text import Family, escape_help, escape_label_value, format_value
from kubepulse.kube.informer import Resource

__all__ = [
    "FamilySpec",
    "Kind",
    "KindStore",
    "Sample",
    "gzip_member",
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


def gzip_member(data: bytes) -> bytes:
    """One complete gzip member (level 1: the speed Prometheus-side decompression never notices)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def openmetrics_header(family: Family) -> str:
    """OpenMetrics names a counter family without its ``_total`` suffix."""
    name = family.name
    if family.type == "counter" and name.endswith("_total"):
        name = name[: -len("_total")]
    return f"# HELP {name} {escape_help(family.help)}\n# TYPE {name} {family.type}\n"


def _pairs(labels: Labels) -> str:
    return ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)


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
        return _cached(_pairs_text, extra, _pairs)
    except TypeError:  # a list: unhashable
        return _pairs(extra)


def _value(value: float) -> str:
    # 1, 1.0 and True are equal keys and all render "1" (0, 0.0, -0.0 and False "0").
    return _cached(_value_text, value, format_value)


def render_object(specs: Sequence[FamilySpec], prefix: Labels, obj: Object) -> list[bytes]:
    """The object's text for each family (``b""`` where it has no samples)."""
    head = _pairs(prefix)
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
        self._generation = [0] * len(self.specs)
        self._cache: list[tuple[int, bytes, bytes | None]] = [(-1, b"", None)] * len(self.specs)
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
        with self._lock:
            for uid in deleted_uids:
                self._objects.discard(uid)
                for i, family in enumerate(self._data):
                    if family.pop(uid, None) is not None:
                        self._generation[i] += 1
            for uid, texts in rendered:
                self._objects.add(uid)
                for i, text in enumerate(texts):
                    family = self._data[i]
                    if text:
                        if family.get(uid) != text:
                            family[uid] = text
                            self._generation[i] += 1
                    elif family.pop(uid, None) is not None:
                        self._generation[i] += 1
            if synced and not self.synced.is_set():
                self._pending_sync -= 1
                if self._pending_sync <= 0:
                    self.synced.set()
        for callback in self.on_change:
            callback()

    def _family(self, i: int, gzip: bool) -> tuple[bytes, bytes | None]:
        gen, body, gz = self._cache[i]
        if gen == self._generation[i] and (gz is not None or not gzip):
            return body, gz
        with self._render_lock:
            with self._lock:
                gen_now = self._generation[i]
                cached_gen, body, gz = self._cache[i]
                if cached_gen != gen_now:
                    body = b"".join(self._data[i].values())
                    gz = None
            if gzip and gz is None:
                gz = gzip_member(body) if body else b""
            self._cache[i] = (gen_now, body, gz)
            return body, gz

    def chunks(self, openmetrics: bool = False) -> list[bytes]:
        """Header and body of each family, in table order (headers for empty families too)."""
        out: list[bytes] = []
        for i in range(len(self.specs)):
            body, _ = self._family(i, False)
            out.append(self._headers[i][openmetrics])
            if body:
                out.append(body)
        return out

    def gzip_chunks(self, openmetrics: bool = False) -> list[bytes]:
        """The same as gzip members: one per header, one per non-empty body, all cached."""
        out: list[bytes] = []
        for i in range(len(self.specs)):
            body_gz = self._family(i, True)[1]
            out.append(self._gz_headers[i][openmetrics])
            if body_gz:
                out.append(body_gz)
        return out

    def samples(self, family: str) -> bytes:
        """The stored text of one family (for tests and debugging)."""
        for i, spec in enumerate(self.specs):
            if spec.name == family:
                return self._family(i, False)[0]
        raise KeyError(family)
