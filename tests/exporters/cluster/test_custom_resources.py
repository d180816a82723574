"""Custom resource state metrics (KSM v2.16's ``customresourcestate``): config + object in, the
exact series out; KSM's value parsing and Go formatting; config errors; CRD resolution."""

from __future__ import annotations

import gzip
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubepulse.exporters.cluster.custom_resources import (
    ConfigError,
    CustomResourceSource,
    GroupVersionKind,
    family_specs,
    go_float,
    go_sprint,
    parse_config,
    quantity_float,
    to_float64,
)
from kubepulse.exporters.cluster.exporter import ClusterExporter, Options
from kubepulse.exporters.cluster.store import render_object
from kubepulse.exposition.server import Request

# KSM's own test object (registry_factory_test.go), in the shape the API returns it.
FOO: dict[str, Any] = {
    "apiVersion": "myteam.io/v1",
    "kind": "Foo",
    "metadata": {
        "name": "foo",
        "namespace": "ns",
        "uid": "u1",
        "creationTimestamp": "2022-06-28T00:00:00Z",
        "labels": {"foo": "bar", "app.kubernetes.io/name": "x"},
        "annotations": {"bar": "baz", "qux": "quxx"},
    },
    "spec": {
        "replicas": 1,
        "version": "v0.0.0",
        "order": [{"id": 1, "value": True}, {"id": 3, "value": False}],
        "refs": ["my_other_foo", "foo_2"],
        "paused": None,
        "ratio": "0.3",
    },
    "status": {
        "phase": "Pending",
        "active": {"type-a": 1, "type-b": 3},
        "sub": {"type-a": {"active": 1, "ready": 2}, "type-b": {"active": 3, "ready": 4}},
        "condition_values": [{"name": "a", "value": 45}, {"name": "b", "value": 66}],
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2022-06-28T00:00:00Z"},
            {"type": "Synced", "status": "Unknown"},
        ],
        "quantity_milli": "250m",
        "quantity_binarySI": "5Gi",
        "percentage": "28%",
        "uptime": 43.21,
        "big": 1234567.0,
        "nested": {"k": {"a": 1}, "l": [1, "x"]},
    },
}
GVK = 'customresource_group="myteam.io",customresource_kind="Foo",customresource_version="v1"'


def config(*metrics: dict[str, Any], **resource: Any) -> str:
    entry = {"groupVersionKind": {"group": "myteam.io", "version": "v1", "kind": "Foo"}}
    return yaml.safe_dump(
        {
            "kind": "CustomResourceStateMetrics",
            "spec": {"resources": [{**entry, **resource, "metrics": list(metrics)}]},
        }
    )


def each(kind: str, **body: Any) -> dict[str, Any]:
    key = {"Gauge": "gauge", "StateSet": "stateSet", "Info": "info"}[kind]
    return {"name": "m", "help": "h", "each": {"type": kind, key: body}}


def series(text: str, obj: dict[str, Any] = FOO) -> list[str]:
    specs = family_specs(parse_config(text).resources[0].metrics)
    return "".join(t.decode() for t in render_object(specs, (), obj)).splitlines()


