"""kwok's Metric resources serve each test node's kubelet and cAdvisor endpoints (real kwok)."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubepulse.lab.cluster import Cluster
from kubepulse.lab.cluster.kubelet_metrics import CADVISOR_PATH, KUBELET_PATH, kubelet_metrics_yaml
from kubepulse.lab.processes import LOOPBACK

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(cluster: Cluster, path: str, node: str) -> Samples:
    url = f"http://{LOOPBACK}:{cluster.kubelet_port}{path.replace('{nodeName}', node)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def pick(samples: Samples, name: str, **labels: str) -> float:
    (value,) = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls)]
    return value


def scrape_until(
    cluster: Cluster, path: str, node: str, name: str, labels: dict[str, str], timeout: float = 30
) -> tuple[Samples, float]:
    """Scrape until a sample of `name` with `labels` is served; return the samples and the
    monotonic time the answer came. Fail after `timeout` seconds.

    kwok serves a pod's usage families only once it has evaluated the pod's usage, and it keeps
    one registry per node for both paths: a scrape of one path at the instant another test
    scrapes the node's other path can miss its own families (the module docstring of
    kubepulse.lab.cluster.kubelet_metrics says so). A missing family is retried, never a value."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(cluster, path, node)
        if any(n == name and set(labels.items()) <= set(ls) for n, ls in samples):
            return samples, time.monotonic()
        assert time.monotonic() < deadline, f"{name} {labels} not served at {path} in {timeout} s"
        time.sleep(0.2)


def test_the_resources_parse_and_name_both_paths() -> None:
    import yaml

    docs = list(yaml.safe_load_all(kubelet_metrics_yaml()))
    assert [d["kind"] for d in docs] == ["ClusterResourceUsage", "Metric", "Metric"]
    assert [d["spec"]["path"] for d in docs[1:]] == [KUBELET_PATH, CADVISOR_PATH]
    without = list(yaml.safe_load_all(kubelet_metrics_yaml(resource_usage=False)))
    assert [d["kind"] for d in without] == ["Metric", "Metric"]


def test_a_pod_shows_on_its_nodes_kubelet_and_cadvisor_endpoints(
    cluster: Cluster, namespace: str
) -> None:
    """Values follow the pod's annotations exactly: a 0.25 throttled ratio is a quarter of the
    CFS periods, the claim's capacity and usage are the annotated quantities, and CPU grows at
    the annotated 250m (0.25 core-seconds a second)."""
    cluster.kubectl(
        "-n",
        namespace,
        "run",
        "busy",
        "--image=registry.invalid/busy:1",
        "--annotations=kwok.x-k8s.io/usage-cpu=250m",
        "--annotations=kwok.x-k8s.io/usage-memory=64Mi",
        "--annotations=kubepulse.dev/cpu-throttled-ratio=0.25",
        "--annotations=kubepulse.dev/network-receive=10Ki",
        "--annotations=kubepulse.dev/volume-claim=data",
        "--annotations=kubepulse.dev/volume-capacity=2Gi",
        "--annotations=kubepulse.dev/volume-used=512Mi",
    )
    cluster.kubectl("-n", namespace, "wait", "pod/busy", "--for=condition=Ready", "--timeout=60s")
    node = cluster.kubectl(
        "-n", namespace, "get", "pod", "busy", "-o", "jsonpath={.spec.nodeName}"
    ).strip()
    mine = {"namespace": namespace, "pod": "busy"}

    container = {**mine, "container": "busy", "image": "registry.invalid/busy:1"}
    cpu_name = "container_cpu_usage_seconds_total"
    first, first_at = scrape_until(cluster, CADVISOR_PATH, node, cpu_name, container)
    time.sleep(2)
    cadvisor, cadvisor_at = scrape_until(cluster, CADVISOR_PATH, node, cpu_name, container)
    claim = {"namespace": namespace, "persistentvolumeclaim": "data"}
    kubelet, _ = scrape_until(
        cluster, KUBELET_PATH, node, "kubelet_volume_stats_capacity_bytes", claim
    )

    assert pick(cadvisor, "container_memory_working_set_bytes", **container) == 64 * 2**20
    cpu = [pick(s, "container_cpu_usage_seconds_total", **container) for s in (first, cadvisor)]
    # 0.25 cores over the time between the two answers (2 s or more), within a second of it.
    elapsed = cadvisor_at - first_at
    assert elapsed >= 2
    assert 0.25 * (elapsed - 1) <= cpu[1] - cpu[0] <= 0.25 * (elapsed + 1)
    periods = pick(cadvisor, "container_cpu_cfs_periods_total", **container)
    throttled = pick(cadvisor, "container_cpu_cfs_throttled_periods_total", **container)
    assert periods > 20  # ten a second since the pod was created, at least 2 s ago
    assert throttled == pytest.approx(periods * 0.25, rel=0.01)
    net = {**mine, "interface": "eth0"}
    received = [pick(s, "container_network_receive_bytes_total", **net) for s in (first, cadvisor)]
    # The annotated 10Ki a second, over the same time.
    assert 10240 * (elapsed - 1) <= received[1] - received[0] <= 10240 * (elapsed + 1)
    packets = pick(cadvisor, "container_network_receive_packets_total", **net)
    assert packets == pytest.approx(received[1] / 1024, rel=1e-3)  # read a moment later
    # Network is per pod: no container label, as cAdvisor reports it.
    assert not [
        ls for (n, ls) in cadvisor if n.startswith("container_network") and "container" in dict(ls)
    ]
    # cAdvisor's path serves no kubelet families, and the kubelet's no container ones.
    assert not [n for n, _ in cadvisor if n.startswith("kubelet_")]
    assert not [n for n, _ in kubelet if n.startswith("container_")]

    assert pick(kubelet, "kubelet_volume_stats_capacity_bytes", **claim) == 2 * 2**30
    assert pick(kubelet, "kubelet_volume_stats_used_bytes", **claim) == 512 * 2**20
    assert pick(kubelet, "kubelet_volume_stats_available_bytes", **claim) == 2 * 2**30 - 2**29
    assert pick(kubelet, "kubelet_running_pods", **mine) == 1
    assert pick(kubelet, "kubelet_node_name", node=node) == 1


