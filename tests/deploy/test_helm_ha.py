"""The chart's high-availability values: Prometheus replicas with a ``replica`` external label, the
Thanos sidecar, and an Alertmanager gossip cluster, each rendered on and off.

The rendered flags are handed to the pinned Prometheus and Alertmanager builds (with
``--version``, which exits 0 only once every flag before it parsed), so a flag the release does
not have, hidden ones included, fails here. What the flags do on loopback is proven by
``tests/stack/test_alertmanager_ha.py`` (gossip, one notification per alert from two replicas).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from deploy_helpers import render

from kubepulse.lab.releases import binary

SIDECAR = (
    "--set", "prometheus.thanos.sidecar.enabled=true",
    "--set", "prometheus.thanos.sidecar.objstoreSecret=thanos-objstore",
)  # fmt: skip


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, got {len(matches)}"
    return matches[0]


def prometheus(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Prometheus StatefulSet and its rendered prometheus.yml."""
    sts = find(objects, "StatefulSet", "kp-kubepulse-prometheus")
    config = find(objects, "ConfigMap", "kp-kubepulse-prometheus-config")["data"]["prometheus.yml"]
    return sts, yaml.safe_load(config)


def containers(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in sts["spec"]["template"]["spec"]["containers"]}


def ingress(objects: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    policy = find(objects, "NetworkPolicy", f"kp-kubepulse-{component}")
    rules: list[dict[str, Any]] = policy["spec"]["ingress"]
    return rules


def accepted_by_release(command: str, args: list[str]) -> None:
    out = subprocess.run(
        [str(binary(command)), *args, "--version"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, f"{command} refuses the chart's flags: {out.stderr.strip()}"


def test_one_prometheus_by_default_has_no_replica_label_nor_sidecar() -> None:
    objects = render()
    sts, config = prometheus(objects)
    assert sts["spec"]["replicas"] == 1
    (prom,) = containers(sts).values()
    assert "env" not in prom
    assert not [a for a in prom["args"] if a.startswith(("--enable-feature", "--storage.tsdb.m"))]
    assert config["global"]["external_labels"] == {"cluster": "kubernetes"}
    assert "alert_relabel_configs" not in config["alerting"]
    service = find(objects, "Service", "kp-kubepulse-prometheus")
    assert [p["name"] for p in service["spec"]["ports"]] == ["web"]
    assert [[p["port"] for p in r["ports"]] for r in ingress(objects, "prometheus")] == [[9090]]


def test_prometheus_replicas_label_their_series_and_drop_the_label_from_alerts() -> None:
    objects = render("--set", "prometheus.replicas=2")
    sts, config = prometheus(objects)
    assert sts["spec"]["replicas"] == 2
    (prom,) = containers(sts).values()
    assert prom["env"] == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    ]
    assert "--enable-feature=expand-external-labels" in prom["args"]
    assert config["global"]["external_labels"] == {
        "cluster": "kubernetes",
        "replica": "${POD_NAME}",
    }
    assert config["alerting"]["alert_relabel_configs"] == [
        {"action": "labeldrop", "regex": "replica"}
    ]
    accepted_by_release("prometheus", prom["args"])


def test_thanos_sidecar_uploads_from_the_data_volume_with_the_secret_s_config() -> None:
    objects = render(*SIDECAR)
    sts, config = prometheus(objects)
    by_name = containers(sts)
    assert list(by_name) == ["prometheus", "thanos-sidecar"]
    sidecar, prom = by_name["thanos-sidecar"], by_name["prometheus"]
    assert sidecar["image"] == "quay.io/thanos/thanos:v0.40.1"
    assert sidecar["args"] == [
        "sidecar",
        "--tsdb.path=/prometheus",
        "--prometheus.url=http://127.0.0.1:9090",
        "--grpc-address=:10901",
        "--http-address=:10902",
        "--objstore.config-file=/etc/thanos/objstore.yml",
    ]
    assert sidecar["volumeMounts"] == [
        {"name": "data", "mountPath": "/prometheus"},
        {"name": "thanos-objstore", "mountPath": "/etc/thanos", "readOnly": True},
    ]
    assert sidecar["securityContext"] == prom["securityContext"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["thanos-objstore"]["secret"] == {"secretName": "thanos-objstore"}
    # Thanos needs 2 h blocks left uncompacted, and a replica label to deduplicate on.
    assert prom["args"][-3:] == [
        "--enable-feature=expand-external-labels",
        "--storage.tsdb.min-block-duration=2h",
        "--storage.tsdb.max-block-duration=2h",
    ]
    assert config["global"]["external_labels"]["replica"] == "${POD_NAME}"
    service = find(objects, "Service", "kp-kubepulse-prometheus")
    assert [p["name"] for p in service["spec"]["ports"]] == ["web", "grpc"]
    assert [[p["port"] for p in r["ports"]] for r in ingress(objects, "prometheus")] == [
        [9090, 10901]
    ]
    accepted_by_release("prometheus", prom["args"])


def test_thanos_sidecar_without_an_object_store_secret_is_refused() -> None:
    with pytest.raises(AssertionError, match=r"prometheus\.thanos\.sidecar\.objstoreSecret"):
        render("--set", "prometheus.thanos.sidecar.enabled=true")


def test_one_alertmanager_by_default_does_not_gossip() -> None:
    objects = render()
    sts = find(objects, "StatefulSet", "kp-kubepulse-alertmanager")
    assert (sts["spec"]["replicas"], sts["spec"]["serviceName"]) == (1, "kp-kubepulse-alertmanager")
    (am,) = containers(sts).values()
    assert [a for a in am["args"] if a.startswith("--cluster.")] == ["--cluster.listen-address="]
    assert not [o for o in objects if o["metadata"]["name"] == "kp-kubepulse-alertmanager-cluster"]
    assert len(ingress(objects, "alertmanager")) == 1


def test_alertmanager_replicas_form_a_gossip_cluster_through_a_headless_service() -> None:
    objects = render("--set", "alertmanager.replicas=3")
    sts = find(objects, "StatefulSet", "kp-kubepulse-alertmanager")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["serviceName"] == "kp-kubepulse-alertmanager-cluster"
    (am,) = containers(sts).values()
    peers = "kp-kubepulse-alertmanager-{}.kp-kubepulse-alertmanager-cluster.monitoring.svc:9094"
    assert [a for a in am["args"] if a.startswith("--cluster.")] == [
        "--cluster.listen-address=[$(POD_IP)]:9094",
        "--cluster.advertise-address=[$(POD_IP)]:9094",
        *(f"--cluster.peer={peers.format(i)}" for i in range(3)),
        "--cluster.peer-timeout=15s",
    ]
    assert am["env"] == [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    ]
    headless = find(objects, "Service", "kp-kubepulse-alertmanager-cluster")["spec"]
    assert (headless["clusterIP"], headless["publishNotReadyAddresses"]) == ("None", True)
    assert [(p["port"], p["protocol"]) for p in headless["ports"]] == [(9094, "TCP"), (9094, "UDP")]
    # Prometheus finds Alertmanagers by a port named web/http/metrics: the headless Service has
    # none, so each member is sent alerts once, through the main Service.
    assert not {p["name"] for p in headless["ports"]} & {"web", "http", "metrics"}
    (_, gossip) = ingress(objects, "alertmanager")
    assert gossip["ports"] == [{"protocol": "TCP", "port": 9094}, {"protocol": "UDP", "port": 9094}]
    assert [
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in gossip["from"]
    ] == ["alertmanager"]
    accepted_by_release("alertmanager", am["args"])