CASES: list[tuple[str, str, list[str]]] = [
    (
        "single value",
        config(each("Gauge", path=["spec", "replicas"])),
        [f"kube_customresource_m{{{GVK}}} 1"],
    ),
    (
        "float",
        config(each("Gauge", path=["status", "uptime"])),
        [f"kube_customresource_m{{{GVK}}} 43.21"],
    ),
    (
        "string number goes through ParseQuantity (0.3 is 3 * 0.1)",
        config(each("Gauge", path=["spec", "ratio"])),
        [f"kube_customresource_m{{{GVK}}} 0.30000000000000004"],
    ),
    (
        "map with labelFromKey",
        config(each("Gauge", path=["status", "active"], labelFromKey="type")),
        [
            f'kube_customresource_m{{{GVK},type="type-a"}} 1',
            f'kube_customresource_m{{{GVK},type="type-b"}} 3',
        ],
    ),
    (
        "deep map: valueFrom and labelsFromPath relative to each element",
        config(
            each(
                "Gauge",
                path=["status", "sub"],
                labelFromKey="type",
                labelsFromPath={"active": ["active"]},
                valueFrom=["ready"],
            )
        ),
        [
            f'kube_customresource_m{{active="1",{GVK},type="type-a"}} 2',
            f'kube_customresource_m{{active="3",{GVK},type="type-b"}} 4',
        ],
    ),
    (
        "map with a one-part valueFrom naming a key: that key only",
        config(each("Gauge", path=["status", "active"], valueFrom=["type-b"])),
        [f"kube_customresource_m{{{GVK}}} 3"],
    ),
    (
        "list with labelsFromPath and valueFrom",
        config(
            each(
                "Gauge",
                path=["status", "condition_values"],
                labelsFromPath={"name": ["name"]},
                valueFrom=["value"],
            )
        ),
        [
            f'kube_customresource_m{{{GVK},name="a"}} 45',
            f'kube_customresource_m{{{GVK},name="b"}} 66',
        ],
    ),
    (
        "conditions: True/Unknown strings; a missing valueFrom skips the element",
        config(
            each(
                "Gauge",
                path=["status", "conditions"],
                labelsFromPath={"type": ["type"]},
                valueFrom=["lastTransitionTime"],
            ),
            {
                "name": "cond",
                "help": "h",
                "each": {
                    "type": "gauge",
                    "gauge": {
                        "path": ["status", "conditions"],
                        "labelsFromPath": {"type": ["type"]},
                        "valueFrom": ["status"],
                    },
                },
            },
        ),
        [
            f'kube_customresource_m{{{GVK},type="Ready"}} 1656374400',
            f'kube_customresource_cond{{{GVK},type="Ready"}} 1',
            f'kube_customresource_cond{{{GVK},type="Synced"}} 0',
        ],
    ),
    (
        "timestamp, quantities, percentage",
        config(
            {**each("Gauge", path=["metadata", "creationTimestamp"]), "name": "t"},
            {**each("Gauge", path=["status", "quantity_milli"]), "name": "q"},
            {**each("Gauge", path=["status", "quantity_binarySI"]), "name": "b"},
            {**each("Gauge", path=["status", "percentage"]), "name": "p"},
        ),
        [
            f"kube_customresource_t{{{GVK}}} 1656374400",
            f"kube_customresource_q{{{GVK}}} 0.25",
            f"kube_customresource_b{{{GVK}}} 5368709120",
            f"kube_customresource_p{{{GVK}}} 0.28",
        ],
    ),
    (
        "nilIsZero: a null or missing field is 0; without it, no series",
        config(
            each("Gauge", path=["spec", "paused"], nilIsZero=True),
            {**each("Gauge", path=["spec", "missing"], nilIsZero=True), "name": "n"},
            {**each("Gauge", path=["spec", "missing"]), "name": "none"},
        ),
        [f"kube_customresource_m{{{GVK}}} 0", f"kube_customresource_n{{{GVK}}} 0"],
    ),
    (
        "list lookup [key=value] by string, number and boolean",
        config(
            each("Gauge", path=["status", "condition_values", "[name=b]", "value"]),
            {**each("Gauge", path=["spec", "order", "[id=3]", "value"]), "name": "n"},
            {**each("Gauge", path=["spec", "order", "[value=true]", "id"]), "name": "b"},
            {**each("Gauge", path=["spec", "order", "-1", "id"]), "name": "i"},
        ),
        [
            f"kube_customresource_m{{{GVK}}} 66",
            f"kube_customresource_n{{{GVK}}} 0",
            f"kube_customresource_b{{{GVK}}} 1",
            f"kube_customresource_i{{{GVK}}} 3",
        ],
    ),
    (
        "stateSet",
        config(
            each(
                "StateSet",
                path=["status", "phase"],
                labelName="phase",
                list=["Pending", "Bar", "Baz"],
            )
        ),
        [
            f'kube_customresource_m{{{GVK},phase="Bar"}} 0',
            f'kube_customresource_m{{{GVK},phase="Baz"}} 0',
            f'kube_customresource_m{{{GVK},phase="Pending"}} 1',
        ],
    ),
    (
        "stateSet over a list, valueFrom per element, labels from the element",
        config(
            each(
                "StateSet",
                path=["status", "conditions"],
                labelName="status",
                valueFrom=["status"],
                list=["True", "Unknown"],
                labelsFromPath={"type": ["type"]},
            )
        ),
        [
            f'kube_customresource_m{{{GVK},status="True",type="Ready"}} 1',
            f'kube_customresource_m{{{GVK},status="True",type="Synced"}} 0',
            f'kube_customresource_m{{{GVK},status="Unknown",type="Ready"}} 0',
            f'kube_customresource_m{{{GVK},status="Unknown",type="Synced"}} 1',
        ],
    ),
    (
        "stateSet on a non-string: no series",
        config(each("StateSet", path=["spec", "replicas"], labelName="x", list=["1"])),
        [],
    ),
    (
        "info from the whole object",
        config(each("Info", labelsFromPath={"version": ["spec", "version"]})),
        [f'kube_customresource_m{{{GVK},version="v0.0.0"}} 1'],
    ),
    (
        "info over a list of scalars: the empty path",
        config(each("Info", path=["spec", "refs"], labelsFromPath={"ref": []})),
        [
            f'kube_customresource_m{{{GVK},ref="foo_2"}} 1',
            f'kube_customresource_m{{{GVK},ref="my_other_foo"}} 1',
        ],
    ),
    (
        "info over a map with labelFromKey",
        config(each("Info", path=["metadata", "annotations"], labelFromKey="key")),
        [
            f'kube_customresource_m{{{GVK},key="bar"}} 1',
            f'kube_customresource_m{{{GVK},key="qux"}} 1',
        ],
    ),
    (
        "info: a path resolving under a child of the map gives a series per child",
        config(each("Info", labelsFromPath={"name": ["name"]})),
        [f'kube_customresource_m{{{GVK},name="foo"}} 1'],
    ),
    (
        "info on a missing path: nothing",
        config(each("Info", path=["does", "not", "exist"])),
        [],
    ),
    (
        "commonLabels and labelsFromPath of resource and metric; * copies maps (sanitized)",
        config(
            {
                **each("Gauge", path=["spec", "replicas"]),
                "commonLabels": {"custom": "yes", "crd": "metric"},
                "labelsFromPath": {
                    "*": ["metadata", "labels"],
                    "ann_*": ["metadata", "annotations"],
                    "foo": ["metadata", "name"],
                },
            },
            commonLabels={"crd": "resource", "team": "a"},
            labelsFromPath={"name": ["metadata", "name"], "ns": ["metadata", "namespace"]},
        ),
        [
            'kube_customresource_m{ann_bar="baz",ann_qux="quxx",app_kubernetes_io_name="x",'
            f'crd="metric",custom="yes",{GVK},foo="foo",name="foo",ns="ns",team="a"}} 1'
        ],
    ),
    (
        "each labels win over the family's; a metric's commonLabels may override the GVK labels",
        config(
            {
                **each("Gauge", path=["status", "active"], labelFromKey="name"),
                "commonLabels": {"customresource_kind": "Bar"},
            },
            labelsFromPath={"name": ["metadata", "name"]},
        ),
        [
            'kube_customresource_m{customresource_group="myteam.io",customresource_kind="Bar",'
            'customresource_version="v1",name="type-a"} 1',
            'kube_customresource_m{customresource_group="myteam.io",customresource_kind="Bar",'
            'customresource_version="v1",name="type-b"} 3',
        ],
    ),
    (
        "label values are Go's %v",
        config(
            each(
                "Info",
                labelsFromPath={
                    "big": ["status", "big"],
                    "uptime": ["status", "uptime"],
                    "map": ["status", "nested", "k"],
                    "list": ["status", "nested", "l"],
                    "flag": ["spec", "order", "0", "value"],
                    "oob": ["spec", "refs", "5"],
                },
            )
        ),
        [
            f'kube_customresource_m{{big="1.234567e+06",{GVK},flag="true",list="[1 x]",'
            'map="map[a:1]",oob="list index out of range: 5",uptime="43.21"} 1'
        ],
    ),
    (
        "custom metricNamePrefix",
        config(each("Gauge", path=["spec", "replicas"]), metricNamePrefix="myteam_foos"),
        [f"myteam_foos_m{{{GVK}}} 1"],
    ),
    (
        "empty metricNamePrefix",
        config(each("Gauge", path=["spec", "replicas"]), metricNamePrefix=""),
        [f"m{{{GVK}}} 1"],
    ),
]


