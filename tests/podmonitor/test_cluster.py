"""The pod monitor against the real test cluster (kube-apiserver, controllers, kwok pods).

kwok makes a pod Ready ``kubepulse.dev/ready-after`` after scheduling, or never with the label
``kubepulse.dev/never-ready``. Scenarios that can run side by side share one pool or run as
concurrent CLI processes, so the whole file stays within a few ``max_timeout`` periods.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from podmonitor_helpers import (
    apply,
    bare_pod,
    deployment,
    scrape,
    start_node_exporter,
    start_pushgateway,
    wait_pods,
)

from kubepulse.lab.processes import ProcessGroup
from kubepulse.podmonitor import PodsMonitorPool, PodsStatus
from kubepulse.podmonitor._kube import KubeApi
from kubepulse.podmonitor.pool import kube_client

pytestmark = pytest.mark.cluster


def delete(api: KubeApi, ns: str, name: str) -> str:
    """Delete a pod; the deletionTimestamp the API set, from its answer."""
    answer = api.client.send_json("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}", None)
    stamp: str = answer["metadata"]["deletionTimestamp"]
    return stamp


def live_pod(api: KubeApi, ns: str) -> dict[str, Any]:
    """The one pod in ``ns`` that is not being deleted."""
    pods, _ = api.list_pods(ns, "app=web")
    (live,) = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
    return live


def epoch(rfc3339: str | None) -> float:
    assert rfc3339 is not None
    return datetime.fromisoformat(rfc3339).timestamp()


@pytest.fixture
def extra_namespaces(cluster: Any, namespace: str) -> Iterator[list[str]]:
    names = [f"{namespace}-b", f"{namespace}-c"]
    for name in names:
        cluster.kubectl("create", "namespace", name)
    yield names
    for name in names:
        cluster.kubectl("delete", "namespace", name, "--wait=false")


def test_three_namespaces_merge_two_recovered_one_unrecovered(
    cluster: Any, namespace: str, extra_namespaces: list[str], tmp_path: Path
) -> None:
    ns_a, (ns_b, ns_c) = namespace, extra_namespaces
    apply(
        cluster,
        tmp_path,
        deployment("web", ns_a, ready_after="2s"),
        deployment("web", ns_b, ready_after="500ms"),
        deployment("web", ns_c, never_ready=True),
    )
    api = KubeApi(cluster.api_client())
    victims = [
        (ns_a, wait_pods(api, ns_a, "app=web", 1)[0]),
        (ns_b, wait_pods(api, ns_b, "app=web", 1)[0]),
        (ns_c, wait_pods(api, ns_c, "app=web", 1, ready=False)[0]),
    ]
    pool = PodsMonitorPool(cluster.api_client(), settle_seconds=0.5)
    for ns in (ns_a, ns_b, ns_c):
        # re.match matches from the start only: "$" keeps ns_a's pattern off ns_a-b and ns_a-c.
        pool.select_and_monitor_by_namespace_pattern_and_label(f"{ns}$", "app=web", max_timeout=6)
    assert len(pool.events) == 3 and len({id(e) for e in pool.events}) == 3
    assert pool.wait_until_watching(10)
    # The DELETE answer is the pod as the API marked it: its deletionTimestamp, exactly.
    sent_at: dict[str, float] = {}
    deleted_at: dict[str, str] = {}
    for ns, name in victims:
        sent_at[ns] = time.time()
        deleted_at[ns] = delete(api, ns, name)
    status = pool.join()

    assert status.error is None
    by_ns = {p.namespace: p for p in status.recovered}
    assert sorted(by_ns) == sorted([ns_a, ns_b])
    (unrecovered,) = status.unrecovered
    assert (unrecovered.namespace, unrecovered.killed_pod_name) == (ns_c, victims[2][1])
    # The replacements are the Deployments' only live pods now; names and times from the API.
    replacement = {ns: live_pod(api, ns) for ns in (ns_a, ns_b, ns_c)}
    assert unrecovered.replacement_name == replacement[ns_c]["metadata"]["name"]
    assert unrecovered.pod_name == unrecovered.replacement_name  # krkn-lib's meaning
    assert unrecovered.pod_readiness_time is None
    assert unrecovered.deletion_timestamp == deleted_at[ns_c]
    created = replacement[ns_c]["metadata"]["creationTimestamp"]
    assert unrecovered.replacement_creation_timestamp == created
    slow, fast = by_ns[ns_a], by_ns[ns_b]
    assert slow.pod_readiness_time == pytest.approx(2.0, abs=0.5)
    # Readiness counts from the replacement's creation, so scheduling latency adds to kwok's
    # delay; only the 2 s case carries the acceptance tolerance.
    assert 0.4 <= fast.pod_readiness_time < slow.pod_readiness_time  # type: ignore[operator]
    assert (slow.killed_pod_name, fast.killed_pod_name) == (victims[0][1], victims[1][1])
    for pod in (slow, fast):
        assert pod.replacement_name == pod.pod_name != pod.killed_pod_name
        assert 0 <= pod.pod_rescheduling_time < 1.0  # type: ignore[operator]
        assert pod.total_recovery_time == pytest.approx(
            pod.pod_rescheduling_time + pod.pod_readiness_time,
            abs=1e-5,  # type: ignore[operator]
        )
        # API timestamps are kept next to the sub-second receipt times, as the API gave them.
        new = replacement[pod.namespace]
        assert pod.replacement_name == new["metadata"]["name"]
        assert pod.deletion_timestamp == deleted_at[pod.namespace]
        assert pod.replacement_creation_timestamp == new["metadata"]["creationTimestamp"]
        ready = next(c for c in new["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        assert pod.ready_transition_timestamp == ready["lastTransitionTime"]
        # And they agree with the receipt times: the monitor saw the kill after the DELETE was
        # sent; the replacement was created after it too, then Ready (2 s or 500 ms later),
        # before the end of the run. API times are whole seconds, truncated, hence the 1 s.
        born = epoch(pod.replacement_creation_timestamp)
        became_ready = epoch(pod.ready_transition_timestamp)
        # (0.05 s: the monitor's times are monotonic ones shifted once to Unix time.)
        assert pod.killed_at >= sent_at[pod.namespace] - 0.05  # type: ignore[operator]
        assert sent_at[pod.namespace] - 1 < born <= became_ready <= pod.ready_at + 1  # type: ignore[operator]
    assert PodsStatus.from_json(status.to_json()) == status


def test_bare_pod_error_is_merged_with_statefulset_recovery(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    apply(
        cluster,
        tmp_path,
        bare_pod("lonely", namespace),
        deployment("db", namespace, replicas=2, kind="StatefulSet"),
    )
    api = KubeApi(cluster.api_client())
    wait_pods(api, namespace, "app=lonely", 1)
    assert wait_pods(api, namespace, "app=db", 2) == ["db-0", "db-1"]
    pool = PodsMonitorPool(cluster.kubeconfig, settle_seconds=0.5)
    pool.select_and_monitor_by_label("app=lonely", max_timeout=4)
    pool.select_and_monitor_by_name_pattern_and_namespace_pattern("db-", f"{namespace}$", 8)
    assert pool.wait_until_watching(10)
    api.delete_pod(namespace, "lonely")
    api.delete_pod(namespace, "db-1")
    status = pool.join()

    # "within 4 s" when the monitor saw the kill at once; when it saw it late (a loaded
    # machine), the run's 4 s ended sooner after the receipt, and the message says when.
    (error,) = status.errors
    said = re.fullmatch(
        rf"pod {namespace}/lonely was deleted and was not replaced "
        r"(within 4 s|before the monitor ended, (\d+\.\d) s later) "
        r"\(it has no controller and no new pod took its place\)",
        error,
    )
    assert said, error
    assert said[2] is None or 3.0 <= float(said[2]) <= 4.0, error
    assert len(status.recovered) == 1 and not status.unrecovered, status.to_json()
    db = status.recovered[0]
    assert (db.pod_name, db.replacement_name, db.namespace) == ("db-1", "db-1", namespace)
    assert db.total_recovery_time is not None and db.total_recovery_time < 8


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed-list", "list-then-watch"])
def test_one_request_per_monitor_covers_snapshot_kill_recovery_and_settle(
    cluster: Any, namespace: str, tmp_path: Path, streaming: bool
) -> None:
    """Kubernetes 1.34 streams the snapshot at the start of the watch (``sendInitialEvents``),
    so a monitor makes one request in all; where streaming lists are off (1.33), a list and a
    watch. The settle period ends the open watch instead of opening another."""
    apply(cluster, tmp_path, deployment("web", namespace, replicas=2, ready_after="500ms"))
    api = KubeApi(cluster.api_client())
    victim, survivor = wait_pods(api, namespace, "app=web", 2)
    client = kube_client(cluster.api_client())
    if not streaming:
        client.streaming_lists = False
    pool = PodsMonitorPool(client, settle_seconds=1.0)
    pool.select_and_monitor_by_namespace_pattern_and_label(f"{namespace}$", "app=web", 30)
    assert pool.wait_until_watching(10)
    assert pool.selected_pods() == [(namespace, victim), (namespace, survivor)]
    started = time.monotonic()
    api.delete_pod(namespace, victim)
    status = pool.join()
    elapsed = time.monotonic() - started

    assert status.error is None and not status.unrecovered, status.to_json()
    (recovered,) = status.recovered
    assert recovered.killed_pod_name == victim
    # Ended by the settle period after the recovery, long before max_timeout.
    assert recovered.total_recovery_time + 1.0 <= elapsed < 10  # type: ignore[operator]
    assert pool.requests == (1 if streaming else 2)
    assert client.streaming_lists is streaming


def test_in_place_restart_repeated_kills_and_a_quiet_monitor_end_to_end(
    cluster: Any, namespace: str, extra_namespaces: list[str], tmp_path: Path
) -> None:
    """A pod that turns NotReady and back without being deleted (its Ready condition set False
    through the status subresource; kwok's ready stage turns it Ready again 1 s later) is
    recovered with rescheduling time 0; a pod killed, replaced and killed again is measured per
    kill; a monitor that sees no disruption runs to max_timeout and reports nothing."""
    quiet_ns = extra_namespaces[0]
    apply(
        cluster,
        tmp_path,
        deployment("flap", namespace, ready_after="1s"),
        deployment("twice", namespace, ready_after="500ms"),
        deployment("calm", quiet_ns),
    )
    api = KubeApi(cluster.api_client())
    (flapping,) = wait_pods(api, namespace, "app=flap", 1)
    (first,) = wait_pods(api, namespace, "app=twice", 1)
    wait_pods(api, quiet_ns, "app=calm", 1)
    pool = PodsMonitorPool(cluster.api_client(), settle_seconds=1.0)
    pool.select_and_monitor_by_namespace_pattern_and_label(f"{namespace}$", "app=flap", 20)
    pool.select_and_monitor_by_namespace_pattern_and_label(f"{namespace}$", "app=twice", 20)
    quiet = pool.select_and_monitor_by_namespace_pattern_and_label(f"{quiet_ns}$", "app=calm", 3)
    assert pool.wait_until_watching(10)
    started = time.monotonic()
    api.client.send_json(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{flapping}/status",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        content_type="application/strategic-merge-patch+json",
    )
    api.delete_pod(namespace, first)
    deadline = time.monotonic() + 20
    while True:
        (second,) = wait_pods(api, namespace, "app=twice", 1)
        if second != first:
            break
        assert time.monotonic() < deadline, "no Ready replacement for the first kill"
        time.sleep(0.1)
    api.delete_pod(namespace, second)
    status = pool.join()

    assert status.error is None and not status.unrecovered, status.to_json()
    restart = [p for p in status.recovered if p.pod_name == flapping]
    assert len(restart) == 1
    assert restart[0].disruption == "restart" and restart[0].pod_rescheduling_time == 0
    assert restart[0].pod_readiness_time == pytest.approx(1.0, abs=0.5)
    kills = sorted(
        (p for p in status.recovered if p.killed_pod_name in (first, second)),
        key=lambda p: p.killed_at or 0,
    )
    assert [p.killed_pod_name for p in kills] == [first, second]
    assert kills[0].replacement_name == second and kills[1].replacement_name not in (first, second)
    assert all(p.total_recovery_time is not None for p in kills)
    quiet_status = quiet.tracker.status()
    assert not (quiet_status.recovered or quiet_status.unrecovered or quiet_status.error)
    assert time.monotonic() - started >= 3 - 0.5  # ran to its max_timeout, from its snapshot


def test_cancel_returns_join_within_a_second_with_what_was_gathered(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    # The all-namespaces monitor would also see other tests' pods die with their
    # namespaces, so the label value is unique to this test's namespace.
    app = f"cancel-{namespace}"
    apply(cluster, tmp_path, deployment(app, namespace, never_ready=True))
    api = KubeApi(cluster.api_client())
    (victim,) = wait_pods(api, namespace, f"app={app}", 1, ready=False)
    pool = PodsMonitorPool(cluster.api_client())
    pool.select_and_monitor_by_namespace_pattern_and_label(f"{namespace}$", f"app={app}", 600)
    pool.select_and_monitor_by_label(f"app={app}", 600)
    assert pool.wait_until_watching(10)
    api.delete_pod(namespace, victim)
    wait_pods(api, namespace, f"app={app}", 1, ready=False)
    deadline = time.monotonic() + 5
    while pool.progress().replaced < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    pool.cancel()
    status = pool.join()
    # Only a time can show this: cancel() closes the watches at once (the promise is about a
    # second), where the monitors would otherwise run their 600 s. 3 s leaves room for a loaded
    # 2-core machine and is still 200x shorter than max_timeout.
    assert time.monotonic() - started < 3.0
    assert all(e.is_set() for e in pool.events)
    assert [p.killed_pod_name for p in status.unrecovered] == [victim, victim]
    assert status.error is None


def restart_apiserver(cluster: Any, while_down: Callable[[], None] = lambda: None) -> None:
    """Restart kube-apiserver, calling ``while_down`` while it is stopped; bring back what died
    with it.

    The controller manager and scheduler exit when they cannot renew their leader lease during
    the outage ("leaderelection lost"); ``start_apiserver`` (kwokctl start) starts whatever is
    not running, so calling it until everything runs restores the cluster for later tests.
    """

    def holders() -> list[str]:
        return [
            cluster.kubectl(
                "-n",
                "kube-system",
                "get",
                "lease",
                name,
                "--ignore-not-found",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            )
            for name in ("kube-controller-manager", "kube-scheduler")
        ]

    before = holders()
    cluster.stop_apiserver()
    while_down()
    cluster.start_apiserver()
    deadline = time.monotonic() + 45
    restarted = False
    while not all(cluster.running().values()):
        assert time.monotonic() < deadline, cluster.running()
        cluster.start_apiserver()
        restarted = True
        time.sleep(0.5)
    # A restarted controller works only once it holds the lease its dead predecessor held.
    while restarted and any(a == b for a, b in zip(before, holders(), strict=True)):
        assert time.monotonic() < deadline, "controllers did not take their leases back"
        time.sleep(0.5)


def test_monitor_survives_an_apiserver_restart(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    apply(cluster, tmp_path, deployment("web", namespace, replicas=2))
    api = KubeApi(cluster.api_client())
    victims = wait_pods(api, namespace, "app=web", 2)
    pool = PodsMonitorPool(cluster.api_client(), settle_seconds=0.5)
    monitor = pool.select_and_monitor_by_namespace_pattern_and_label(f"{namespace}$", "app=web", 90)
    assert pool.wait_until_watching(10)
    restart_apiserver(cluster)
    for name in victims:
        api.delete_pod(namespace, name)
    status = pool.join()
    assert monitor.reconnects + monitor.relists >= 1
    print(f"reconnects {monitor.reconnects}, re-lists after 410 {monitor.relists}")
    assert status.error is None and not status.unrecovered
    # Each kill counted once, though the watch was re-established (and possibly re-listed).
    assert sorted(p.killed_pod_name or "" for p in status.recovered) == victims


def test_410_gone_relists_without_losing_or_double_counting(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    """A watch resumed from a resourceVersion the API server no longer has gets 410 Gone, and
    the monitor re-lists. An old resourceVersion alone is not enough: a young cluster's watch
    cache still holds every event since it started and replays them. A restarted API server's
    cache starts at the current revision, so resuming from before the first kill is a real 410.
    """
    apply(cluster, tmp_path, deployment("web", namespace, replicas=3))
    api = KubeApi(cluster.api_client())
    first, second, _ = wait_pods(api, namespace, "app=web", 3)
    # Nothing ends the monitor but cancel(): the restart may outlast any settle period.
    pool = PodsMonitorPool(cluster.api_client(), settle_seconds=600)
    monitor = pool.select_and_monitor_by_namespace_pattern_and_label(
        f"{namespace}$", "app=web", 600
    )
    assert pool.wait_until_watching(10)
    before_kill = monitor.resource_version

    def wait_ready(count: int, why: str) -> None:
        deadline = time.monotonic() + 30
        while pool.progress().ready < count:
            assert time.monotonic() < deadline, why
            time.sleep(0.05)

    api.delete_pod(namespace, first)
    wait_ready(1, "the first kill did not recover")

    def rewind() -> None:
        time.sleep(0.5)  # whatever was in flight when the server died has been read by now
        monitor.resource_version = before_kill

    restart_apiserver(cluster, rewind)
    deadline = time.monotonic() + 30
    while monitor.relists == 0:
        assert time.monotonic() < deadline, "no 410 re-list after the restart"
        time.sleep(0.1)
    api.delete_pod(namespace, second)
    wait_ready(2, "the second kill did not recover")
    pool.cancel()
    status = pool.join()
    assert monitor.relists >= 1
    assert status.error is None and not status.unrecovered
    # The re-list saw the first kill's replacement again: it is neither a new kill nor a second
    # replacement.
    assert sorted(p.killed_pod_name or "" for p in status.recovered) == sorted([first, second])
    assert pool.progress().killed == 2


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubepulse", "monitor", "pods", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_exit_codes_and_outputs(
    cluster: Any, namespace: str, extra_namespaces: list[str], tmp_path: Path
) -> None:
    ns_ok, (ns_bad, ns_bare) = namespace, extra_namespaces
    apply(
        cluster,
        tmp_path,
        deployment("web", ns_ok, replicas=3, ready_after="1s"),
        deployment("slow", ns_ok, ready_after="1s"),
        deployment("web", ns_bad, never_ready=True),
        bare_pod("web", ns_bare),
    )
    api = KubeApi(cluster.api_client())
    wait_pods(api, ns_ok, "app=web", 3)
    wait_pods(api, ns_ok, "app=slow", 1)
    wait_pods(api, ns_bad, "app=web", 1, ready=False)
    wait_pods(api, ns_bare, "app=web", 1)
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    kc = str(cluster.kubeconfig)
    common = ["--kubeconfig", kc, "--label", "app=web", "--kill", "1", "--settle", "0.5"]
    slow_args = [
        *common[:2],
        "--label",
        "app=slow",
        *common[4:],
        "--namespace-pattern",
        f"{ns_ok}$",
    ]
    slow_args += ["--timeout", "20", "--max-recovery-seconds", "0.1", "--json", "-"]
    with ProcessGroup(tmp_path / "logs") as group:
        gateway = start_pushgateway(group)
        runs = {
            "ok": cli(
                *common,
                "--namespace-pattern",
                f"{ns_ok}$",
                "--name-pattern",
                "web-",
                "--field-selector",
                "status.phase=Running",
                "--kill",
                "2",
                "--timeout",
                "20",
                "--max-recovery-seconds",
                "5",
                "--json",
                str(tmp_path / "ok.json"),
                "--textfile",
                str(textdir),
                "--pushgateway",
                gateway,
                "--report",
                str(tmp_path / "ok.html"),
            ),
            "unrecovered": cli(
                *common, "--namespace-pattern", f"{ns_bad}$", "--timeout", "3", "--json", "-"
            ),
            "error": cli(*common, "--namespace-pattern", f"{ns_bare}$", "--timeout", "3"),
            "slow": cli(*slow_args),
            "bad": cli(*common, "--namespace-pattern", "ns-(", "--timeout", "3"),
        }
        done = {name: (p.wait(60), *p.communicate()) for name, p in runs.items()}
        pushed = scrape(f"{gateway}/metrics")
    assert done["bad"][0] == 2
    assert (
        done["bad"][2]
        .strip()
        .splitlines()[-1]
        .startswith("kubepulse monitor pods: --namespace-pattern: invalid regular expression")
    )
    code, out, err = done["ok"]
    assert code == 0, err
    assert "killed 2" in err and "ready 2" in err  # the live progress display
    status = PodsStatus.from_json((tmp_path / "ok.json").read_text())
    assert len(status.recovered) == 2 and not status.unrecovered and status.error is None
    assert all(p.pod_readiness_time == pytest.approx(1.0, abs=0.5) for p in status.recovered)
    assert out.startswith("recovered 2, unrecovered 0, errors 0")

    code, out, err = done["unrecovered"]
    assert code == 1, err
    assert len(PodsStatus.from_json(out).unrecovered) == 1
    code, out, err = done["slow"]
    assert code == 1, err  # recovered, but slower than --max-recovery-seconds
    (slow,) = PodsStatus.from_json(out).recovered
    assert slow.total_recovery_time is not None and slow.total_recovery_time > 0.1
    code, out, err = done["error"]
    assert code == 2
    assert f"pod {ns_bare}/web was deleted and was not replaced " in out
    assert "(it has no controller and no new pod took its place)" in out

    html = (tmp_path / "ok.html").read_text()
    assert html.count("<svg ") == 2 and "https://" not in html and "http://" not in html
    for pod in status.recovered:
        assert pod.pod_name in html

    job = (("instance", ""), ("job", "kubepulse_pod_monitor"))
    assert pushed[("kubepulse_pods_recovered_total", (*job, ("namespace", ns_ok)))] == 2
    assert (
        pushed[
            (
                "kubepulse_pod_recovery_seconds_count",
                (*job, ("namespace", ns_ok), ("phase", "readiness")),
            )
        ]
        == 2
    )

    with ProcessGroup(tmp_path / "logs") as group:
        scraped = scrape(start_node_exporter(group, textdir))
    assert scraped[("kubepulse_pods_recovered_total", (("namespace", ns_ok),))] == 2
    assert scraped[("kubepulse_pod_monitor_errors_total", ())] == 0
    total = sum(p.total_recovery_time or 0 for p in status.recovered)
    assert scraped[
        ("kubepulse_pod_recovery_seconds_sum", (("namespace", ns_ok), ("phase", "total")))
    ] == pytest.approx(total)


@pytest.mark.cluster
def test_a_kill_right_after_select_is_never_missed(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    """krkn's plugins kill the moment ``select_and_monitor_*`` returns, without
    ``wait_until_watching()``. Twenty times over (twenty Deployments, one monitor and one kill
    each, no pause between select and kill), every kill is counted and recovered."""
    names = [f"k{i:02d}" for i in range(20)]
    apply(cluster, tmp_path, *(deployment(name, namespace) for name in names))
    api = KubeApi(cluster.api_client())
    victims = {name: wait_pods(api, namespace, f"app={name}", 1)[0] for name in names}
    pool = PodsMonitorPool(cluster.api_client(), settle_seconds=0.5)
    for name in names:
        pool.select_and_monitor_by_namespace_pattern_and_label(f"{namespace}$", f"app={name}", 60)
        api.delete_pod(namespace, victims[name])
    status = pool.join()
    assert status.error is None and not status.unrecovered, status.to_json()
    assert sorted(p.killed_pod_name or "" for p in status.recovered) == sorted(victims.values())