def test_pod_start_histograms_count_the_containers_kwok_started(
    cluster: Cluster, namespace: str
) -> None:
    """Each started container is one observation in the 1 s bucket of
    kubelet_pod_start_duration_seconds (0.5 s of the SLI one), the +Inf bucket and _count hold
    them all, and both equal kubelet_started_containers_total in the same answer.

    kwok v0.8.0 starts a node's count afresh whenever it sees the Node change (the module
    docstring of kubepulse.lab.cluster.kubelet_metrics says so), so a count of 0 after a pod was
    placed means such a change came in between: another pod is placed and the node read again,
    three times at most. A pod created with its node already set is counted as kwok sees it."""
    node = cluster.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").strip()
    started_name = "kubelet_started_containers_total"
    for attempt in range(3):
        cluster.kubectl(
            "-n",
            namespace,
            "run",
            f"started-{attempt}",
            "--image=registry.invalid/started:1",
            f'--overrides={{"spec": {{"nodeName": "{node}"}}}}',
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            kubelet = scrape(cluster, KUBELET_PATH, node)
            started = [v for (n, _), v in kubelet.items() if n == started_name]
            if started and started[0] >= 1:
                break
            time.sleep(0.2)
        else:
            continue
        count = pick(kubelet, "kubelet_pod_start_duration_seconds_count")
        assert count == started[0]
        # (histogram, the bucket every observation is in, buckets that hold none)
        for name, observed_in, empty in (
            ("kubelet_pod_start_duration_seconds", "1", ["0.5"]),
            ("kubelet_pod_start_sli_duration_seconds", "0.5", []),
        ):
            # The +Inf bucket holds every observation, as histogram_quantile expects.
            assert pick(kubelet, f"{name}_count") == count
            assert pick(kubelet, f"{name}_bucket", le="+Inf") == count
            assert pick(kubelet, f"{name}_bucket", le=observed_in) == count
            for le in empty:
                assert pick(kubelet, f"{name}_bucket", le=le) == 0
        return
    pytest.fail(f"kubelet_started_containers_total of {node} stayed 0 after 3 pods placed on it")


def test_a_finished_pod_uses_nothing(cluster: Cluster, namespace: str) -> None:
    """A Job's pod, once Succeeded, stops using CPU and memory: its counter holds still."""
    cluster.kubectl(
        "-n",
        namespace,
        "create",
        "job",
        "once",
        "--image=registry.invalid/batch:1",
    )
    cluster.kubectl(
        "-n", namespace, "wait", "job/once", "--for=condition=Complete", "--timeout=60s"
    )
    pod, node = cluster.kubectl(
        "-n",
        namespace,
        "get",
        "pods",
        "-l",
        "job-name=once",
        "-o",
        "jsonpath={.items[0].metadata.name} {.items[0].spec.nodeName}",
    ).split()
    labels = {"namespace": namespace, "pod": pod, "container": "once"}
    cpu_name = "container_cpu_usage_seconds_total"
    first, _ = scrape_until(cluster, CADVISOR_PATH, node, cpu_name, labels)
    time.sleep(2)
    later, _ = scrape_until(cluster, CADVISOR_PATH, node, cpu_name, labels)
    cpu = [pick(s, "container_cpu_usage_seconds_total", **labels) for s in (first, later)]
    assert cpu[1] == cpu[0]
    assert pick(later, "container_memory_working_set_bytes", **labels) == 0