@pytest.mark.parametrize(("text", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_series(text: str, want: list[str]) -> None:
    assert series(text) == want


def test_headers_name_help_and_type() -> None:
    cfg = parse_config(
        config(
            each("Gauge", path=["spec", "replicas"]),
            {**each("StateSet", path=["status", "phase"], labelName="p"), "name": "s"},
            {**each("Info", labelsFromPath={"v": ["spec", "version"]}), "name": "i", "help": ""},
        )
    )
    assert [s.family.header for s in family_specs(cfg.resources[0].metrics)] == [
        "# HELP kube_customresource_m h\n# TYPE kube_customresource_m gauge\n",
        "# HELP kube_customresource_s h\n# TYPE kube_customresource_s stateset\n",
        "# HELP kube_customresource_i \n# TYPE kube_customresource_i info\n",
    ]


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (True, 1.0),
        (False, 0.0),
        (3, 3.0),
        (2.5, 2.5),
        ("True", 1.0),
        ("yes", 1.0),
        ("NO", 0.0),
        ("unknown", 0.0),
        ("2022-06-28T00:00:00Z", 1656374400.0),
        ("2022-06-28T02:00:00.999+02:00", 1656374400.0),
        ("250m", 0.25),
        ("5Gi", 5368709120.0),
        ("1.5Gi", 1610612736.0),
        ("100M", 1e8),
        ("1e3", 1000.0),
        ("1.5e3", 1500.0),
        ("0.3", 0.30000000000000004),
        ("-12.5", -12.5),
        ("28%", 0.28),
        ("0x1p-2", 0.25),
        ("m", 0.0),  # apimachinery reads a bare suffix as 0
        ("+Inf", math.inf),
    ],
)
def test_to_float64(value: Any, want: float) -> None:
    assert to_float64(value, False) == want


