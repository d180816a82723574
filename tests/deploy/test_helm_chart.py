"""The Helm chart, checked offline: lint, what it renders, and that deploy/kubernetes/ is current.

Rendering is real `helm template` (helm built from its Go module by `make helm`); the cluster
tests in test_helm_cluster.py install the same chart into the test cluster.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import CHART, REPO, find_helm, render, run_helm

from kubepulse.exporters.cluster.exporter import DEFAULT_RESOURCES, KINDS
from kubepulse.lab.releases import binary

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in WORKLOADS
    }


def find(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert len(matches) == 1, f"expected one {kind} *{suffix}, got {len(matches)}"
    return matches[0]


def test_helm_lint_strict_passes() -> None:
    out = run_helm("lint", "--strict", str(CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in out


ALL_OPTIONS = (
    "--set", "clusterExporter.sharding.enabled=true",
    "--set", "nodeExporter.textfile.enabled=true",
    "--set", "alertmanager.persistence.enabled=true",
)  # fmt: skip


@pytest.mark.parametrize("args", [(), ALL_OPTIONS], ids=["defaults", "all-options"])
def test_every_container_is_locked_down_and_pinned(args: tuple[str, ...]) -> None:
    specs = pod_specs(render(*args))
    assert len(specs) == 6  # with the blackbox exporter
    for where, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in spec["containers"] + spec.get("initContainers", []):
            ctx = c["securityContext"]
            name = f"{where}:{c['name']}"
            assert ctx["runAsNonRoot"] is True, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in ctx["capabilities"], name
            for kind in ("requests", "limits"):
                assert set(c["resources"][kind]) >= {"cpu", "memory"}, f"{name} {kind}"
            repo, _, tag = c["image"].rpartition(":")
            assert repo and tag and tag != "latest", name
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume or any(
                m["name"] == volume["name"] and m.get("readOnly") is True
                for c in spec["containers"]
                for m in c.get("volumeMounts", [])
            ), f"{where}: hostPath {volume['name']} must be mounted read-only"


# Peak RSS, MiB, written here from the measurements (not read from the chart): the cluster exporter
# at 2,000 and 10,000 pods (benchmarks/results/cluster_exporter.md), and the bound the textfile
# abuse tests hold `kubepulse textfile` to (tests/textfile/test_abuse.py; 23 MiB for
# 1M rows in benchmarks/results/textfile.md).
CLUSTER_EXPORTER_PEAK_MIB = {2_000: 117, 10_000: 469}
TEXTFILE_MAX_RSS_MIB = 64


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity (``256Mi``, ``1Gi``) in MiB."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_resources_leave_room_over_the_measured_peaks() -> None:
    all_options = pod_specs(render(*ALL_OPTIONS))
    (exporter,) = pod_specs(render())["Deployment/kp-kubepulse-cluster-exporter"]["containers"]
    (shard,) = all_options["StatefulSet/kp-kubepulse-cluster-exporter"]["containers"]
    expected = {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert exporter["resources"] == shard["resources"] == expected
    # Twice the 10,000-pod peak under the limit; twice the 2,000-pod peak requested.
    memory = exporter["resources"]
    assert mebibytes(memory["limits"]["memory"]) >= 2 * CLUSTER_EXPORTER_PEAK_MIB[10_000]
    assert mebibytes(memory["requests"]["memory"]) >= 2 * CLUSTER_EXPORTER_PEAK_MIB[2_000]
    containers = all_options["DaemonSet/kp-kubepulse-node-exporter"]["containers"]
    sidecar = {c["name"]: c for c in containers}["textfile"]["resources"]
    assert sidecar == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi"},
    }
    assert mebibytes(sidecar["limits"]["memory"]) >= 2 * TEXTFILE_MAX_RSS_MIB


def test_latest_or_missing_tag_is_refused() -> None:
    for value in ("latest", ""):
        with pytest.raises(AssertionError, match="set a pinned tag"):
            render("--set", f"prometheus.image.tag={value}")


def test_cluster_exporter_rbac_is_read_only_on_what_it_serves(
    rendered: list[dict[str, Any]],
) -> None:
    role = find(rendered, "ClusterRole", "-cluster-exporter")
    served = set()
    for rule in role["rules"]:
        assert sorted(rule["verbs"]) == ["get", "list", "watch"]
        served |= {(group, r) for group in rule["apiGroups"] for r in rule["resources"]}
    # Exactly the kinds the exporter serves by default (and the metrics API for usage by label).
    expected = {("metrics.k8s.io", "pods")}
    for name in DEFAULT_RESOURCES:
        group_version = KINDS[name].resource.group_version
        group = "" if group_version.startswith("/api/") else group_version.split("/")[2]
        expected.add((group, name))
    assert served == expected
    assert "*" not in {r for _, r in served}
    binding = find(rendered, "ClusterRoleBinding", "-cluster-exporter")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": "kp-kubepulse-cluster-exporter",
            "namespace": "monitoring",
        }
    ]


def test_prometheus_config_is_deploy_prometheus_with_the_values_applied() -> None:
    objects = render(
        "--set", "prometheus.scrapeInterval=15s", "--set", "clusterName=prod-eu",
        "--set", "prometheus.retention=30d",
    )  # fmt: skip
    source = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    config = yaml.safe_load(
        find(objects, "ConfigMap", "-prometheus-config")["data"]["prometheus.yml"]
    )
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["external_labels"]["cluster"] == "prod-eu"
    # Only the probe jobs' exporter address differs: this release's blackbox_exporter Service.
    for job in source["scrape_configs"]:
        for rule in job.get("relabel_configs", []):
            if (
                job["job_name"].startswith("blackbox-")
                and rule.get("target_label") == "__address__"
            ):
                rule["replacement"] = "kp-kubepulse-blackbox-exporter:9115"
    assert config["scrape_configs"] == source["scrape_configs"]
    assert config["rule_files"] == source["rule_files"]
    rules = find(objects, "ConfigMap", "-prometheus-rules")["data"]
    on_disk = sorted((REPO / "deploy/prometheus/rules").glob("*.yml"))
    assert on_disk and sorted(rules) == [p.name for p in on_disk]
    assert all(rules[p.name] == p.read_text() for p in on_disk)
    args = find(objects, "StatefulSet", "-prometheus")["spec"]["template"]["spec"]["containers"][0]
    assert "--storage.tsdb.retention.time=30d" in args["args"]


def test_probe_jobs_get_the_host_targets_and_go_when_the_blackbox_exporter_does() -> None:
    def probe_jobs(*args: str) -> dict[str, dict[str, Any]]:
        objects = render(*args)
        config = yaml.safe_load(
            find(objects, "ConfigMap", "-prometheus-config")["data"]["prometheus.yml"]
        )
        return {j["job_name"]: j for j in config["scrape_configs"] if "blackbox" in j["job_name"]}

    jobs = probe_jobs(
        "--set", "blackboxExporter.hostTargets[0].target=https://shop.example.net",
        "--set", "blackboxExporter.hostTargets[0].module=tls_expiry",
    )  # fmt: skip
    assert sorted(jobs) == ["blackbox-hosts", "blackbox-ingresses", "blackbox-services"]
    assert jobs["blackbox-hosts"]["static_configs"] == [
        {"targets": ["https://shop.example.net"], "labels": {"module": "tls_expiry"}}
    ]
    assert probe_jobs("--set", "blackboxExporter.enabled=false") == {}


def test_prometheus_may_list_and_watch_what_each_discovery_role_reads(
    rendered: list[dict[str, Any]],
) -> None:
    """Each kubernetes_sd role in deploy/prometheus/prometheus.yml needs its objects (and the
    probe jobs' ingress role networking.k8s.io ingresses) in Prometheus's ClusterRole."""
    source = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    roles = {
        sd["role"]
        for job in [*source["scrape_configs"], *source["alerting"]["alertmanagers"]]
        for sd in job.get("kubernetes_sd_configs", [])
    }
    needs = {
        "node": ("", "nodes"),
        "service": ("", "services"),
        "pod": ("", "pods"),
        "endpoints": ("", "endpoints"),
        "endpointslice": ("discovery.k8s.io", "endpointslices"),
        "ingress": ("networking.k8s.io", "ingresses"),
    }
    assert roles <= set(needs) and "ingress" in roles
    granted = {
        (group, resource)
        for rule in find(rendered, "ClusterRole", "-prometheus")["rules"]
        if {"list", "watch"} <= set(rule.get("verbs", []))
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
    }
    assert {needs[r] for r in roles} <= granted


def test_grafana_alerting_provisioning_ships_only_when_enabled() -> None:
    files = sorted((REPO / "deploy/grafana/provisioning/alerting").glob("*.yml"))
    assert [p.name for p in files] == ["contact-points.yml", "policies.yml", "rules.yml"]

    def shipped(*args: str) -> tuple[dict[str, str], list[dict[str, str]]]:
        objects = render(*args)
        data = find(objects, "ConfigMap", "-grafana-provisioning")["data"]
        spec = find(objects, "Deployment", "-grafana")["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == "provisioning"]
        items = [i for i in volume["configMap"]["items"] if i["key"].startswith("alerting-")]
        return {k: v for k, v in data.items() if k.startswith("alerting-")}, items

    data, items = shipped("--set", "grafana.alerting.enabled=true")
    assert data == {f"alerting-{p.name}": p.read_text() for p in files}
    assert items == [{"key": f"alerting-{p.name}", "path": f"alerting/{p.name}"} for p in files]
    assert shipped() == ({}, [])


def test_alertmanager_config_passes_amtool_with_receivers_from_values(tmp_path: Path) -> None:
    """The rendered Secret, with a receiver override from values, passes the chart's amtool."""
    objects = render("--set", "alertmanager.config.global.smtp_smarthost=mail.example.org:587")
    data = find(objects, "Secret", "-alertmanager-config")["stringData"]
    config = yaml.safe_load(data["alertmanager.yml"])
    assert config["global"]["smtp_smarthost"] == "mail.example.org:587"
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    if "templates" in config:
        config["templates"] = [str(tmp_path / "*.tmpl")]
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [binary("amtool"), "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_grafana_gets_deploy_grafana_dashboards_and_the_release_datasource(
    rendered: list[dict[str, Any]],
) -> None:
    dashboards = sorted((REPO / "deploy/grafana/dashboards").glob("*.json"))
    assert dashboards
    maps = [
        o
        for o in rendered
        if o["metadata"].get("labels", {}).get("kubepulse.dev/grafana-dashboard")
    ]
    assert sorted(next(iter(m["data"])) for m in maps) == [p.name for p in dashboards]
    for m in maps:
        ((name, text),) = m["data"].items()
        assert text == (REPO / "deploy/grafana/dashboards" / name).read_text()
    provisioning = find(rendered, "ConfigMap", "-grafana-provisioning")["data"]
    sources = [
        d for k, v in provisioning.items() if k.startswith("datasources-")
        for d in yaml.safe_load(v)["datasources"] if d["type"] == "prometheus"
    ]  # fmt: skip
    assert sources and all(d["url"] == "http://kp-kubepulse-prometheus:9090" for d in sources)
    grafana = find(rendered, "Deployment", "-grafana")["spec"]["template"]["spec"]["containers"][0]
    secret_refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in grafana["env"]
        if "valueFrom" in e
    }
    assert secret_refs == {
        "GF_SECURITY_ADMIN_USER": "kubepulse-grafana-admin",
        "GF_SECURITY_ADMIN_PASSWORD": "kubepulse-grafana-admin",
    }
    assert not [o for o in rendered if o["kind"] == "Secret" and "grafana" in o["metadata"]["name"]]


