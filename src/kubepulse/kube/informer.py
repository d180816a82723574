"""List+watch of one resource kind on raw JSON, as client-go's reflector does it.

* The first list (paginated) gives the full set and a resourceVersion; the watch starts from it
  with ``allowWatchBookmarks`` so a quiet kind still advances its resourceVersion.
* A watch that ends (server timeout) is re-opened from the last resourceVersion seen.
* ``410 Gone`` (an ``ERROR`` event or an HTTP 410) means that resourceVersion was compacted away:
  list again. A re-list hands the handler the complete new set plus the UIDs that vanished, so
  the cache converges without duplicates or leftovers.
* Connection failures are retried with capped exponential backoff and equal jitter (see
  ``Backoff``); they are never fatal. The first failure of an outage is logged, recovery is
  logged once.

The handler sees batches: ``apply(upserts, deleted_uids, synced)`` with raw object dicts.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import orjson
import urllib3

from kubepulse.kube.client import ApiError, GoneError, KubeClient, WatchStream
from kubepulse.threader import Threader

__all__ = ["Backoff", "Informer", "InformerHandler", "InformerStats", "Resource"]

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 1000


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


class InformerStats(Protocol):
    def list_result(self, resource: str, ok: bool) -> None: ...
    def watch_result(self, resource: str, ok: bool) -> None: ...
    def event(self, resource: str, kind: str) -> None: ...


class Backoff:
    """Capped exponential backoff with equal jitter: ``uniform(d / 2, d)`` where
    ``d = min(cap, base * 2**n)``, so a retry never comes sooner than half the current delay."""

    def __init__(self, base: float = 0.2, cap: float = 4.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class Informer:
    """One list+watch loop in a ``Threader``. ``start()``, ``synced`` (event), ``stop()``."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        handler: InformerHandler,
        *,
        namespace: str | None = None,
        field_selector: str | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        stats: InformerStats | None = None,
        backoff: Backoff | None = None,
        watch_timeout: tuple[int, int] = (300, 600),
    ) -> None:
        self.client = client
        self.resource = resource
        self.handler = handler
        self.namespace = namespace
        self.field_selector = field_selector
        self.keep = keep
        self.stats = stats
        self.backoff = backoff or Backoff()
        self.watch_timeout = watch_timeout
        self.synced = threading.Event()
        self.resource_version: str | None = None
        self._known: set[str] = set()
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._lock = threading.Lock()
        self._thread: Threader | None = None
        self.label = resource.name + (f" in {namespace}" if namespace else "")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Informer:
        """Start (or, after ``stop()``, resume from ``resource_version``) in a daemon thread."""
        self._stop.clear()
        self._thread = Threader(
            target=self._run, name=f"informer-{self.label}", daemon=True, stop_event=self._stop
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            if self._stream is not None:
                self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ loop

    def _params(self) -> dict[str, str]:
        return {"fieldSelector": self.field_selector} if self.field_selector else {}

    def _run(self) -> None:
        outage = False
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
                if outage:
                    log.warning("%s: API reachable again, watching", self.label)
                    outage = False
                self.backoff.reset()
            except GoneError:
                log.info(
                    "%s: resourceVersion %s expired (410), re-listing",
                    self.label,
                    self.resource_version,
                )
                self.resource_version = None
            except (ApiError, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    return
                if not outage:
                    log.warning("%s: %s; retrying with backoff", self.label, exc)
                    outage = True
                self._stop.wait(self.backoff.next())

    def _list(self) -> None:
        path = self.resource.path(self.namespace)
        params = {**self._params(), "limit": str(LIST_PAGE_SIZE)}
        items: list[dict[str, Any]] = []
        try:
            while True:
                page = self.client.get_json(path, params)
                items.extend(page.get("items") or ())
                meta = page.get("metadata") or {}
                if not meta.get("continue"):
                    break
                params["continue"] = meta["continue"]
        except GoneError:
            # The continue token expired mid-list: start over.
            if self.stats:
                self.stats.list_result(self.resource.name, False)
            raise ApiError(410, f"{self.label}: list continue token expired") from None
        except Exception:
            if self.stats:
                self.stats.list_result(self.resource.name, False)
            raise
        if self.stats:
            self.stats.list_result(self.resource.name, True)
        if self.keep is not None:
            items = [o for o in items if self.keep(o)]
        uids = {o["metadata"]["uid"] for o in items}
        gone = self._known - uids
        self._known = uids
        self.handler.apply(items, gone, True)
        self.resource_version = str(meta.get("resourceVersion") or "")
        self.synced.set()
        log.debug("%s: listed %d objects at %s", self.label, len(items), self.resource_version)

    def _watch(self) -> None:
        low, high = self.watch_timeout
        params = {
            **self._params(),
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version or "",
            "timeoutSeconds": str(random.randint(low, high)),
        }
        try:
            stream = self.client.stream(
                self.resource.path(self.namespace), params, read_timeout=high + 30
            )
        except ApiError:
            if self.stats:
                self.stats.watch_result(self.resource.name, False)
            raise
        if self.stats:
            self.stats.watch_result(self.resource.name, True)
        with self._lock:
            if self._stop.is_set():
                stream.close()
                return
            self._stream = stream
        try:
            for line in stream.lines():
                self._event(orjson.loads(line))
                self.backoff.reset()
        finally:
            with self._lock:
                self._stream = None
            stream.close()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise GoneError(410, str(obj.get("message", "")))
            raise ApiError(int(code or 0), str(obj.get("message", obj)))
        if meta.get("resourceVersion"):
            self.resource_version = meta["resourceVersion"]
        if kind == "BOOKMARK":
            return
        if self.stats:
            self.stats.event(self.resource.name, str(kind))
        uid = meta.get("uid")
        if uid is None:
            return
        if kind == "DELETED" or (self.keep is not None and not self.keep(obj)):
            if uid in self._known:
                self._known.discard(uid)
                self.handler.apply((), (uid,), False)
            return
        self._known.add(uid)
        self.handler.apply((obj,), (), False)