@pytest.mark.parametrize(
    "value", [None, "abc", "12.5%", "1_000", " 1", "1e400x", {"a": 1}, [1], "2022-13-01T00:00:00Z"]
)
def test_to_float64_refuses(value: Any) -> None:
    with pytest.raises(ValueError):
        to_float64(value, False)


def test_nil_is_zero() -> None:
    assert to_float64(None, True) == 0.0


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1.0000000001", 1.000000001),  # the slow path rounds up to nano precision
        ("123456789012345678901", 1.2345678901234568e20),  # KSM's figure
        ("16Ei", 9223372036854775807.0),  # a BinarySI one is capped at int64's max
        ("0.1Gi", 107374182.4),
    ],
)
def test_quantity_slow_path(text: str, want: float) -> None:
    assert quantity_float(text) == pytest.approx(want, rel=1e-15)


def test_quantity_slow_path_exact() -> None:
    assert quantity_float("123456789012345678901") == 1.2345678901234568e20


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (1.0, "1"),
        (1234567.0, "1.234567e+06"),
        (123456.0, "123456"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.718e9, "1.718e+09"),
        (-2.5e-7, "-2.5e-07"),
        (math.inf, "+Inf"),
    ],
)
def test_go_float(value: float, want: str) -> None:
    assert go_float(value) == want


