"""One pod monitor: snapshot the selected pods, watch them, and time each pod's recovery.

``PodMonitor`` feeds the recovery state machine (``tracker.RecoveryTracker``) from a list
followed by a watch from the list's resourceVersion and runs as the target of one ``Threader``.
Every tracker handler is idempotent on pod state, so a reconnect or a 410 re-list that replays
what was already seen never counts a kill or a replacement twice.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import urllib3

from kubepulse.podmonitor._kube import ApiError, GoneError, KubeApi
from kubepulse.podmonitor.models import PodsStatus
from kubepulse.podmonitor.tracker import Progress, RecoveryTracker, Selection, is_ready
from kubepulse.threader import current_stop_event

__all__ = ["PodMonitor", "Progress", "RecoveryTracker", "Selection", "is_ready"]

Events = Generator[dict[str, Any], None, None]

DEFAULT_SETTLE_SECONDS = 5.0
_BACKOFF_MAX = 2.0


class PodMonitor:
    """Watches one selection for ``max_timeout`` seconds; ``run()`` is a Threader target.

    ``run()`` ends ``max_timeout`` after its snapshot was taken, when its Threader's stop event
    is set (``interrupt()`` unblocks a read in progress), or ``settle_seconds`` after every
    disruption seen so far has recovered. It returns a ``PodsStatus`` and never raises: errors
    become messages in it, next to whatever was measured.
    """

    def __init__(
        self,
        api: KubeApi,
        selection: Selection,
        max_timeout: float,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.selection = selection
        self.max_timeout = max_timeout
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.tracker = RecoveryTracker(selection, max_timeout, time.time() - clock())
        self.watching = threading.Event()
        self.resource_version = ""
        self.requests = 0
        self.reconnects = 0
        self.relists = 0

    def interrupt(self) -> None:
        self.api.interrupt()

    def run(self) -> PodsStatus:
        stop = current_stop_event()
        errors = PodsStatus()
        note = ""
        # Ends the open stream when the settle period is over, so the settle period costs no
        # request of its own (a watch stays open only until then).
        settle = _Alarm(self.api.interrupt)
        events: Events | None = None
        try:
            events = self._snapshot()
            # The clock starts once the snapshot exists: nothing before it can be observed.
            deadline = self.clock() + self.max_timeout
            self.watching.set()
            backoff = 0.1
            while not stop.is_set():
                end = self._end(deadline)
                if self.clock() >= end:
                    break
                try:
                    if events is None:
                        events = self._open_watch(end)
                    self._consume(events, end, stop, settle)
                    backoff = 0.1
                except GoneError:
                    self.relists += 1
                    self._list(initial=False)
                except (ApiError, urllib3.exceptions.HTTPError, OSError) as exc:
                    if stop.is_set():
                        break
                    if isinstance(exc, ApiError) and exc.status in (400, 401, 403, 404):
                        raise
                    self.reconnects += 1
                    stop.wait(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                finally:
                    if events is not None:
                        events.close()
                        events = None
            if stop.is_set():
                note = " (monitor cancelled)"
        except Exception as exc:
            errors.add_error(f"monitor of {self.selection.describe()} failed: {exc}")
        finally:
            settle.cancel()
            if events is not None:
                events.close()
            self.watching.set()
        return self.tracker.status(note, self.clock()).merge(errors)

    def _end(self, deadline: float) -> float:
        resolved = self.tracker.resolved_at()
        return deadline if resolved is None else min(deadline, resolved + self.settle_seconds)

    def _snapshot(self) -> Events | None:
        """Take the initial snapshot. Where the server streams lists (``sendInitialEvents``),
        the snapshot is the start of the watch: one request for both, and the open stream is
        returned. Otherwise a list, and None."""
        if self.api.client.streaming_lists is False:
            self._list(initial=True)
            return None
        self.requests += 1
        planned = math.ceil(self.max_timeout) + 1
        events = self.api.watch_pods(
            self.selection.namespace, self.selection.label_selector, "", planned, initial=True
        )
        pods: list[dict[str, Any]] = []
        try:
            for event in events:
                obj = event["object"]
                if event["type"] != "BOOKMARK":
                    pods.append(obj)
                    continue
                annotations = obj["metadata"].get("annotations") or {}
                if annotations.get("k8s.io/initial-events-end") == "true":
                    self.api.client.streaming_lists = True
                    self.tracker.snapshot(pods)
                    self.resource_version = obj["metadata"]["resourceVersion"]
                    return events
        except ApiError as exc:
            events.close()
            # 422 (or 400 from older servers): streaming lists are switched off or unknown.
            if exc.status not in (400, 422):
                raise
            self.api.client.streaming_lists = False
            self._list(initial=True)
            return None
        events.close()
        if current_stop_event().is_set():
            return None
        raise ApiError(0, "the watch ended before its initial events did")

    def _list(self, *, initial: bool) -> None:
        self.requests += 1
        pods, rv = self.api.list_pods(self.selection.namespace, self.selection.label_selector)
        now = self.clock()
        if initial:
            self.tracker.snapshot(pods)
        else:
            self.tracker.reconcile(pods, now)
        self.resource_version = rv

    def _open_watch(self, end: float) -> Events:
        self.requests += 1
        return self.api.watch_pods(
            self.selection.namespace,
            self.selection.label_selector,
            self.resource_version,
            max(1, math.ceil(end - self.clock())),
        )

    def _consume(self, events: Events, end: float, stop: threading.Event, settle: _Alarm) -> None:
        for event in events:
            now = self.clock()
            if now >= end:
                return
            obj = event["object"]
            kind = event["type"]
            if kind != "BOOKMARK":
                self.tracker.observe(obj, now)
                if kind == "DELETED":
                    self.tracker.observe_gone(obj["metadata"]["uid"], now)
            self.resource_version = obj["metadata"]["resourceVersion"]
            if stop.is_set():
                return
            resolved = self.tracker.resolved_at()
            if resolved is None:
                settle.cancel()
            else:
                settle.set(resolved + self.settle_seconds, now)


class _Alarm:
    """Calls ``action`` once at the time of the latest ``set()``, unless cancelled."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self._timer: threading.Timer | None = None
        self._at: float | None = None

    def set(self, at: float, now: float) -> None:
        """Ring at ``at`` (a time on the same clock as ``now``)."""
        if self._timer is not None and self._at == at:
            return
        self.cancel()
        # A hair late rather than early: an early alarm would end the stream before the
        # settle period does, and the monitor would open a new watch for the rest.
        self._timer = threading.Timer(max(0.0, at - now) + 0.05, self.action)
        self._timer.daemon = True
        self._at = at
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
