"""List+watch of one resource kind on raw JSON, as client-go's reflector does it.

* The first list (paginated) gives the full set and a resourceVersion; the watch starts from it
  with ``allowWatchBookmarks`` so a quiet kind still advances its resourceVersion.
* ``stream_lists=True`` asks for the list inside the watch (``sendInitialEvents``, a consistent
  read): one request for both, the set complete at the ``k8s.io/initial-events-end`` bookmark.
  A server that refuses it (400 or 422: Kubernetes 1.33 and older, WatchList off) gets a list and
  a watch instead, and the client remembers (``KubeClient.streaming_lists``).
* A watch that ends (server timeout, a closed connection) is re-opened from the last
  resourceVersion seen, so nothing is delivered twice and nothing is skipped.
* ``410 Gone`` (an ``ERROR`` event or an HTTP 410) means that resourceVersion was compacted away:
  list again. A re-list hands the handler the complete new set plus the UIDs that vanished, so
  the cache converges without duplicates or leftovers.
* Failures are retried with capped exponential backoff and equal jitter (see ``Backoff``); so is
  a watch that ends before delivering anything, so a server that closes at once is not hammered.
  The first failure of an outage is logged, recovery is logged once. ``fatal_statuses`` and
  ``fail_before_sync`` make chosen failures end ``run()`` with the error instead.
* ``end_at(t)`` ends the loop at ``t``: the open watch is closed then, a watch opened later asks
  the server to end by then, and nothing read later is delivered.

``transform(obj)`` (client-go's ``SetTransform``) is applied to each kept object as soon as its
page or event is decoded, before the handler sees it; what it returns must keep
``metadata.uid``. A handler that only needs a digest of each object (pre-rendered text) lets the
decoded JSON go page by page instead of holding the whole first list. While one page is being
kept and transformed, the next one is already being fetched. ``DELETED`` events are handed over
as decoded (only their UID matters).

Two kinds of handler. An ``InformerHandler`` sees batches: ``apply(upserts, deleted_uids,
synced)`` with raw object dicts. An ``EventHandler`` sees each list and each event with the time
its data was read (``clock()``, monotonic by default, taken as the event's line arrives).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import orjson
import urllib3

from kubepulse.kube.client import ApiError, GoneError, KubeClient, WatchStream, watch_error
from kubepulse.threader import Threader

__all__ = [
    "Backoff",
    "EventHandler",
    "Informer",
    "InformerHandler",
    "InformerStats",
    "Resource",
]

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 1000
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# What a server without streamed lists answers to sendInitialEvents.
_STREAMING_REFUSED = (400, 422)
# An alarm rings a hair late rather than early: early, it would end a watch the loop then has to
# re-open for the rest of the time.
_ALARM_LATE = 0.05


@dataclass(frozen=True)
class Resource:
    """A resource kind: ``Resource("pods", "/api/v1", namespaced=True)``."""

    name: str
    group_version: str
    namespaced: bool = True

    def path(self, namespace: str | None = None) -> str:
        if namespace is not None and self.namespaced:
            return f"{self.group_version}/namespaces/{quote(namespace, safe='')}/{self.name}"
        return f"{self.group_version}/{self.name}"


class InformerHandler(Protocol):
    def apply(
        self, upserts: Sequence[dict[str, Any]], deleted_uids: Iterable[str], synced: bool
    ) -> None:
        """Store ``upserts``, drop ``deleted_uids``. ``synced``: this batch completes a list."""


@runtime_checkable
class EventHandler(Protocol):
    def listed(
        self, objects: Sequence[dict[str, Any]], gone: AbstractSet[str], received: float
    ) -> None:
        """A complete set (a list, or a streamed list's initial events), read at ``received``;
        ``gone``: UIDs delivered before that are not in it."""

    def changed(self, kind: str, obj: dict[str, Any], received: float) -> None:
        """One watch event, ``ADDED``, ``MODIFIED`` or ``DELETED`` (also for an object ``keep``
        no longer keeps), whose line was read at ``received``."""


class InformerStats(Protocol):
    def list_result(self, resource: str, ok: bool) -> None: ...
    def watch_result(self, resource: str, ok: bool) -> None: ...
    def event(self, resource: str, kind: str) -> None: ...


class Backoff:
    """Capped exponential backoff with equal jitter: ``uniform(d / 2, d)`` where
    ``d = min(cap, base * 2**n)``, so a retry never comes sooner than half the current delay.
    ``rng``: the source of the jitter (a seeded ``random.Random`` makes the delays repeatable)."""

    def __init__(
        self, base: float = 0.2, cap: float = 4.0, rng: random.Random | None = None
    ) -> None:
        self.base, self.cap, self.attempt = base, cap, 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return self.rng.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class _Batches:
    """An ``InformerHandler`` seen as an ``EventHandler``."""

    def __init__(self, handler: InformerHandler) -> None:
        self.handler = handler

    def listed(
        self, objects: Sequence[dict[str, Any]], gone: AbstractSet[str], received: float
    ) -> None:
        self.handler.apply(objects, gone, True)

    def changed(self, kind: str, obj: dict[str, Any], received: float) -> None:
        if kind == "DELETED":
            self.handler.apply((), (obj["metadata"]["uid"],), False)
        else:
            self.handler.apply((obj,), (), False)


class _StreamingRefused(Exception):
    """The server refused a streamed list: list and watch instead."""


class Informer:
    """One list+watch loop. ``start()`` runs it in a daemon thread (``synced``, ``stop()``);
    ``run(stop)`` runs it in the calling thread."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        handler: InformerHandler | EventHandler,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        stats: InformerStats | None = None,
        backoff: Backoff | None = None,
        watch_timeout: tuple[int, int] = (300, 600),
        stream_lists: bool = False,
        fatal_statuses: Collection[int] = (),
        fail_before_sync: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.resource = resource
        self.handler = handler
        self._sink: EventHandler = (
            handler if isinstance(handler, EventHandler) else _Batches(handler)
        )
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.keep = keep
        self.transform = transform
        self.stats = stats
        self.backoff = backoff or Backoff()
        self.watch_timeout = watch_timeout
        self.stream_lists = stream_lists
        self.fatal_statuses = frozenset(fatal_statuses)
        self.fail_before_sync = fail_before_sync
        self.clock = clock
        self.synced = threading.Event()
        self.resource_version: str | None = None
        # HTTP requests made (list pages and watches, failed ones too), failures retried, and
        # re-lists after 410 Gone.
        self.requests = 0
        self.reconnects = 0
        self.relists = 0
        self.end: float | None = None
        self._known: set[str] = set()
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._alarm: threading.Timer | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.label = resource.name + (f" in {namespace}" if namespace else "")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Informer:
        """Start (or, after ``stop()``, resume from ``resource_version``) in a daemon thread."""
        self._stop.clear()
        self._thread = Threader(
            target=self.run, name=f"informer-{self.label}", daemon=True, stop_event=self._stop
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    def interrupt(self) -> None:
        """Close the open watch now, from any thread (a read in progress ends at once); the loop
        goes on unless it is stopped or past its end."""
        with self._lock:
            if self._stream is not None:
                self._stream.close()

    def end_at(self, at: float | None) -> None:
        """End the loop at ``at`` (a ``clock()`` time), or not on time at all (None)."""
        with self._lock:
            if at == self.end:
                return
            self.end = at
            if self._alarm is not None:
                self._alarm.cancel()
                self._alarm = None
            if at is not None:
                delay = max(0.0, at - self.clock()) + _ALARM_LATE
                self._alarm = threading.Timer(delay, self.interrupt)
                self._alarm.daemon = True
                self._alarm.start()

    def _over(self) -> bool:
        return self._stop.is_set() or (self.end is not None and self.clock() >= self.end)

    def _wait(self, delay: float) -> None:
        if self.end is not None:
            delay = min(delay, max(0.0, self.end - self.clock()))
        self._stop.wait(delay)

    # ------------------------------------------------------------------ loop

    def run(self, stop: threading.Event | None = None) -> None:
        """The loop, in the calling thread, until ``stop`` (default: ``stop()``'s) is set or the
        end time passes. Raises only what ``fatal_statuses`` and ``fail_before_sync`` name."""
        if stop is not None:
            self._stop = stop
        outage = False
        try:
            while not self._over():
                try:
                    if self.resource_version is None and not self._streaming():
                        self._list()
                    delivered = self._watch()
                    if outage:
                        log.warning("%s: API reachable again, watching", self.label)
                        outage = False
                    if not delivered and not self._over():
                        self._wait(self.backoff.next())
                except _StreamingRefused:
                    log.info("%s: streamed lists refused, listing then watching", self.label)
                except GoneError:
                    log.info(
                        "%s: resourceVersion %s expired (410), re-listing",
                        self.label,
                        self.resource_version,
                    )
                    self.resource_version = None
                    self.relists += 1
                except (ApiError, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                    if self._stop.is_set():
                        return
                    status = exc.status if isinstance(exc, ApiError) else None
                    if status in self.fatal_statuses or (
                        self.fail_before_sync and not self.synced.is_set()
                    ):
                        raise
                    self.reconnects += 1
                    if not outage:
                        log.warning("%s: %s; retrying with backoff", self.label, exc)
                        outage = True
                    self._wait(self.backoff.next())
        finally:
            with self._lock:
                if self._alarm is not None:
                    self._alarm.cancel()
                    self._alarm = None

    def _params(self) -> dict[str, str]:
        params = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params

    def _streaming(self) -> bool:
        return self.stream_lists and self.client.streaming_lists is not False

    def _list(self) -> None:
        path = self.resource.path(self.namespace)
        params = {**self._params(), "limit": str(LIST_PAGE_SIZE)}
        items: list[dict[str, Any]] = []

        def fetch(page_params: dict[str, str]) -> dict[str, Any]:
            self.requests += 1
            return self.client.get_json(path, page_params)

        try:
            # One page in flight while the one before is kept and transformed.
            with ThreadPoolExecutor(1, thread_name_prefix=f"list-{self.label}") as pool:
                pending = pool.submit(fetch, dict(params))
                while True:
                    page = pending.result()
                    meta = page.get("metadata") or {}
                    if meta.get("continue"):
                        params["continue"] = meta["continue"]
                        pending = pool.submit(fetch, dict(params))
                    items.extend(self._prepared(page.pop("items", None) or ()))
                    del page
                    if not meta.get("continue"):
                        break
        except GoneError:
            # The continue token expired mid-list: start over.
            if self.stats:
                self.stats.list_result(self.resource.name, False)
            raise ApiError(410, f"{self.label}: list continue token expired") from None
        except Exception:
            if self.stats:
                self.stats.list_result(self.resource.name, False)
            raise
        received = self.clock()
        if self.stats:
            self.stats.list_result(self.resource.name, True)
        self.resource_version = str(meta.get("resourceVersion") or "")
        self._listed(items, received)
        log.debug("%s: listed %d objects at %s", self.label, len(items), self.resource_version)

    def _prepared(self, objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``objects`` that ``keep`` keeps, transformed."""
        keep, transform = self.keep, self.transform
        kept = [o for o in objects if keep(o)] if keep is not None else list(objects)
        return [transform(o) for o in kept] if transform is not None else kept

    def _listed(self, items: list[dict[str, Any]], received: float) -> None:
        uids = {o["metadata"]["uid"] for o in items}
        gone = self._known - uids
        self._known = uids
        self._sink.listed(items, gone, received)
        self.synced.set()

    def _watch_seconds(self) -> int:
        low, high = self.watch_timeout
        seconds = random.randint(low, high)
        if self.end is not None:
            seconds = min(seconds, max(1, math.ceil(self.end - self.clock())))
        return seconds

    def _watch(self) -> int:
        """One watch, until it ends; the number of lines it delivered. Without a
        resourceVersion, a streamed list first."""
        initial: list[dict[str, Any]] | None = [] if self.resource_version is None else None
        seconds = self._watch_seconds()
        params = {
            **self._params(),
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version or "",
            "timeoutSeconds": str(seconds),
        }
        if initial is not None:
            params["sendInitialEvents"] = "true"
            params["resourceVersionMatch"] = "NotOlderThan"
        self.requests += 1
        try:
            stream = self.client.stream(
                self.resource.path(self.namespace), params, read_timeout=seconds + 30
            )
        except ApiError as exc:
            if self.stats:
                self.stats.watch_result(self.resource.name, False)
            self._check_refusal(exc, initial)
            raise
        if self.stats:
            self.stats.watch_result(self.resource.name, True)
        with self._lock:
            if self._stop.is_set():
                stream.close()
                return 0
            self._stream = stream
        delivered = 0
        try:
            for line in stream.lines():
                received = self.clock()
                if self.end is not None and received >= self.end:
                    return delivered
                delivered += 1
                initial = self._event(orjson.loads(line), received, initial)
                self.backoff.reset()
        finally:
            with self._lock:
                self._stream = None
            stream.close()
        if initial is not None and not self._over():
            raise ApiError(0, f"{self.label}: the watch ended before its initial events did")
        return delivered

    def _check_refusal(self, exc: ApiError, initial: list[dict[str, Any]] | None) -> None:
        if initial is not None and exc.status in _STREAMING_REFUSED:
            self.client.streaming_lists = False
            raise _StreamingRefused from exc

    def _event(
        self, event: dict[str, Any], received: float, initial: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]] | None:
        """Deliver one event; the initial events gathered so far, or None once they are done."""
        kind = event.get("type")
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if kind == "ERROR":
            exc = watch_error(obj)
            self._check_refusal(exc, initial)
            raise exc
        if initial is not None:
            if kind != "BOOKMARK":
                initial.extend(self._prepared((obj,)))
            elif (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true":
                self.client.streaming_lists = True
                if self.stats:
                    self.stats.list_result(self.resource.name, True)
                # Set before the handler sees the set: whoever it tells reads a resumable RV.
                self.resource_version = str(meta.get("resourceVersion") or "")
                self._listed(initial, received)
                return None
            return initial
        if meta.get("resourceVersion"):
            self.resource_version = meta["resourceVersion"]
        if kind == "BOOKMARK":
            return None
        if self.stats:
            self.stats.event(self.resource.name, str(kind))
        uid = meta.get("uid")
        if uid is None:
            return None
        if kind == "DELETED" or (self.keep is not None and not self.keep(obj)):
            if uid in self._known:
                self._known.discard(uid)
                self._sink.changed("DELETED", obj, received)
            return None
        self._known.add(uid)
        self._sink.changed(str(kind), self.transform(obj) if self.transform else obj, received)
        return None
