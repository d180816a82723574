"""``PodsMonitorPool``: several pod monitors at once, one ``Threader`` each, results merged.

A drop-in for krkn-lib's ``PodsMonitorPool``: it takes a ``krkn_lib.k8s.KrknKubernetes`` and
both generations of its ``select_and_monitor_*`` signatures (with and without
``field_selector``). Unlike krkn-lib's pool this one watches instead of polling, times each pod
on its own, keeps watching after the first batch of replacements, never caps ``join()``, keeps
every result when some monitor fails, and lets callers fail a run on unrecovered pods
(``PodsStatus.unrecovered``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kubepulse.kube.selectors import compile_pattern, validate_label_selector
from kubepulse.podmonitor._kube import KubeApi, kube_client
from kubepulse.podmonitor.models import PodsStatus
from kubepulse.podmonitor.monitor import DEFAULT_SETTLE_SECONDS, PodMonitor
from kubepulse.podmonitor.tracker import FieldSelector, Progress, Selection
from kubepulse.threader import Threader

__all__ = ["PodsMonitorPool", "kube_client"]


# How long a select_and_monitor_* call may wait for its pods to be selected.
DEFAULT_SELECT_TIMEOUT = 60.0


def _check_positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected seconds as a number, got {value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name}: must be a positive finite number, got {value!r}")
    return float(value)


def _check_timeout(max_timeout: Any) -> float:
    return _check_positive(max_timeout, "max_timeout")


def _krkn_arguments(
    field_selector: Any, max_timeout: Any, default: float | None = None
) -> tuple[str | None, Any]:
    """(field_selector, max_timeout) from either krkn-lib signature: before 5.1 the argument
    after the selection is ``max_timeout``; from 5.1 it is ``field_selector``, then
    ``max_timeout``. A number there is taken for a timeout, a string for a field selector."""
    if isinstance(field_selector, int | float) and not isinstance(field_selector, bool):
        if max_timeout is not None:
            raise ValueError(f"field_selector: expected a string, got {field_selector!r}")
        return None, field_selector
    return field_selector, default if max_timeout is None else max_timeout


class PodsMonitorPool:
    """Monitors pushed by the ``select_and_monitor_*`` calls, joined and merged by ``join()``.

    ``client`` is a ``krkn_lib.k8s.KrknKubernetes``, a ``kubernetes.client.ApiClient`` (or a
    ``CoreV1Api``), a kubeconfig path or a ``kubepulse.kube.client.KubeClient``; all monitors
    share one connection pool, through the proxy its configuration names (see
    ``kube_client``).
    ``settle_seconds``: a monitor whose disruptions have all recovered (and whose killed pods
    are gone: krkn's ``delete_pod`` waits for that before the next kill) ends after this long
    without a new one. ``select_timeout``: how long each ``select_and_monitor_*`` call may wait
    for its pods to be selected and its watch opened.
    ``events`` holds each monitor's stop event, in push order.

    A killed pod's replacement is a new pod of the same controller, else one re-created with the
    same namespace and name, else (for a pod without a controller, krkn-lib's rule) a new pod
    the selection matches that appeared after the kill; ``RecoveryTracker`` gives the details
    and limits. A pod never replaced is an error, as in krkn-lib 5.1.
    """

    def __init__(
        self,
        client: Any,
        *,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        select_timeout: float = DEFAULT_SELECT_TIMEOUT,
    ) -> None:
        if isinstance(settle_seconds, bool) or not isinstance(settle_seconds, int | float):
            raise ValueError(f"settle_seconds: expected a number, got {settle_seconds!r}")
        if settle_seconds < 0:
            raise ValueError(f"settle_seconds: must not be negative, got {settle_seconds!r}")
        self.select_timeout = _check_positive(select_timeout, "select_timeout")
        self.client = kube_client(client)
        self.settle_seconds = float(settle_seconds)
        self.monitors: list[PodMonitor] = []
        self.threads: list[Threader] = []
        self.events: list[threading.Event] = []

    def select_and_monitor_by_label(
        self,
        label_selector: str,
        field_selector: str | float | None = None,
        max_timeout: float | None = None,
    ) -> PodMonitor:
        """Monitor every pod matching ``label_selector``, in all namespaces.

        Both krkn-lib signatures work: ``(label_selector, max_timeout)`` and, from krkn-lib
        5.1, ``(label_selector, field_selector, max_timeout)``.
        """
        return self._krkn_select(field_selector, max_timeout, label_selector=label_selector)

    def select_and_monitor_by_name_pattern_and_namespace_pattern(
        self,
        pod_name_pattern: str,
        namespace_pattern: str,
        field_selector: str | float | None = None,
        max_timeout: float | None = None,
    ) -> PodMonitor:
        """Monitor pods whose name and namespace match the two regexes from their start
        (``re.match``, as krkn-lib). ``(pod_name_pattern, namespace_pattern, max_timeout)`` or,
        from krkn-lib 5.1, ``(pod_name_pattern, namespace_pattern, field_selector,
        max_timeout)``."""
        return self._krkn_select(
            field_selector,
            max_timeout,
            name_pattern=pod_name_pattern,
            namespace_pattern=namespace_pattern,
        )

    def select_and_monitor_by_namespace_pattern_and_label(
        self,
        namespace_pattern: str,
        label_selector: str,
        field_selector: str | float | None = None,
        max_timeout: float | None = None,
    ) -> PodMonitor:
        """Monitor pods matching ``label_selector`` in namespaces matching the regex from
        their start. ``(namespace_pattern, label_selector, max_timeout=30)`` or, from krkn-lib
        5.1, ``(namespace_pattern, label_selector, field_selector=None, max_timeout=30)``."""
        return self._krkn_select(
            field_selector,
            max_timeout,
            default=30,
            label_selector=label_selector,
            namespace_pattern=namespace_pattern,
        )

    def _krkn_select(
        self,
        field_selector: Any,
        max_timeout: Any,
        default: float | None = None,
        **selection: str,
    ) -> PodMonitor:
        """``select_and_monitor`` with the field selector and timeout of either krkn-lib
        signature (``_krkn_arguments``)."""
        fields, timeout = _krkn_arguments(field_selector, max_timeout, default)
        return self.select_and_monitor(field_selector=fields, max_timeout=timeout, **selection)

    def select_and_monitor(
        self,
        *,
        max_timeout: float,
        label_selector: str | None = None,
        namespace_pattern: str | None = None,
        name_pattern: str | None = None,
        field_selector: str | None = None,
    ) -> PodMonitor:
        """Start one monitor for the pods matching every given criterion.

        Patterns match names from their start (``re.match``); ``field_selector`` (such as
        ``status.phase=Running``) narrows the initial selection only, as in krkn-lib, and is
        evaluated here, so the monitor still needs one request.

        Returns once its pods are selected and its watch is open, so a pod killed right after
        the call is seen (krkn's plugins kill at once). The wait is bounded by the pool's
        ``select_timeout``: an API that does not answer raises ``TimeoutError`` naming the
        selection, and that monitor is cancelled. Raises ``ValueError`` naming the argument for
        a bad selector, regex or timeout, before any thread starts.
        """
        timeout = _check_timeout(max_timeout)
        selection = Selection(
            label_selector=(
                None
                if label_selector is None
                else validate_label_selector(label_selector, "label_selector")
            ),
            namespace_pattern=(
                None
                if namespace_pattern is None
                else compile_pattern(namespace_pattern, "namespace_pattern")
            ),
            name_pattern=(
                None if name_pattern is None else compile_pattern(name_pattern, "pod_name_pattern")
            ),
            field_selector=(
                None if field_selector is None else FieldSelector.parse(field_selector)
            ),
        )
        if (
            selection.label_selector is None
            and selection.namespace_pattern is None
            and (selection.name_pattern is None)
        ):
            raise ValueError("label_selector: give a label selector or a pattern to select pods")
        monitor = PodMonitor(KubeApi(self.client), selection, timeout, self.settle_seconds)
        thread = Threader(
            target=monitor.run, name=f"podmonitor-{len(self.threads) + 1}", daemon=True
        )
        self.monitors.append(monitor)
        self.threads.append(thread)
        self.events.append(thread.stop_event)
        thread.start()
        if not monitor.watching.wait(self.select_timeout):
            thread.stop()
            monitor.interrupt()
            raise TimeoutError(
                f"{selection.describe()}: the Kubernetes API did not answer the pod selection "
                f"within {self.select_timeout:g} s"
            )
        return monitor

    def wait_until_watching(self, timeout: float | None = None) -> bool:
        """Block until every monitor has its snapshot and is watching (or has ended)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for monitor in self.monitors:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not monitor.watching.wait(left):
                return False
        return True

    def progress(self) -> Progress:
        total = Progress()
        for monitor in self.monitors:
            total += monitor.tracker.progress()
        return total

    def selected_pods(self) -> list[tuple[str, str]]:
        """(namespace, name) of every live pod some monitor watches, without duplicates."""
        return sorted({pod for m in self.monitors for pod in m.tracker.live_pods()})

    @property
    def requests(self) -> int:
        """API requests (lists and watches) made by the monitors so far."""
        return sum(m.requests for m in self.monitors)

    def cancel(self) -> None:
        """Stop every monitor now; ``join()`` then returns what was gathered within a second."""
        for thread, monitor in zip(self.threads, self.monitors, strict=True):
            thread.stop()
            monitor.interrupt()

    def join(self, timeout: float | None = None) -> PodsStatus:
        """Wait for every monitor (no cap unless ``timeout``) and merge their results.

        A monitor still running after ``timeout`` seconds is cancelled and its partial result
        merged. Each monitor's errors are kept next to everyone's measured pods.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self.threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        if any(t.is_alive() for t in self.threads):
            self.cancel()
            for thread in self.threads:
                thread.join()
        merged = PodsStatus()
        for thread, monitor in zip(self.threads, self.monitors, strict=True):
            result = thread.result()
            if isinstance(result, PodsStatus):
                merged.merge(result)
            else:
                merged.add_error(
                    f"monitor of {monitor.selection.describe()} failed: {thread.exception!r}"
                )
        return merged
