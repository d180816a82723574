"""What every framework adapter shares: options, the request view, metric families, the guard.

The WSGI/Flask adapter (``kubepulse.webapp``) and the ASGI one (``kubepulse.webapp.asgi``) both
turn a request into the in-progress gauge (``Recorder.running``, or ``running_value`` on the WSGI
hot path) and ``Recorder.finish(...)``; everything else here is framework-free.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.values import MutexValue

__all__ = [
    "OVERFLOW",
    "UNMATCHED",
    "LabelGuard",
    "Options",
    "Recorder",
    "RequestInfo",
    "trace_id_from_traceparent",
]

UNMATCHED = "unmatched"
OVERFLOW = "other"
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)
# The method label of each standard method as sent: one lookup instead of upper() and a set test.
METHOD_LABELS = {m: m for m in METHODS}
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


class RequestInfo:
    """What label and exemplar callables see of a request, the same under WSGI and ASGI.

    ``method`` (upper case), ``path``, ``header(name)`` (case-insensitive, ``None`` if absent)
    and ``raw``: the WSGI environ or the ASGI scope.
    """

    __slots__ = ("_headers", "method", "path", "raw")

    def __init__(self, method: str, path: str, raw: Mapping[str, Any]) -> None:
        self.method = method
        self.path = path
        self.raw = raw
        self._headers: dict[str, str] | None = None

    def header(self, name: str) -> str | None:
        raw = self.raw
        if "headers" in raw and "type" in raw:  # ASGI scope: a list of (bytes, bytes)
            if self._headers is None:
                self._headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw["headers"]
                }
            return self._headers.get(name.lower())
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return raw.get(key)
        value = raw.get("HTTP_" + key)
        return value if value is None else str(value)


LabelValue = str | Callable[[RequestInfo], str]


def trace_id_from_traceparent(request: RequestInfo) -> str | None:
    """The trace id of a W3C ``traceparent`` header (``00-<32 hex>-<16 hex>-<2 hex>``), or None."""
    header = request.header("traceparent")
    if not header:
        return None
    match = _TRACEPARENT.fullmatch(header.strip().lower())
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)


@dataclass(frozen=True)
class Options:
    """The choices ``AppMetrics`` takes; see its docstring for each one."""

    prefix: str = ""
    group_by: str | Callable[[RequestInfo], str | None] = "route"
    exclude: Sequence[str] = ()
    labels: Mapping[str, LabelValue] = field(default_factory=dict)
    buckets: Sequence[float] | None = None
    response_size: bool = False
    exemplars: bool | Callable[[RequestInfo], str | None] = False
    max_label_values: int | None = None

    def __post_init__(self) -> None:
        if self.group_by not in ("route", "endpoint", "path") and not callable(self.group_by):
            raise ValueError(
                f"group_by: {self.group_by!r} is not route, endpoint, path or a callable"
            )
        for name in self.labels:
            if name in ("method", "route", "status", "exception", "le") or not re.fullmatch(
                r"[a-zA-Z_][a-zA-Z0-9_]*", name
            ):
                raise ValueError(f"labels: {name!r} is not a free label name")
        if self.max_label_values is not None and self.max_label_values < 1:
            raise ValueError("max_label_values: must be at least 1")
        if self.prefix and not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", self.prefix):
            raise ValueError(f"prefix: {self.prefix!r} is not a metric name prefix")
        for pattern in self.exclude:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"exclude: {pattern!r}: {exc}") from exc

    def name(self, base: str) -> str:
        """``base`` with the prefix: ``shop_http_requests_total`` for ``shop``."""
        if not self.prefix:
            return base
        return self.prefix + base if self.prefix.endswith("_") else f"{self.prefix}_{base}"

    def excluded(self) -> Callable[[str], bool]:
        """A test of a path against ``exclude`` (each pattern matched from the path's start)."""
        if not self.exclude:
            return lambda path: False
        joined = re.compile("|".join(f"(?:{p})" for p in self.exclude))
        return lambda path: joined.match(path) is not None

    def trace_id(self) -> Callable[[RequestInfo], str | None] | None:
        if self.exemplars is True:
            return trace_id_from_traceparent
        return self.exemplars or None


class LabelGuard:
    """Caps the distinct values each label of one metric takes; later new values become ``other``.

    ``admit(label, value)`` returns the value, or ``OVERFLOW`` once ``limit`` others were seen
    for that label, and counts each replacement in ``dropped{metric,label}``. In multiprocess mode
    each worker keeps its own table, so the cap holds per worker.
    """

    def __init__(self, metric: str, limit: int | None, dropped: Counter | None) -> None:
        self.metric = metric
        self.limit = limit
        self.dropped = dropped
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def admit(self, label: str, value: str) -> str:
        if self.limit is None:
            return value
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if value in seen:
                return value
            if len(seen) < self.limit:
                seen.add(value)
                return value
        if self.dropped is not None:
            self.dropped.labels(self.metric, label).inc()
        return OVERFLOW


class Recorder:
    """The request metric families of one registry and prefix, and the cached label children.

    Families: ``http_requests_total``, ``http_request_duration_seconds`` (histogram),
    ``http_requests_in_progress{method}``, ``http_request_exceptions_total``, and with the
    options, ``http_response_size_bytes`` and ``http_label_values_dropped_total``.
    """

    def __init__(self, registry: CollectorRegistry, options: Options) -> None:
        self.options = options
        self.extra = tuple(options.labels)
        self.static = all(isinstance(v, str) for v in options.labels.values())
        self.static_extra = tuple(v if isinstance(v, str) else "" for v in options.labels.values())
        self.trace_id = options.trace_id()
        # Adapters build a RequestInfo only when something reads it.
        self.needs_request = (
            not self.static or self.trace_id is not None or callable(options.group_by)
        )
        name = options.name
        labels = ["method", "route", "status", *self.extra]
        self.dropped = None
        if options.max_label_values is not None:
            self.dropped = Counter(
                name("http_label_values_dropped_total"),
                "Observations whose label value was replaced by 'other' (the label value cap).",
                ["metric", "label"],
                registry=registry,
            )
        self.guard = LabelGuard(name("http_requests_total"), options.max_label_values, self.dropped)
        self.requests = Counter(
            name("http_requests_total"),
            "HTTP requests answered, by method, route template and status code.",
            labels,
            registry=registry,
        )
        histogram_kw: dict[str, Any] = (
            {"buckets": tuple(options.buckets)} if options.buckets else {}
        )
        self.duration = Histogram(
            name("http_request_duration_seconds"),
            "Time from receiving a request to sending the last byte of its response.",
            labels,
            registry=registry,
            **histogram_kw,
        )
        self.in_progress = Gauge(
            name("http_requests_in_progress"),
            "HTTP requests being served right now.",
            ["method"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.exceptions = Counter(
            name("http_request_exceptions_total"),
            "Requests that ended in an unhandled exception, by exception class.",
            ["method", "route", "exception", *self.extra],
            registry=registry,
        )
        self.size: Histogram | None = None
        if options.response_size:
            self.size = Histogram(
                name("http_response_size_bytes"),
                "Bytes of response body sent, by method, route template and status code.",
                labels,
                registry=registry,
                buckets=SIZE_BUCKETS,
            )
        # labels() validates and looks up on every call; admitted label sets are few (the route
        # table, capped by the guard), so their children are kept here. Races only repeat a lookup.
        self.known: dict[tuple[str, ...], _Series] = {}  # adapters may read it directly
        # Each child's series is made once (a series takes over its children's values), under
        # this lock; _lock is the one the shared values of every series and gauge child take.
        self._series: dict[tuple[str, ...], _Series] = {}
        self._making = threading.Lock()
        self._lock = threading.Lock()
        self.running_children: dict[str, Any] = {}
        # What running_value() returned for each method label (adapters read it directly).
        self.running_values: dict[str, Any] = {}

    def compatible(self, options: Options) -> bool:
        return self.options == options

    def running(self, method: str) -> Any:
        """The in-progress gauge child for ``method``."""
        child = self.running_children.get(method)
        if child is None:
            with self._making:
                child = self.running_children.get(method)
                if child is None:
                    child = self.in_progress.labels(method)
                    _share([(child, ("_value",))], self._lock)
                    self.running_children[method] = child
        return child

    def running_value(self, method: str) -> Any:
        """An object whose ``inc(amount)`` moves the in-progress gauge of ``method``.

        The child's value itself where ``prometheus_client`` has it (``Gauge.inc`` checks the
        child's label values on every call), else the child.
        """
        found = self.running_values.get(method)
        if found is None:
            child = self.running(method)
            value = getattr(child, "_value", None)
            found = self.running_values[method] = value if hasattr(value, "inc") else child
        return found

    def extra_values(self, request: RequestInfo) -> tuple[str, ...]:
        return tuple(
            v if isinstance(v, str) else str(v(request)) for v in self.options.labels.values()
        )

    def series(self, key: tuple[str, ...]) -> _Series:
        """The series of one ``(method, route, status, *extra)``, after the label guard."""
        found = self.known.get(key)
        if found is None:
            method, route, status, *extra = key
            admit = self.guard.admit
            fixed = (
                method,
                admit("route", route),
                status,
                *(admit(label, value) for label, value in zip(self.extra, extra, strict=True)),
            )
            found = self._series.get(fixed)
            if found is None:
                with self._making:
                    found = self._series.get(fixed)
                    if found is None:
                        found = self._series[fixed] = _Series(
                            self.requests.labels(*fixed),
                            self.duration.labels(*fixed),
                            self.size.labels(*fixed) if self.size is not None else None,
                            self._lock,
                        )
            if fixed == key:  # a replaced key is looked up again, so each drop is counted
                self.known[key] = found
        return found

    def finish(
        self,
        method: str,
        route: str,
        status: str,
        seconds: float,
        size: int,
        request: RequestInfo | None,
        exception: str | None,
    ) -> None:
        """Record one answered request (``request`` is needed only for dynamic labels/exemplars)."""
        if self.static or request is None:
            extra = self.static_extra
            key = (method, route, status, *extra) if extra else (method, route, status)
        else:
            extra = self.extra_values(request)
            key = (method, route, status, *extra)
        series = self.known.get(key) or self.series(key)
        if exception:
            self.count_exception(method, route, exception, extra)
        trace = (
            self.trace_id(request) if self.trace_id is not None and request is not None else None
        )
        if trace:
            series.observe_with_exemplar(seconds, size, {"trace_id": trace})
        else:
            series.observe(seconds, size)

    def count_exception(
        self, method: str, route: str, exception: str, extra: tuple[str, ...]
    ) -> None:
        """Count one request that ended in ``exception`` (its class name)."""
        route_label = self.guard.admit("route", route)
        self.exceptions.labels(method, route_label, exception, *extra).inc()


class _Slot:
    """One number of a list, standing in for a child's value object (single process).

    ``prometheus_client`` reads it when collecting (``get``, ``get_exemplar``) and its public
    calls move it (``inc``, ``set``, ``set_exemplar``), as they would its own ``MutexValue``;
    the series that owns the list moves the list directly, under the same lock.
    """

    __slots__ = ("_data", "_exemplar", "_index", "_lock")

    def __init__(self, data: list[float], index: int, lock: threading.Lock) -> None:
        self._data = data
        self._index = index
        self._lock = lock
        self._exemplar: Any = None

    def inc(self, amount: float) -> None:
        with self._lock:
            self._data[self._index] += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        with self._lock:
            self._data[self._index] = value

    def set_exemplar(self, exemplar: Any) -> None:
        with self._lock:
            self._exemplar = exemplar

    def get(self) -> float:
        with self._lock:
            return self._data[self._index]

    def get_exemplar(self) -> Any:
        with self._lock:
            return self._exemplar


def _share(groups: Sequence[tuple[Any, Sequence[str]]], lock: threading.Lock) -> list[float] | None:
    """One list for the numbers the children keep under these attribute names, in this order.

    Only if every one is the plain single-process ``MutexValue`` without an exemplar
    (multiprocess values write files and stay as they are); each is replaced by a slot of the
    list, which starts with their values. The list, or None.
    """
    olds: list[Any] = []
    for metric, names in groups:
        for name in names:
            value = getattr(metric, name, None)
            if type(value) is list:
                olds += value
            else:
                olds.append(value)
    # A fresh child's values (read without their locks: nothing else has the child yet).
    if any(type(v) is not MutexValue or v._exemplar is not None for v in olds):
        return None
    data = [v._value for v in olds]
    slots = [_Slot(data, i, lock) for i in range(len(data))]
    for metric, names in groups:
        for name in names:
            value = getattr(metric, name)
            if type(value) is list:
                value[:], slots = slots[: len(value)], slots[len(value) :]
            else:
                setattr(metric, name, slots.pop(0))
    return data


class _Series:
    """The children of one label set, updated with the fewest calls per request.

    ``Counter.inc`` and ``Histogram.observe`` check, on every call, what holds for a child once
    made (label values present, amount 1 not negative, no exemplar), find the bucket by a loop in
    Python and take one lock per number. In a single process the children's numbers (count, sum,
    buckets, and the size histogram's) are one list instead, moved under one lock and the bucket
    found by bisection (``amount <= bound``, as ``observe`` does); prometheus_client still reads
    and exposes them through the children. In multiprocess mode each value is moved directly.
    A ``prometheus_client`` without those attributes gets the public calls; exemplars always do.
    """

    __slots__ = ("duration", "observe", "requests", "size")
    observe: Callable[[float, int], None]  # (seconds, response bytes)

    def __init__(
        self, requests: Counter, duration: Histogram, size: Histogram | None, lock: threading.Lock
    ) -> None:
        self.requests = requests
        self.duration = duration
        self.size = size
        shared = _shared_observe(requests, duration, size, lock)
        if shared is not None:
            self.observe = shared
            return
        parts = _histogram_parts(duration)
        size_parts = _histogram_parts(size) if size is not None else None
        value = getattr(requests, "_value", None)
        if parts is None or not hasattr(value, "inc") or (size is not None and not size_parts):
            self.observe = self._public
            return
        inc = value.inc  # type: ignore[union-attr]
        sum_inc, bounds, bucket_incs = parts
        top = bounds[-1]
        size_observe = _fast_observe(size_parts) if size_parts is not None else None

        def observe(seconds: float, size: int) -> None:
            inc(1)
            sum_inc(seconds)
            if seconds <= top:  # False only for NaN, which observe() puts in no bucket
                bucket_incs[bisect_left(bounds, seconds)](1)
            if size_observe is not None:
                size_observe(size)

        self.observe = observe

    def _public(self, seconds: float, size: int) -> None:
        self.requests.inc()
        self.duration.observe(seconds)
        if self.size is not None:
            self.size.observe(size)

    def observe_with_exemplar(self, seconds: float, size: int, exemplar: dict[str, str]) -> None:
        self.requests.inc(exemplar=exemplar)
        self.duration.observe(seconds, exemplar=exemplar)
        if self.size is not None:
            self.size.observe(size)


def _shared_observe(
    requests: Counter, duration: Histogram, size: Histogram | None, lock: threading.Lock
) -> Callable[[float, int], None] | None:
    """Give the children one list of numbers (single process); the function recording a
    request into it, or None."""
    bounds = _bounds(duration)
    size_bounds = _bounds(size) if size is not None else ()
    if bounds is None or size_bounds is None:
        return None
    hist = (("_sum", "_buckets"),)
    groups = [(requests, ("_value",)), (duration, *hist)]
    if size is not None:
        groups.append((size, *hist))
    data = _share(groups, lock)
    if data is None:
        return None
    # [count, sum, buckets...] of the duration, then [sum, buckets...] of the size.
    top = bounds[-1]
    size_sum = 2 + len(bounds) if size is not None else 0

    def observe(seconds: float, size: int) -> None:
        with lock:
            data[0] += 1
            data[1] += seconds
            if seconds <= top:  # False only for NaN, which observe() puts in no bucket
                data[bisect_left(bounds, seconds) + 2] += 1
            if size_sum:
                data[size_sum] += size
                data[bisect_left(size_bounds, size) + size_sum + 1] += 1

    return observe


def _histogram_parts(
    histogram: Histogram,
) -> tuple[Callable[[float], None], tuple[float, ...], tuple[Callable[[float], None], ...]] | None:
    """A histogram child's sum ``inc``, bucket bounds and bucket ``inc``s, or None if not found."""
    bounds = _bounds(histogram)
    total = getattr(histogram, "_sum", None)
    if bounds is None or not hasattr(total, "inc"):
        return None
    buckets = histogram._buckets  # type: ignore[attr-defined]
    if not all(hasattr(b, "inc") for b in buckets):
        return None
    return total.inc, bounds, tuple(b.inc for b in buckets)  # type: ignore[union-attr]


def _bounds(histogram: Histogram) -> tuple[float, ...] | None:
    """A histogram child's bucket bounds, one per bucket value, ascending to +Inf; or None."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    if not (
        isinstance(bounds, list | tuple)
        and isinstance(buckets, list)
        and len(buckets) == len(bounds)
        and bounds
        and bounds[-1] == float("inf")
        and list(bounds) == sorted(bounds)
    ):
        return None
    return tuple(bounds)


def _fast_observe(
    parts: tuple[Callable[[float], None], tuple[float, ...], tuple[Callable[[float], None], ...]],
) -> Callable[[float], None]:
    """A histogram child's ``observe`` from its parts, without the per-call checks."""
    sum_inc, bounds, bucket_incs = parts
    top = bounds[-1]

    def observe(amount: float) -> None:
        sum_inc(amount)
        if amount <= top:  # False only for NaN, which observe() puts in no bucket
            bucket_incs[bisect_left(bounds, amount)](1)

    return observe


def method_label(method: str) -> str:
    """The ``method`` label: the standard nine as sent (upper case), anything else ``other``."""
    found = METHOD_LABELS.get(method)
    if found is not None:
        return found
    method = method.upper()
    return method if method in METHODS else "other"


def recorder_for(
    cache: dict[tuple[int, str], Recorder], registry: CollectorRegistry, options: Options
) -> Recorder:
    """One ``Recorder`` per (registry, prefix): instrumenting a second app shares the series."""
    key = (id(registry), options.prefix)
    found = cache.get(key)
    if found is None:
        found = cache[key] = Recorder(registry, options)
    elif not found.compatible(options):
        raise ValueError(
            f"prefix {options.prefix!r}: this registry already has these metrics with other "
            "options; use another prefix or registry"
        )
    return found
