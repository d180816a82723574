"""Custom resource state metrics against the real kube-state-metrics, series for series.

Two CRDs (a namespaced ``Widget`` without a status subresource, so ``kubectl apply`` sets its
status; a cluster-scoped ``Gizmo`` served in two versions) and custom objects in varied states
(integers, floats, booleans and boolean-like strings, quantities, percentages, RFC 3339 times
with and without offsets, maps for ``labelFromKey``, lists for gauges/stateSets/infos, missing
fields for ``nilIsZero``) are watched by kube-state-metrics and kubepulse with the same
``--custom-resource-state-config-file`` and ``--custom-resource-state-only=true`` (which makes both
ignore ``--resources``). Every series of the fixture's groups must be equal.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers_cluster_exporter import (
    Series,
    apply,
    assert_same_series,
    fetch,
    scrape,
    start_side_by_side,
)

from kubepulse.exporters.cluster.custom_resources import UNSTRUCTURED
from kubepulse.lab.cluster import Cluster
from kubepulse.lab.cluster.binaries import KSM_VERSION
from kubepulse.lab.processes import ProcessGroup

pytestmark = pytest.mark.cluster

SCHEMA = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


def crd(group: str, kind: str, scope: str = "Namespaced", versions: int = 1) -> dict[str, Any]:
    """A CustomResourceDefinition of ``kind`` (plural: its lower case plus s) serving versions
    v1 .. v``versions``, v1 the stored one, none with a schema of its own."""
    singular = kind.lower()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{singular}s.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": f"{singular}s", "singular": singular, "kind": kind},
            "versions": [
                {"name": f"v{n}", "served": True, "storage": n == 1, "schema": SCHEMA}
                for n in range(1, versions + 1)
            ],
        },
    }


def crds(group: str) -> list[dict[str, Any]]:
    return [crd(group, "Widget"), crd(group, "Gizmo", scope="Cluster", versions=2)]


def widgets(group: str) -> list[dict[str, Any]]:
    api = f"{group}/v1"
    return [
        {
            "apiVersion": api,
            "kind": "Widget",
            "metadata": {"name": "alpha", "labels": {"app": "shop", "tier": "front"}},
            "spec": {
                "replicas": 3,
                "enabled": True,
                "ratio": "0.3",
                "memory": "1.5Gi",
                "cpu": "250m",
                "percent": "50%",
                "version": "v1.2.3",
                "refs": ["a", "b"],
                "weights": {"a": 1, "b": 2.5},
                "owners": {"team": "shop", "oncall": "ops"},
            },
            "status": {
                "phase": "Ready",
                "lastUpdated": "2026-03-01T10:00:00Z",
                "conditions": [
                    {"type": "Ready", "status": "True", "since": "2026-01-02T03:04:05Z"},
                    {"type": "Degraded", "status": "False", "since": "2026-01-02T03:04:06Z"},
                ],
                "shards": {"eu": {"ready": 2, "total": 3}, "us": {"ready": 1, "total": 1}},
            },
        },
        {
            "apiVersion": api,
            "kind": "Widget",
            "metadata": {"name": "beta", "labels": {"app": "db"}},
            "spec": {
                "enabled": False,
                "ratio": 1.25,
                "memory": "100M",
                "cpu": "1.5",
                "percent": "7%",
                "version": "v0.9.0",
                "refs": [],
                "weights": {"x": "3"},
            },
            "status": {
                "phase": "Pending",
                "lastUpdated": "2026-03-01T12:30:15.123+02:00",
                "conditions": [
                    {"type": "Ready", "status": "Unknown", "since": "2026-01-01T00:00:00Z"}
                ],
                "shards": {"eu": {"ready": 0, "total": 2}},
            },
        },
        {
            # Go's and apimachinery's corners: slow-path quantities, hex floats, %v of floats,
            # maps and lists, negative and out-of-range indexes, [key=value] lookups.
            "apiVersion": api,
            "kind": "Widget",
            "metadata": {"name": "delta"},
            "spec": {
                "quirks": {
                    "a": "0.1Gi",
                    "b": "1.0000000001",
                    "c": "0x1p-2",
                    "d": "+Inf",
                    "e": "m",
                    "f": "5Ki",
                    "g": "2.5e-3",
                    "h": "123456789012345678901",
                    "i": "unknown",
                    "j": "1.5E2",
                    "k": "-0.7",
                    "l": "bad",
                    "m": "12.5%",
                },
                "refs": ["p", "q"],
                "order": [{"id": 3, "name": "three"}, {"id": 4, "name": "four", "on": True}],
                "weights": {"a": 1, "b": 2.5},
                "flags": [True],
            },
            "status": {
                "big": 1234567.5,
                "small": 0.00001,
                "nested": {"k": {"a": 1}, "l": [1, "x", True]},
                "conditions": [
                    {"type": "Ready", "status": "True", "since": "1999-12-31T23:59:59-01:30"}
                ],
            },
        },
        {
            "apiVersion": api,
            "kind": "Widget",
            "metadata": {"name": "gamma"},
            "spec": {"replicas": 0, "enabled": "yes", "ratio": "1e3", "memory": "2Ki"},
            "status": {},
        },
    ]


def gizmos(group: str, ns: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": f"{group}/v1",
            "kind": "Gizmo",
            "metadata": {"name": f"{ns}-big"},
            "spec": {"size": 12, "color": "red"},
        },
        {
            "apiVersion": f"{group}/v1",
            "kind": "Gizmo",
            "metadata": {"name": f"{ns}-small"},
            "spec": {"size": "0.5", "color": "blue"},
        },
    ]


def gauge(name: str, path: list[str], **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "help": f"{name} help",
        "each": {"type": "Gauge", "gauge": {"path": path, **more}},
    }


def crs_config(group: str) -> dict[str, Any]:
    widget_metrics = [
        gauge("widget_replicas", ["spec", "replicas"], nilIsZero=True),
        gauge("widget_replicas_strict", ["spec", "replicas"]),
        gauge("widget_enabled", ["spec", "enabled"]),
        gauge("widget_ratio", ["spec", "ratio"]),
        {**gauge("widget_memory", ["spec", "memory"]), "commonLabels": {"unit": "byte"}},
        gauge("widget_cpu", ["spec", "cpu"]),
        gauge("widget_percent", ["spec", "percent"]),
        gauge("widget_last_updated", ["status", "lastUpdated"]),
        gauge(
            "widget_condition",
            ["status", "conditions"],
            labelsFromPath={"type": ["type"]},
            valueFrom=["status"],
        ),
        gauge(
            "widget_condition_since",
            ["status", "conditions"],
            labelsFromPath={"type": ["type"]},
            valueFrom=["since"],
        ),
        gauge(
            "widget_ready_condition",
            ["status", "conditions", "[type=Ready]", "status"],
        ),
        gauge(
            "widget_shard_ready",
            ["status", "shards"],
            labelFromKey="shard",
            labelsFromPath={"total": ["total"]},
            valueFrom=["ready"],
        ),
        gauge("widget_weight", ["spec", "weights"], labelFromKey="weight"),
        gauge("widget_quirk", ["spec", "quirks"], labelFromKey="key"),
        gauge("widget_weight_b", ["spec", "weights"], valueFrom=["b"]),
        gauge(
            "widget_weight_zero",
            ["spec", "weights"],
            valueFrom=["zzz"],
            nilIsZero=True,
            labelFromKey="w",
        ),
        gauge("widget_order_on", ["spec", "order", "[on=true]", "id"]),
        gauge("widget_order_last", ["spec", "order", "-1", "id"]),
        # No path: the object is a map, so each top-level field is an element.
        gauge("widget_fields", [], valueFrom=["replicas"], nilIsZero=True, labelFromKey="field"),
        {
            "name": "widget_child_info",
            "help": "a label path resolving under a child",
            "each": {"type": "Info", "info": {"labelsFromPath": {"child": ["name"]}}},
        },
        {
            "name": "widget_star_info",
            "help": "maps copied",
            "labelsFromPath": {"**": ["metadata", "labels"], "*x": ["spec", "owners"]},
            "each": {"type": "Info", "info": {"labelsFromPath": {"v": ["spec", "version"]}}},
        },
        {
            "name": "widget_quirk_labels",
            "help": "Go's %v",
            "each": {
                "type": "Info",
                "info": {
                    "labelsFromPath": {
                        "big": ["status", "big"],
                        "small": ["status", "small"],
                        "map": ["status", "nested"],
                        "list": ["spec", "refs"],
                        "oob": ["spec", "refs", "5"],
                        "neg": ["spec", "refs", "-1"],
                        "cond": ["status", "conditions", "[type=Ready]", "status"],
                        "byval": ["spec", "order", "[id=3]", "name"],
                        "flag": ["spec", "flags", "0"],
                    }
                },
            },
        },
        {
            "name": "widget_phase",
            "help": "phase",
            "each": {
                "type": "StateSet",
                "stateSet": {
                    "path": ["status"],
                    "labelName": "phase",
                    "valueFrom": ["phase"],
                    "list": ["Ready", "Pending", "Failed"],
                },
            },
        },
        {
            "name": "widget_condition_status",
            "help": "condition status",
            "each": {
                "type": "stateset",
                "stateSet": {
                    "path": ["status", "conditions"],
                    "labelName": "status",
                    "valueFrom": ["status"],
                    "list": ["True", "False", "Unknown"],
                    "labelsFromPath": {"condition": ["type"]},
                },
            },
        },
        {
            "name": "widget_version_info",
            "help": "version",
            "each": {"type": "Info", "info": {"labelsFromPath": {"version": ["spec", "version"]}}},
        },
        {
            "name": "widget_ref_info",
            "help": "refs",
            "each": {
                "type": "Info",
                "info": {"path": ["spec", "refs"], "labelsFromPath": {"ref": []}},
            },
        },
        {
            "name": "widget_owner_info",
            "help": "owners",
            "each": {"type": "Info", "info": {"path": ["spec", "owners"], "labelFromKey": "role"}},
        },
        {
            "name": "widget_labels",
            "help": "labels",
            "labelsFromPath": {"label_*": ["metadata", "labels"]},
            "each": {"type": "Info", "info": {"labelsFromPath": {"uid_set": ["metadata", "name"]}}},
        },
    ]
    return {
        "kind": "CustomResourceStateMetrics",
        "spec": {
            "resources": [
                {
                    "groupVersionKind": {"group": group, "version": "v1", "kind": "Widget"},
                    "commonLabels": {"source": "crs"},
                    "labelsFromPath": {
                        "name": ["metadata", "name"],
                        "namespace": ["metadata", "namespace"],
                    },
                    "metrics": widget_metrics,
                },
                {
                    "groupVersionKind": {"group": group, "version": "*", "kind": "Gizmo"},
                    "metricNamePrefix": "",
                    "labelsFromPath": {"gizmo": ["metadata", "name"]},
                    "metrics": [
                        gauge("kubepulse_test_gizmo_size", ["spec", "size"]),
                        {
                            "name": "kubepulse_test_gizmo_info",
                            "help": "gizmo",
                            "each": {
                                "type": "Info",
                                "info": {"labelsFromPath": {"color": ["spec", "color"]}},
                            },
                        },
                    ],
                },
            ]
        },
    }


def relevant(series: Series, group: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for (name, labels), value in series.items():
        if dict(labels).get("customresource_group") == group:
            out[(name, frozenset((k, v) for k, v in labels if v != ""))] = value
    return out


def _headers(text: str, families: set[str]) -> list[str]:
    return sorted(
        line for line in text.splitlines() if line.startswith("# ") and line.split()[2] in families
    )


def sprocket_crd(group: str) -> dict[str, Any]:
    """A CRD made while both exporters run (they must discover it)."""
    return crd(group, "Sprocket")


MODES = {
    # --custom-resource-state-only makes both ignore --resources.
    "crs-only": ["--resources=pods", "--custom-resource-state-only=true"],
    # Beside a built-in kind, one namespace: a cluster-scoped kind has no series then.
    "namespaces": ["--resources=namespaces", "--namespaces={ns}"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_custom_resource_state_matches_kube_state_metrics(
    cluster: Cluster, namespace: str, tmp_path: Path, mode: str
) -> None:
    ns = namespace
    group = f"{ns}.kubepulse-test.dev"
    definitions = [*crds(group), sprocket_crd(group)]
    crd_file = tmp_path / "crds.yaml"
    crd_file.write_text(yaml.safe_dump_all(definitions))
    try:
        _apply_crds(cluster, tmp_path / "first.yaml", definitions[:2])
        apply(cluster, ns, *widgets(group), *gizmos(group, ns))
        config = tmp_path / "crs.yaml"
        cfg = crs_config(group)
        cfg["spec"]["resources"].append(
            {
                "groupVersionKind": {"group": group, "version": "v1", "kind": "Sprocket"},
                "metrics": [gauge("sprocket_teeth", ["spec", "teeth"])],
            }
        )
        config.write_text(yaml.safe_dump(cfg))
        flags = [f.format(ns=ns) for f in MODES[mode]]
        _compare(cluster, tmp_path, config, group, ns, flags, mode)
    finally:
        cluster.kubectl("delete", "--wait=false", "--ignore-not-found", "-f", str(crd_file))


def _apply_crds(cluster: Cluster, path: Path, definitions: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump_all(definitions))
    cluster.kubectl("apply", "-f", str(path))
    for crd in definitions:
        name = crd["metadata"]["name"]
        cluster.kubectl("wait", "--for=condition=established", "--timeout=60s", f"crd/{name}")


def _compare(
    cluster: Cluster,
    tmp_path: Path,
    config: Path,
    group: str,
    ns: str,
    flags: list[str],
    mode: str,
) -> None:
    common = [
        "--kubeconfig",
        str(cluster.kubeconfig),
        f"--custom-resource-state-config-file={config}",
        *flags,
    ]
    with ProcessGroup(tmp_path) as group_:
        ports = start_side_by_side(group_, common)
        theirs, ksm_all, kp_all = _converge(ports, group, f"{mode}, at start")
        families = {name for name, _ in theirs}
        if mode == "crs-only":
            # Every metric of the config has series, and no built-in kind is served.
            assert len(families) == 30, sorted(families)
            assert not any(name.startswith("kube_pod_") for name, _ in ksm_all)
            assert not any(name.startswith("kube_pod_") for name, _ in kp_all)
            versions = {dict(lbl)["customresource_version"] for n, lbl in theirs if "gizmo" in n}
            assert versions == {"v1", "v2"}
        else:
            assert not any("gizmo" in name for name in families)
            assert any(name.startswith("kube_namespace_") for name, _ in kp_all)
        # Changes while both run: an update, a delete, and a CRD that did not exist at start.
        api = f"{group}/v1"
        cluster.kubectl(
            "patch", "-n", ns, f"widgets.{group}", "alpha", "--type=merge",
            "-p", '{"spec": {"replicas": 5}}',
        )  # fmt: skip
        cluster.kubectl("delete", "-n", ns, f"widgets.{group}", "gamma")
        _apply_crds(cluster, tmp_path / "later.yaml", [sprocket_crd(group)])
        apply(
            cluster,
            ns,
            {
                "apiVersion": api,
                "kind": "Sprocket",
                "metadata": {"name": "s1"},
                "spec": {"teeth": 9},
            },
        )
        theirs, _, _ = _converge(ports, group, f"{mode}, after changes")
        names = {dict(lbl).get("name") for _, lbl in theirs}
        assert "gamma" not in names
        assert "kube_customresource_sprocket_teeth" in {n for n, _ in theirs}
        replicas = [v for (n, lbl), v in theirs.items() if n.endswith("widget_replicas")]
        assert 5.0 in replicas
        # Their lists and watches are counted as KSM counts them (by Go type).
        for port in ("ksm-tel", "kp-tel"):
            tel = scrape(f"http://127.0.0.1:{ports[port]}")
            for family in ("kube_state_metrics_list_total", "kube_state_metrics_watch_total"):
                key = (family, frozenset({("result", "success"), ("resource", UNSTRUCTURED)}))
                assert tel.get(key, 0) > 0, (port, family)


def _converge(
    ports: dict[str, int], group: str, label: str
) -> tuple[dict[tuple[str, frozenset[tuple[str, str]]], float], Series, Series]:
    """Scrape both until they agree (KSM discovers CRDs every 3 s); assert series for series."""
    deadline = time.monotonic() + 60
    settled_at = time.monotonic() + 5
    while True:
        ksm_all = scrape(f"http://127.0.0.1:{ports['ksm']}")
        kp_all = scrape(f"http://127.0.0.1:{ports['kp']}")
        theirs, ours = relevant(ksm_all, group), relevant(kp_all, group)
        equal = sum(1 for k, v in theirs.items() if ours.get(k) == v)
        done = equal == len(theirs) == len(ours) and len(theirs) > 0
        if (done and time.monotonic() > settled_at) or time.monotonic() > deadline:
            break
        time.sleep(1)
    headers = [
        _headers(fetch(f"http://127.0.0.1:{ports[p]}/metrics")[1].decode(), {n for n, _ in theirs})
        for p in ("ksm", "kp")
    ]
    assert_same_series(theirs, ours, f"CRS parity with kube-state-metrics v{KSM_VERSION} ({label})")
    # The same # HELP and # TYPE lines (stateset and info types included).
    assert headers[0] == headers[1]
    return theirs, ksm_all, kp_all