def test_sharded_exporter_and_textfile_sidecar() -> None:
    objects = render(*ALL_OPTIONS)
    sts = find(objects, "StatefulSet", "-cluster-exporter")
    assert sts["spec"]["replicas"] == 2
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["kubepulse", "exporter", "cluster"]
    assert {"--shard=$(SHARD)", "--total-shards=2", "--port=8080", "--telemetry-port=8081"} <= set(
        container["args"]
    )
    assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['apps.kubernetes.io/pod-index']"
    )
    assert find(objects, "Service", "-cluster-exporter")["spec"]["clusterIP"] == "None"
    ds = find(objects, "DaemonSet", "-node-exporter")["spec"]["template"]["spec"]
    exporter, sidecar = ds["containers"]
    assert sidecar["command"] == ["kubepulse", "textfile"]
    assert "--output-dir=/var/lib/node_exporter/textfile" in sidecar["args"]
    assert "--collector.textfile.directory=/var/lib/node_exporter/textfile" in exporter["args"]


def test_exporters_accept_only_prometheus(rendered: list[dict[str, Any]]) -> None:
    for component in ("cluster-exporter", "node-exporter", "blackbox-exporter"):
        policy = find(rendered, "NetworkPolicy", f"-{component}")
        (rule,) = policy["spec"]["ingress"]
        (peer,) = rule["from"]
        assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "prometheus"
        assert (
            policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        )


