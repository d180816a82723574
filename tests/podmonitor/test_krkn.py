"""kubepulse's pod monitor as krkn uses krkn-lib's, with krkn-lib's real classes on the test
cluster: ``KrknKubernetes`` for selecting and killing, its models for reading results back, and
krkn-lib's own watch-based monitor run beside ours for comparison.

The scenarios are krkn-lib's own (its pool and monitor tests), ported: bare pods killed and
re-created by hand, mixed outcomes within one monitor, and a bound on how long ``join()`` takes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from krkn_lib.k8s import KrknKubernetes
from krkn_lib.k8s import pod_monitor as krkn_monitor
from krkn_lib.models.k8s import PodsStatus as KrknPodsStatus
from krkn_lib.models.pod_monitor.models import PodsSnapshot as KrknPodsSnapshot
from kubernetes import client as k8s_client
from podmonitor_helpers import apply, bare_pod, deployment, wait_pods

from kubepulse.podmonitor import PodsMonitorPool, PodsStatus
from kubepulse.podmonitor import krkn as api
from kubepulse.podmonitor._kube import KubeApi

pytestmark = pytest.mark.cluster

RUNNING = "status.phase=Running"


@pytest.fixture
def krkn(cluster: Any) -> Iterator[KrknKubernetes]:
    lib = KrknKubernetes(kubeconfig_path=str(cluster.kubeconfig))
    yield lib
    # KrknKubernetes installs its configuration as the kubernetes client's default.
    from kubernetes import client as k8s

    k8s.Configuration.set_default(None)


@pytest.fixture
def three_namespaces(cluster: Any, namespace: str) -> Iterator[list[str]]:
    names = [namespace, f"{namespace}-b", f"{namespace}-c"]
    for name in names[1:]:
        cluster.kubectl("create", "namespace", name)
    yield names
    for name in names[1:]:
        cluster.kubectl("delete", "namespace", name, "--wait=false")


def wait_gone(kube: KubeApi, ns: str, name: str) -> None:
    deadline = time.monotonic() + 30
    while any(p["metadata"]["name"] == name for p in kube.list_pods(ns, None)[0]):
        assert time.monotonic() < deadline, f"{ns}/{name} still there"
        time.sleep(0.05)


def test_old_api_as_krkns_pod_disruption_plugin_counts_every_kill(
    cluster: Any, krkn: KrknKubernetes, three_namespaces: list[str], tmp_path: Path
) -> None:
    """krkn's pod-disruption plugin with krkn-lib 5.1's pool: ``PodsMonitorPool(KrknKubernetes)``,
    one ``select_and_monitor_*`` per scenario with ``field_selector='status.phase=Running'``,
    the pods picked with KrknKubernetes's own selection and deleted at once, then ``join()``,
    ``result.error`` and ``result.unrecovered`` checked and the result serialised as krkn's
    telemetry does. A Succeeded pod matching the label is left out of the selection."""
    ns_a, ns_b, _ = three_namespaces
    apply(
        cluster,
        tmp_path,
        deployment("etcd", ns_a, replicas=3, ready_after="300ms"),
        deployment("api", ns_b, replicas=2, ready_after="300ms"),
    )
    kube = KubeApi(cluster.api_client())
    wait_pods(kube, ns_a, "app=etcd", 3)
    wait_pods(kube, ns_b, "app=api", 2)
    # KrknKubernetes.delete_pod returns only once the pod is gone (polling every second), so the
    # plugin's kills of one scenario come 1 s or more apart: the settle is longer than that.
    pool = PodsMonitorPool(krkn, settle_seconds=3.0)
    # Each scenario: the pool's call, KrknKubernetes's matching selection, their arguments and
    # how many of the selected pods are killed.
    scenarios = [
        (
            pool.select_and_monitor_by_namespace_pattern_and_label,
            krkn.select_pods_by_namespace_pattern_and_label,
            {"namespace_pattern": f"^{ns_a}$", "label_selector": "app=etcd"},
            2,
        ),
        (
            pool.select_and_monitor_by_name_pattern_and_namespace_pattern,
            krkn.select_pods_by_name_pattern_and_namespace_pattern,
            {"pod_name_pattern": "api-", "namespace_pattern": f"^{ns_b}$"},
            1,
        ),
    ]
    killed = []
    for monitor, select, selection, kill in scenarios:
        monitor(**selection, max_timeout=30, field_selector=RUNNING)
        pods = select(**selection, field_selector=RUNNING)
        for name, ns in pods[:kill]:
            krkn.delete_pod(name, ns)
            killed.append((ns, name))
    result = pool.join()

    assert not result.error, result.error
    assert len(result.unrecovered) == 0
    assert sorted((p.namespace, p.killed_pod_name) for p in result.recovered) == sorted(killed)
    live = {
        (ns, name)
        for ns, label, count in ((ns_a, "app=etcd", 3), (ns_b, "app=api", 2))
        for name in wait_pods(kube, ns, label, count)
    }
    # pod_name is the replacement, as krkn-lib reports it: a pod that exists now.
    assert all((p.namespace, p.pod_name) in live for p in result.recovered)
    # krkn's telemetry: json.dumps(default=__dict__), read back by krkn-lib's PodsStatus.
    telemetry = json.loads(json.dumps(result, default=lambda o: o.__dict__))
    theirs = KrknPodsStatus(telemetry)
    assert [(p.pod_name, p.total_recovery_time) for p in theirs.recovered] == [
        (p.pod_name, p.total_recovery_time) for p in result.recovered
    ]
    assert theirs.error is None
    assert PodsStatus(telemetry) == result  # kubepulse reads the same dict as krkn-lib does


def test_new_api_as_krkn_uses_it_and_beside_krkn_libs_own_monitor(
    cluster: Any, krkn: KrknKubernetes, namespace: str, tmp_path: Path
) -> None:
    """krkn today: ``select_and_monitor_by_*(..., v1_client=KrknKubernetes.cli)`` returns a
    Future of a snapshot; after the kill ``future.result().get_pods_status()`` and a check of
    ``unrecovered``. krkn-lib's own monitor watches the same pods at the same time; the names
    agree, and the times agree where the definitions do (krkn-lib's readiness counts from the
    deletion, so it is kubepulse's total)."""
    apply(cluster, tmp_path, deployment("web", namespace, replicas=3, ready_after="1s"))
    kube = KubeApi(cluster.api_client())
    before = wait_pods(kube, namespace, "app=web", 3)
    ours = api.select_and_monitor_by_namespace_pattern_and_label(
        namespace_pattern=f"^{namespace}$",
        label_selector="app=web",
        v1_client=krkn.cli,
        max_timeout=20,
    )
    theirs = krkn_monitor.select_and_monitor_by_namespace_pattern_and_label(
        namespace_pattern=f"^{namespace}$",
        label_selector="app=web",
        v1_client=krkn.cli,
        max_timeout=20,
    )
    victims = before[:2]
    for name in victims:
        krkn.delete_pod(name, namespace)
    snapshot = ours.result(timeout=40)
    result = snapshot.get_pods_status()
    assert len(result.unrecovered) == 0 and result.error is None, result.to_json()
    assert sorted(p.killed_pod_name or "" for p in result.recovered) == victims
    assert sorted(snapshot.initial_pods) == before
    assert len(snapshot.added_pods) == 2
    for name in victims:
        statuses = [e.status.name for e in snapshot.pods[name].status_changes]
        assert statuses[0] == "DELETION_SCHEDULED" and statuses[-1] == "DELETED", statuses
    for name in snapshot.added_pods:
        statuses = [e.status.name for e in snapshot.pods[name].status_changes]
        assert statuses[:1] == ["ADDED"] and "READY" in statuses, statuses

    # The JSON round trip gives the same status; krkn-lib's PodsSnapshot reads the JSON too.
    text = json.dumps(snapshot.to_dict())
    assert api.PodsSnapshot(text).get_pods_status() == result
    read_by_krkn = KrknPodsSnapshot(text)
    assert sorted(read_by_krkn.initial_pods) == before
    assert sorted(read_by_krkn.added_pods) == sorted(snapshot.added_pods)
    # Replayed from the timeline alone (no stored status), the same pods recover.
    krkn_style = dict(snapshot.to_dict(), pods_status=None)
    replayed = api.PodsSnapshot(json.dumps(krkn_style)).get_pods_status()
    assert sorted(p.pod_name for p in replayed.recovered) == sorted(
        p.pod_name for p in result.recovered
    )

    krkn_status = theirs.result(timeout=40).get_pods_status()
    assert len(krkn_status.unrecovered) == 0
    by_name = {p.pod_name: p for p in result.recovered}
    assert sorted(p.pod_name for p in krkn_status.recovered) == sorted(by_name)
    for pod in krkn_status.recovered:
        mine = by_name[pod.pod_name]
        assert pod.namespace == mine.namespace
        assert pod.pod_rescheduling_time == pytest.approx(mine.pod_rescheduling_time, abs=0.5)
        assert pod.pod_readiness_time == pytest.approx(mine.total_recovery_time, abs=0.5)
        print(
            f"{pod.pod_name}: krkn-lib rescheduling {pod.pod_rescheduling_time:.3f} readiness "
            f"{pod.pod_readiness_time:.3f}; kubepulse rescheduling "
            f"{mine.pod_rescheduling_time:.3f} readiness {mine.pod_readiness_time:.3f} total "
            f"{mine.total_recovery_time:.3f}"
        )


def test_new_api_cancel_stops_a_running_monitor_and_keeps_the_snapshot(
    cluster: Any, krkn: KrknKubernetes, namespace: str, tmp_path: Path
) -> None:
    """krkn's plugin cancels the future when killing fails, waits for ``done()`` and reads
    ``result()``: the monitor stops within about a second and the snapshot is still there."""
    apply(cluster, tmp_path, deployment("web", namespace))
    kube = KubeApi(cluster.api_client())
    (pod,) = wait_pods(kube, namespace, "app=web", 1)
    future = api.select_and_monitor_by_name_pattern_and_namespace_pattern(
        "web-", f"{namespace}$", 600, krkn.cli
    )
    started = time.monotonic()
    assert future.cancel() is False  # as for any running future
    snapshot = future.result(timeout=10)
    # A time is the only evidence here: 600 s of monitoring ended at once (3 s for a loaded
    # 2-core machine).
    assert time.monotonic() - started < 3.0
    assert snapshot.initial_pods == [pod]
    status = snapshot.get_pods_status()
    assert status.error is None and not status.recovered and not status.unrecovered


def test_ported_pool_scenario_three_methods_three_namespaces_mixed_outcomes(
    cluster: Any, krkn: KrknKubernetes, three_namespaces: list[str], tmp_path: Path
) -> None:
    """krkn-lib's pool test, ported: one pool, its three select methods over three namespaces,
    bare pods killed and replaced by hand-made pods. In one monitor (namespace c) one kill is
    recovered (re-created under its own name), one too late (re-created, never Ready) and one
    never replaced; namespace a's kill is replaced by a differently named pod with the label,
    namespace b's by the same name. ``join()`` returns within max_timeout + 1 s of the selects."""
    ns_a, ns_b, ns_c = three_namespaces
    apply(
        cluster,
        tmp_path,
        bare_pod("a-1", ns_a, app=f"lbl-{ns_a}"),
        bare_pod("b-1", ns_b, app="b"),
        bare_pod("c-1", ns_c, app="c"),
        bare_pod("c-2", ns_c, app="c"),
        bare_pod("c-3", ns_c, app="c"),
    )
    kube = KubeApi(cluster.api_client())
    wait_pods(kube, ns_a, f"app=lbl-{ns_a}", 1)
    wait_pods(kube, ns_b, "app=b", 1)
    wait_pods(kube, ns_c, "app=c", 3)
    max_timeout = 10
    pool = PodsMonitorPool(krkn, settle_seconds=0.5)
    started = time.monotonic()
    pool.select_and_monitor_by_label(f"app=lbl-{ns_a}", RUNNING, max_timeout)
    pool.select_and_monitor_by_name_pattern_and_namespace_pattern(
        "b-", f"^{ns_b}$", RUNNING, max_timeout
    )
    pool.select_and_monitor_by_namespace_pattern_and_label(
        f"{ns_c}$", "app=c", RUNNING, max_timeout
    )
    for ns, name in ((ns_a, "a-1"), (ns_b, "b-1"), (ns_c, "c-1"), (ns_c, "c-2"), (ns_c, "c-3")):
        kube.delete_pod(ns, name)  # KrknKubernetes.delete_pod would wait for each to go
    for ns, name in ((ns_b, "b-1"), (ns_c, "c-1"), (ns_c, "c-2")):
        wait_gone(kube, ns, name)
    apply(
        cluster,
        tmp_path,
        bare_pod("a-new", ns_a, app=f"lbl-{ns_a}", ready_after="500ms"),
        bare_pod("b-1", ns_b, app="b", ready_after="500ms"),
        bare_pod("c-1", ns_c, app="c", ready_after="500ms"),
        bare_pod("c-2", ns_c, app="c", never_ready=True),
    )
    result = pool.join()
    elapsed = time.monotonic() - started

    # Timing bound from krkn-lib's own test: the monitors end at their max_timeout.
    print(f"join() {elapsed:.2f} s after the selects, max_timeout {max_timeout} s")
    assert elapsed <= max_timeout + 1.0, elapsed
    recovered = sorted((p.namespace, p.killed_pod_name, p.pod_name) for p in result.recovered)
    assert recovered == [(ns_a, "a-1", "a-new"), (ns_b, "b-1", "b-1"), (ns_c, "c-1", "c-1")]
    assert all(p.pod_readiness_time == pytest.approx(0.5, abs=0.5) for p in result.recovered)
    assert [(p.namespace, p.pod_name, p.pod_readiness_time) for p in result.unrecovered] == [
        (ns_c, "c-2", None)
    ]
    # "within 10 s", or "before the monitor ended, 9.9 s later" when the kill came late.
    (error,) = result.errors
    assert error.startswith(f"pod {ns_c}/c-3 was deleted and was not replaced "), error
    assert error.endswith("(it has no controller and no new pod took its place)"), error


def test_a_killed_pod_still_terminating_holds_the_monitor_until_the_next_kill(
    cluster: Any, krkn: KrknKubernetes, namespace: str, tmp_path: Path
) -> None:
    """krkn's plugin kills a scenario's pods one after another with ``KrknKubernetes.delete_pod``,
    which returns only once each pod is gone: with a grace period (here a finalizer stands in
    for it) the next kill comes long after the first replacement is Ready. The monitor stays
    open while a killed pod is terminating, so the second kill is counted; settling from the
    replacement's Ready alone would end it one settle period later and miss the second kill
    silently. The settle (3 s) is longer than delete_pod's 1 s poll, as the default 5 s is."""
    hold = "kubepulse.dev/hold"
    apply(
        cluster,
        tmp_path,
        deployment("held", namespace, replicas=2, ready_after="300ms").replace(
            "    metadata: {labels:", f"    metadata: {{finalizers: [{hold}], labels:"
        ),
    )
    kube = KubeApi(cluster.api_client())
    victims = wait_pods(kube, namespace, "app=held", 2)
    core = k8s_client.CoreV1Api(cluster.api_client())

    def release(name: str) -> None:
        core.patch_namespaced_pod(name, namespace, {"metadata": {"finalizers": None}})

    pool = PodsMonitorPool(krkn, settle_seconds=3.0)
    pool.select_and_monitor_by_namespace_pattern_and_label(
        f"^{namespace}$", "app=held", RUNNING, 40
    )
    plugin = threading.Thread(
        target=lambda: [krkn.delete_pod(name, namespace) for name in victims], daemon=True
    )
    try:
        plugin.start()
        # The first victim's replacement is Ready while the first victim is still held.
        deadline = time.monotonic() + 30
        while len(wait_pods(kube, namespace, "app=held", 2)) < 2 or pool.progress().ready < 1:
            assert time.monotonic() < deadline, pool.progress()
            time.sleep(0.1)
        time.sleep(4.0)  # longer than a settle period
        assert pool.threads[0].is_alive(), "the monitor ended while a killed pod was terminating"
        assert pool.progress().killed == 1
        release(victims[0])  # gone: delete_pod returns and the plugin kills the second
        deadline = time.monotonic() + 30
        while core.read_namespaced_pod(victims[1], namespace).metadata.deletion_timestamp is None:
            assert time.monotonic() < deadline, "the plugin did not kill the second pod"
            time.sleep(0.1)
        release(victims[1])
        plugin.join(30)
        assert not plugin.is_alive()
        result = pool.join(40)
    finally:
        for pod in core.list_namespaced_pod(namespace).items:
            if pod.metadata.finalizers:
                release(pod.metadata.name)
    assert not result.error, result.error
    assert not result.unrecovered
    assert sorted(p.killed_pod_name for p in result.recovered) == sorted(victims)


def test_ported_monitor_scenario_a_quiet_monitor_joins_within_max_timeout_plus_a_second(
    cluster: Any, krkn: KrknKubernetes, namespace: str, tmp_path: Path
) -> None:
    apply(cluster, tmp_path, bare_pod("calm", namespace))
    wait_pods(KubeApi(cluster.api_client()), namespace, "app=calm", 1)
    max_timeout = 3
    pool = PodsMonitorPool(krkn)
    started = time.monotonic()
    pool.select_and_monitor_by_namespace_pattern_and_label(
        f"{namespace}$", "app=calm", RUNNING, max_timeout
    )
    result = pool.join()
    elapsed = time.monotonic() - started
    print(f"quiet monitor: join() {elapsed:.2f} s after the select, max_timeout {max_timeout} s")
    assert max_timeout - 0.5 <= elapsed <= max_timeout + 1.0, elapsed
    assert result == PodsStatus()
