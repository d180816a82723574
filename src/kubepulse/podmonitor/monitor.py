"""One pod monitor: snapshot the selected pods, watch them, and time each pod's recovery.

``PodMonitor`` feeds the recovery state machine (``tracker.RecoveryTracker``) from the shared
list+watch loop (``kubepulse.kube.informer.Informer``) and runs as the target of one
``Threader``. Where the server streams lists the snapshot is the start of the watch, so a
monitor makes one request in all; otherwise a list and a watch from its resourceVersion. Every
tracker handler is idempotent on pod state, so a reconnect or a 410 re-list that replays what
was already seen never counts a kill or a replacement twice.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from kubepulse.kube.informer import Backoff, Informer
from kubepulse.podmonitor._kube import PODS, KubeApi
from kubepulse.podmonitor.models import PodsStatus
from kubepulse.podmonitor.tracker import Progress, RecoveryTracker, Selection, is_ready
from kubepulse.threader import current_stop_event

__all__ = ["PodMonitor", "Progress", "RecoveryTracker", "Selection", "is_ready"]

DEFAULT_SETTLE_SECONDS = 5.0
# Refusals that retrying cannot cure: a bad selector, no credentials, no permission, no such API.
FATAL_STATUSES = (400, 401, 403, 404)


class PodMonitor:
    """Watches one selection for ``max_timeout`` seconds; ``run()`` is a Threader target.

    ``run()`` ends ``max_timeout`` after its snapshot was taken, when its Threader's stop event
    is set (``interrupt()`` unblocks a read in progress), or ``settle_seconds`` after every
    disruption seen so far has recovered and every pod killed is gone: the open watch is
    closed then, so the settle period costs no request of its own. The label selector and a
    namespace the pattern pins down go to the server; patterns and the field selector are
    applied by the tracker, so a replacement is seen from its creation. Each event is timed
    when its line is read. Until the snapshot exists a failure ends the monitor (a clear error
    beats silence); after it, connection failures are retried with jittered backoff and 410
    Gone re-lists. It returns a ``PodsStatus`` and never raises: errors become messages in it,
    next to whatever was measured.
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
        self.deadline: float | None = None
        # The first watch carries the snapshot; the server ends it a little after max_timeout
        # should the monitor not have closed it by then.
        planned = math.ceil(max_timeout) + 1
        self.informer = Informer(
            api.client,
            PODS,
            self,
            namespace=selection.namespace,
            label_selector=selection.label_selector,
            backoff=Backoff(base=0.1, cap=2.0),
            watch_timeout=(planned, planned),
            stream_lists=True,
            fatal_statuses=FATAL_STATUSES,
            fail_before_sync=True,
            clock=clock,
        )

    @property
    def requests(self) -> int:
        """API requests made: lists and watches, refused ones included."""
        return self.informer.requests

    @property
    def reconnects(self) -> int:
        return self.informer.reconnects

    @property
    def relists(self) -> int:
        return self.informer.relists

    @property
    def resource_version(self) -> str:
        return self.informer.resource_version or ""

    @resource_version.setter
    def resource_version(self, value: str) -> None:
        self.informer.resource_version = value

    def interrupt(self) -> None:
        """Close the open watch now (a read in progress ends at once)."""
        self.informer.interrupt()

    def run(self) -> PodsStatus:
        stop = current_stop_event()
        errors = PodsStatus()
        note = ""
        try:
            self.informer.run(stop)
            if stop.is_set():
                note = " (monitor cancelled)"
        except Exception as exc:
            errors.add_error(f"monitor of {self.selection.describe()} failed: {exc}")
        finally:
            self.watching.set()
        return self.tracker.status(note, self.clock()).merge(errors)

    # ------------------------------------------------------------------ informer events

    def listed(
        self, objects: Sequence[dict[str, Any]], gone: AbstractSet[str], received: float
    ) -> None:
        if self.deadline is None:
            self.tracker.snapshot(objects)
            # The clock starts once the snapshot exists: nothing before it can be observed.
            self.deadline = self.clock() + self.max_timeout
            self.watching.set()
        else:
            # A re-list after 410 Gone: whatever changed while no watch was open.
            self.tracker.reconcile(list(objects), received)
        self._reschedule()

    def changed(self, kind: str, obj: dict[str, Any], received: float) -> None:
        self.tracker.observe(obj, received)
        if kind == "DELETED":
            self.tracker.observe_gone(obj["metadata"]["uid"], received)
        self._reschedule()

    def _reschedule(self) -> None:
        """End at the deadline, or ``settle_seconds`` after the last recovery if sooner."""
        assert self.deadline is not None
        resolved = self.tracker.resolved_at()
        end = self.deadline
        if resolved is not None:
            end = min(end, resolved + self.settle_seconds)
        self.informer.end_at(end)