def test_rendered_manifests_in_deploy_kubernetes_are_current(tmp_path: Path) -> None:
    subprocess.run(
        [str(REPO / "deploy/kubernetes/render.sh"), str(tmp_path)],
        env={**os.environ, "HELM": find_helm()}, check=True, capture_output=True,
    )  # fmt: skip
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cluster-exporter-rbac.yaml", "kubepulse.yaml"]
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path, REPO / "deploy/kubernetes", names, shallow=False
    )
    assert not mismatch and not errors, f"stale: {mismatch + errors}; run `make manifests`"


def test_remote_write_extra_secret_mounts_and_retention_size_render_what_they_promise(
    tmp_path: Path,
) -> None:
    remote_write = [
        {
            "url": "https://mimir.example.org/api/v1/push",
            "basic_auth": {
                "username": "tenant-1",
                "password_file": "/etc/prometheus/secrets/mimir/password",
            },
            "queue_config": {"max_samples_per_send": 2000},
            "write_relabel_configs": [
                {"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}
            ],
        },
        {"url": "http://thanos-receive.monitoring:19291/api/v1/receive"},
    ]
    values = {
        "prometheus": {
            "remoteWrite": remote_write,
            "extraSecretMounts": [
                {"name": "mimir-creds", "secretName": "mimir-basic-auth",
                 "mountPath": "/etc/prometheus/secrets/mimir"},
                {"name": "ca", "secretName": "remote-ca", "mountPath": "/etc/prometheus/ca"},
            ],
            "retentionSize": "18GB",
        }
    }  # fmt: skip
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    objects = render("--values", str(tmp_path / "values.yaml"))
    config = yaml.safe_load(
        find(objects, "ConfigMap", "-prometheus-config")["data"]["prometheus.yml"]
    )
    assert config["remote_write"] == remote_write
    spec = find(objects, "StatefulSet", "-prometheus")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert [a for a in container["args"] if a.startswith("--storage.tsdb.retention.")] == [
        "--storage.tsdb.retention.time=15d",
        "--storage.tsdb.retention.size=18GB",
    ]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for name, secret, path in (
        ("mimir-creds", "mimir-basic-auth", "/etc/prometheus/secrets/mimir"),
        ("ca", "remote-ca", "/etc/prometheus/ca"),
    ):
        assert mounts[name] == {"name": name, "mountPath": path, "readOnly": True}
        assert volumes[name] == {"name": name, "secret": {"secretName": secret}}
    # The chart creates none of these Secrets: they are the user's.
    assert not [o for o in objects if o["kind"] == "Secret" and "mimir" in o["metadata"]["name"]]


def test_prometheus_defaults_render_no_remote_write_secret_mounts_or_size_retention(
    rendered: list[dict[str, Any]],
) -> None:
    config = yaml.safe_load(
        find(rendered, "ConfigMap", "-prometheus-config")["data"]["prometheus.yml"]
    )
    assert "remote_write" not in config
    spec = find(rendered, "StatefulSet", "-prometheus")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert [a for a in container["args"] if a.startswith("--storage.tsdb.retention.")] == [
        "--storage.tsdb.retention.time=15d"
    ]
    assert sorted(m["name"] for m in container["volumeMounts"]) == ["config", "data", "rules"]
    assert sorted(v["name"] for v in spec["volumes"]) == ["config", "rules"]  # data: the PVC
    assert not [v for v in spec["volumes"] if "secret" in v]


def test_alertmanager_existing_secret_is_mounted_and_the_chart_renders_none() -> None:
    objects = render("--set", "alertmanager.existingSecret=team-alertmanager")
    spec = find(objects, "StatefulSet", "-alertmanager")["spec"]["template"]
    volumes = {v["name"]: v for v in spec["spec"]["volumes"]}
    assert volumes["config"] == {"name": "config", "secret": {"secretName": "team-alertmanager"}}
    (container,) = spec["spec"]["containers"]
    assert {"name": "config", "mountPath": "/etc/alertmanager", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in container["args"]
    secrets = [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"]
    assert secrets == [], "with existingSecret the chart must not render its own config Secret"
    # No checksum of a config the chart does not hold.
    assert "checksum/config" not in (spec["metadata"]["annotations"] or {})


def test_alertmanager_without_existing_secret_mounts_the_chart_s_own(
    rendered: list[dict[str, Any]],
) -> None:
    secret = find(rendered, "Secret", "-alertmanager-config")
    assert secret["metadata"]["name"] == "kp-kubepulse-alertmanager-config"
    assert "alertmanager.yml" in secret["stringData"]
    spec = find(rendered, "StatefulSet", "-alertmanager")["spec"]["template"]
    volumes = {v["name"]: v for v in spec["spec"]["volumes"]}
    assert volumes["config"]["secret"] == {"secretName": "kp-kubepulse-alertmanager-config"}
    assert "checksum/config" in spec["metadata"]["annotations"]
