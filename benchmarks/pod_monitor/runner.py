"""One monitoring run in its own process, so its CPU time and HTTP requests are its own.

``python runner.py MODE KUBECONFIG TIMEOUT SETTLE NS...`` with MODE ``watch`` (kubepulse's
PodsMonitorPool), ``watch-list`` (the same with streamed lists off, as on Kubernetes 1.33: a
list then a watch per monitor), ``poll`` (a krkn-lib-like monitor: a thread per selection
listing pods every second through the generated client and its models) or ``poll-raw`` (the
same, listing raw JSON). Prints ``WATCHING`` once every monitor has its snapshot, then one JSON
line: requests, CPU seconds, wall seconds and the merged PodsStatus.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from kubepulse.kube.client import connect, load_configuration
from kubepulse.podmonitor import PodsMonitorPool, PodsStatus
from kubepulse.podmonitor._kube import KubeApi
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
    listed: Callable[[str], list[dict[str, Any]]],
    namespace: str,
    timeout: float,
    settle: float,
    ready: threading.Event,
) -> PodsStatus:
    """krkn-lib's approach: list the selected pods every second and diff the lists."""
    stop = current_stop_event()
    tracker = RecoveryTracker(
        Selection(label_selector=LABEL), timeout, time.time() - time.monotonic()
    )
    started = time.monotonic()
    tracker.snapshot(listed(namespace))
    ready.set()
    while not stop.wait(1.0):
        pods = listed(namespace)
        now = time.monotonic()
        tracker.reconcile(pods, now)
        resolved = tracker.resolved_at()
        if now - started >= timeout or (resolved is not None and now >= resolved + settle):
            break
    return tracker.status()


def pollers(mode: str, kubeconfig: str) -> tuple[Callable[[str], list[dict[str, Any]]], list[int]]:
    """The list function for ``poll`` (generated models, as krkn-lib) or ``poll-raw`` (raw
    JSON through kubepulse's client: polling at its cheapest), and its request counter."""
    if mode == "poll-raw":
        api = KubeApi(connect(kubeconfig))
        return (lambda ns: api.list_pods(ns, LABEL)[0]), count_requests(api.client._pool)
    configuration = load_configuration(kubeconfig)
    configuration.connection_pool_maxsize = 32
    api_client = k8s.ApiClient(configuration)
    core = k8s.CoreV1Api(api_client)

    def listed(ns: str) -> list[dict[str, Any]]:
        pods = core.list_namespaced_pod(ns, label_selector=LABEL).items
        return [api_client.sanitize_for_serialization(p) for p in pods]

    return listed, count_requests(api_client.rest_client.pool_manager)


def main() -> None:
    mode, kubeconfig, timeout, settle, *namespaces = sys.argv[1:]
    # CPU from here on: imports cost both contenders the same and are not monitoring work.
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    if mode in ("watch", "watch-list"):
        client = connect(kubeconfig)
        if mode == "watch-list":
            client.streaming_lists = False
        requests = count_requests(client._pool)
        pool = PodsMonitorPool(client, settle_seconds=float(settle))
        for ns in namespaces:
            # Anchored: patterns match from the start (re.match); "^ns$" is one namespace's watch.
            pool.select_and_monitor_by_namespace_pattern_and_label(f"^{ns}$", LABEL, float(timeout))
        pool.wait_until_watching()
        print("WATCHING", flush=True)
        status = pool.join()
    else:
        listed, requests = pollers(mode, kubeconfig)
        events = [threading.Event() for _ in namespaces]
        threads = [
            Threader(target=poll_monitor, args=(listed, ns, float(timeout), float(settle), ev))
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