def test_go_sprint() -> None:
    assert go_sprint({"b": [1, None], "a": {"x": True}}) == "map[a:map[x:true] b:[1 <nil>]]"


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            config(each("Gauge", path=["a"]), {"name": "x", "each": {"type": "Foo"}}),
            'spec.resources[0].metrics[1].each.type: unknown type "Foo"',
        ),
        (
            config({"name": "x", "each": {"type": "Gauge"}}),
            "spec.resources[0].metrics[0].each.gauge: missing (each.type is Gauge)",
        ),
        (
            config(each("Gauge", path=["status", "[bad]"])),
            "spec.resources[0].metrics[0].each.gauge.path[1]: invalid list lookup: [bad]",
        ),
        (
            config(each("Gauge", path="spec")),
            "spec.resources[0].metrics[0].each.gauge.path: expected a list of strings, got 'spec'",
        ),
        (
            config(each("Gauge", path=["a"], nilIsZero="sure")),
            "spec.resources[0].metrics[0].each.gauge.nilIsZero: expected true or false, got 'sure'",
        ),
        (
            config(each("StateSet", path=["a"], list=["x"])),
            "spec.resources[0].metrics[0].each.stateSet.labelName: required",
        ),
        (
            config({**each("Gauge", path=["a"]), "name": "bad-name"}),
            "spec.resources[0].metrics[0].name: invalid metric name 'kube_customresource_bad-name'",
        ),
        (
            "spec:\n  resources:\n  - groupVersionKind: {version: v1, kind: Foo}\n",
            "spec.resources[0].groupVersionKind.group: required (a group, not a wildcard)",
        ),
        ("spec: {resources: 3}\n", "spec.resources: expected a list, got '3'"),
        ("spec: [\n", "cannot parse YAML"),
        ("", "empty config"),
        ("spec:[", "expected a CustomResourceStateMetrics mapping, got 'spec:['"),
        (
            config(each("Gauge", path=["a"]), labelsFromPath={"n": ["[x]"]}),
            "spec.resources[0].labelsFromPath.n[0]: invalid list lookup: [x]",
        ),
    ],
)
def test_config_errors(text: str, want: str) -> None:
    assert _error(text).startswith(want)


def test_config_types_lowercased_and_unknown_fields_ignored() -> None:
    cfg = parse_config(
        "kind: CustomResourceStateMetrics\n"
        "spec:\n  resources:\n  - groupVersionKind: {group: g.io, version: v1, kind: Foo}\n"
        "    resourcePlural: foos\n    errorLogV: 3\n    typo: 1\n"
        "    metrics:\n    - name: x\n"
        "      each: {type: GAUGE, gauge: {path: [a], nilIsZero: yes}}\n"
    )
    metric = cfg.resources[0].metrics[0]
    assert (metric.type, metric.nil_is_zero, metric.error_log_v) == ("gauge", True, 3)
    assert cfg.resources[0].resource_plural == "foos"


def _crd(group: str, kind: str, plural: str, versions: list[str], scope: str = "Namespaced") -> Any:
    return {
        "metadata": {"uid": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"kind": kind, "plural": plural},
            "versions": [{"name": v, "served": v != "v0"} for v in versions],
        },
    }


def test_resolution_against_crds() -> None:
    """Exact GVKs, wildcard version/kind, the CRD's plural and scope, last entry wins."""
    text = yaml.safe_dump(
        {
            "spec": {
                "resources": [
                    {"groupVersionKind": {"group": "a.io", "version": "v1", "kind": "Foo"}},
                    {"groupVersionKind": {"group": "b.io", "version": "*", "kind": "Bar"}},
                    {"groupVersionKind": {"group": "c.io", "version": "v1", "kind": ""}},
                    {"groupVersionKind": {"group": "a.io", "version": "v1", "kind": "Foo"}},
                    {"groupVersionKind": {"group": "z.io", "version": "v1", "kind": "None"}},
                ]
            }
        }
    )
    source = CustomResourceSource(None, parse_config(text))  # type: ignore[arg-type]
    source.apply(
        [
            _crd("a.io", "Foo", "fooz", ["v1", "v2"]),
            _crd("b.io", "Bar", "bars", ["v0", "v1", "v2"], scope="Cluster"),
            _crd("c.io", "Baz", "bazs", ["v1"]),
            _crd("c.io", "Qux", "quxes", ["v1", "v2"]),
        ],
        (),
        False,
    )
    wanted = source.resolve()
    got = {(str(g), s.plural, s.namespaced, s.entry) for g, s in wanted.items()}
    assert got == {
        ("a.io_v1_Foo", "fooz", True, 3),
        ("b.io_v1_Bar", "bars", False, 1),
        ("b.io_v2_Bar", "bars", False, 1),
        ("c.io_v1_Baz", "bazs", True, 2),
        ("c.io_v1_Qux", "quxes", True, 2),
    }
    assert source.unsynced() == ["customresourcedefinitions"]
    source.apply((), ["fooz.a.io"], True)
    assert GroupVersionKind("a.io", "v1", "Foo") not in source.resolve()
    assert "fooz.a.io/v1" not in " ".join(source.unsynced())


