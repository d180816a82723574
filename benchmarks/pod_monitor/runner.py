"""One monitoring run in its own process, so its CPU time and HTTP requests are its own.

``python runner.py MODE KUBECONFIG TIMEOUT SETTLE NS...`` with MODE ``watch`` (kubepulse's
PodsMonitorPool) or ``poll`` (a krkn-lib-like monitor: a thread per selection listing pods every
second through the generated client). Prints ``WATCHING`` once every monitor has its snapshot,
then one JSON line: requests, CPU seconds, wall seconds and the merged PodsStatus.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from typing import Any

from kubernetes import client as k8s

from kubepulse.kube.client import connect, load_configuration
from kubepulse.podmonitor import PodsMonitorPool, PodsStatus
from kubepulse.podmonitor.monitor import RecoveryTracker, Selection
from kubepulse.threader import Threader, current_stop_event

LABEL = "app=bench"


def count_requests(pool: Any) -> list[int]:
    """Wrap a urllib3 pool so every HTTP request through it, of any kind, is counted."""
    counter = [0]
    original = pool.request

    def counted(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return original(*args, **kwargs)

    pool.request = counted
    return counter


def poll_monitor(
    api_client: k8s.ApiClient, namespace: str, timeout: float, settle: float, ready: threading.Event
) -> PodsStatus:
    """krkn-lib's approach: list the selected pods every second and diff the lists."""
    core = k8s.CoreV1Api(api_client)
    stop = current_stop_event()
    tracker = RecoveryTracker(
        Selection(label_selector=LABEL), timeout, time.time() - time.monotonic()
    )

    def listed() -> list[dict[str, Any]]:
        pods = core.list_namespaced_pod(namespace, label_selector=LABEL).items
        return [api_client.sanitize_for_serialization(p) for p in pods]

    started = time.monotonic()
    tracker.snapshot(listed())
    ready.set()
    while not stop.wait(1.0):
        pods = listed()
        now = time.monotonic()
        seen = set()
        for pod in pods:
            seen.add(pod["metadata"]["uid"])
            tracker.observe(pod, now)
        for uid in set(tracker.pods) - seen:
            tracker.observe_gone(uid, now)
        resolved = tracker.resolved_at()
        if now - started >= timeout or (resolved is not None and now >= resolved + settle):
            break
    return tracker.status()


def main() -> None:
    mode, kubeconfig, timeout, settle, *namespaces = sys.argv[1:]
    # CPU from here on: imports cost both contenders the same and are not monitoring work.
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    if mode == "watch":
        client = connect(kubeconfig)
        requests = count_requests(client._pool)
        pool = PodsMonitorPool(client, settle_seconds=float(settle))
        for ns in namespaces:
            pool.select_and_monitor_by_namespace_pattern_and_label(ns, LABEL, float(timeout))
        pool.wait_until_watching()
        print("WATCHING", flush=True)
        status = pool.join()
    else:
        configuration = load_configuration(kubeconfig)
        configuration.connection_pool_maxsize = 32
        api_client = k8s.ApiClient(configuration)
        requests = count_requests(api_client.rest_client.pool_manager)
        events = [threading.Event() for _ in namespaces]
        threads = [
            Threader(target=poll_monitor, args=(api_client, ns, float(timeout), float(settle), ev))
            for ns, ev in zip(namespaces, events, strict=True)
        ]
        for t in threads:
            t.start()
        for ev in events:
            ev.wait()
        print("WATCHING", flush=True)
        status = PodsStatus()
        for t in threads:
            t.join()
            status.merge(t.result() or PodsStatus(error=repr(t.exception)))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "requests": requests[0],
                "cpu_seconds": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
                "wall_seconds": time.monotonic() - started,
                "status": status.to_dict(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