def test_wildcard_resolution_labels_each_version() -> None:
    text = config(each("Gauge", path=["spec", "replicas"]))
    text = text.replace("version: v1", "version: '*'")
    source = CustomResourceSource(None, parse_config(text))  # type: ignore[arg-type]
    source.apply([_crd("myteam.io", "Foo", "foos", ["v1", "v2"])], (), True)
    out = sorted(
        line
        for store in source.stores
        for spec in store.specs
        for line in render_object([spec], (), FOO)
    )
    assert [o.decode() for o in out] == [
        f"kube_customresource_m{{{GVK}}} 1\n",
        f"kube_customresource_m{{{GVK.replace('v1', 'v2')}}} 1\n",
    ]


CMD = [sys.executable, "-m", "kubepulse", "exporter", "cluster"]


def test_cli_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "crs.yaml"
    bad.write_text(config(each("Gauge", path=["a"]), {"name": "x", "each": {"type": "Foo"}}))
    result = subprocess.run(
        [*CMD, f"--custom-resource-state-config-file={bad}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        "exporter cluster: --custom-resource-state-config-file: "
        'spec.resources[0].metrics[1].each.type: unknown type "Foo"'
    )
    result = subprocess.run(
        [*CMD, "--custom-resource-state-config", "spec: [", "--custom-resource-state-only"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--custom-resource-state-config: cannot parse YAML" in result.stderr
    result = subprocess.run(
        [*CMD, f"--custom-resource-state-config-file={tmp_path / 'nope.yaml'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--custom-resource-state-config-file: cannot read" in result.stderr


def _plain(exporter: ClusterExporter) -> bytes:
    """The plain-text /metrics body, as a scrape without gzip gets it."""
    response = exporter.metrics(Request("GET", "/metrics", {}, {}))
    assert response.status == 200
    return response.body if isinstance(response.body, bytes) else b"".join(response.body)


def test_exporter_serves_them_after_the_crds_are_listed() -> None:
    """Through ClusterExporter: 503 until the CRDs (then each CR kind) are listed; the metric
    allow/deny lists apply to CRS families as in KSM; text and gzip agree."""
    cfg = parse_config(
        config(
            each("Gauge", path=["spec", "replicas"]),
            {**each("Gauge", path=["status", "uptime"]), "name": "uptime"},
        )
    )
    opts = Options(resources=(), custom_resource_state=cfg, metric_denylist=["_uptime$"])
    exporter = ClusterExporter(None, opts)  # type: ignore[arg-type]
    source = exporter.custom_resources
    assert source is not None
    assert exporter.unsynced() == ["customresourcedefinitions"]
    request = Request("GET", "/metrics", {}, {})
    assert exporter.metrics(request).status == 503
    source.apply([_crd("myteam.io", "Foo", "foos", ["v1"])], (), True)
    assert exporter.unsynced() == ["foos.myteam.io/v1"]
    source.stores[0].apply([FOO], (), True)
    assert exporter.unsynced() == []
    assert _plain(exporter).decode() == (
        "# HELP kube_customresource_m h\n# TYPE kube_customresource_m gauge\n"
        f"kube_customresource_m{{{GVK}}} 1\n"
    )
    response = exporter.metrics(Request("GET", "/metrics", {}, {"Accept-Encoding": "gzip"}))
    assert response.status == 200
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    assert gzip.decompress(body) == _plain(exporter)
    # The CRD goes away: so do its series.
    source.apply((), ["foos.myteam.io"], False)
    assert _plain(exporter) == b""
