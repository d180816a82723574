"""Custom resource state metrics: kube-state-metrics v2.16 ``pkg/customresourcestate``.

A ``CustomResourceStateMetrics`` config (``--custom-resource-state-config`` inline YAML or
``--custom-resource-state-config-file``) names custom resources by ``groupVersionKind`` and the
families to derive from their fields. As in KSM:

* the CRDs are watched (``apiextensions.k8s.io/v1``); each config entry resolves against them
  (``version``/``kind`` may be ``*`` or empty: every version/kind of the group), and the plural
  and scope come from the CRD (KSM overwrites ``resourcePlural`` with the CRD's plural too). A
  GVK named by several entries is served with the last entry's families, as KSM's store map keeps
  the last one;
* a family is ``<metricNamePrefix>_<name>``: the prefix defaults to ``kube_customresource``, an
  empty prefix gives the bare name;
* every series carries ``customresource_group``/``_version``/``_kind`` (set into the resource's
  ``commonLabels``, so a metric's own ``commonLabels`` may override them), the merged
  resource+metric ``commonLabels`` and ``labelsFromPath`` (evaluated on the whole object), under
  the labels the ``each`` block resolves itself;
* values: numbers, booleans, ``true``/``yes``/``false``/``no``/``unknown`` strings, RFC 3339
  timestamps (whole Unix seconds), quantities (``250m``, ``5Gi``: apimachinery's
  ``AsApproximateFloat64``, bit for bit), ``NN%`` percentages, then Go's ``ParseFloat``;
* label values are Go's ``%v`` of the field (``1.5e+06``, ``map[a:1]``, ``[x y]``).

Departures, all where KSM would misbehave: a bad config is refused at start (KSM logs it and
serves nothing for the resource), a ``stateSet`` needs a ``labelName`` (KSM would write
``{="..."}``), a list index equal to the list's length is "out of range" (KSM panics), and
``errorLogV`` only picks between warning (0) and debug (>0) logging.
"""

from __future__ import annotations

import calendar
import itertools
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

import yaml

from kubepulse.exporters.cluster.store import FamilySpec, KindStore, Labels, Sample
from kubepulse.exposition.server import Stream
from kubepulse.exposition.text import Family
from kubepulse.kube.client import KubeClient
from kubepulse.kube.informer import Backoff, Informer, InformerStats, Resource

__all__ = [
    "ConfigError",
    "CustomResourceConfig",
    "CustomResourceSource",
    "GroupVersionKind",
    "MetricConfig",
    "ResourceConfig",
    "family_specs",
    "go_sprint",
    "parse_config",
    "to_float64",
]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "kube_customresource"
CRDS = Resource("customresourcedefinitions", "/apis/apiextensions.k8s.io/v1", namespaced=False)
# What KSM's list/watch counters call every custom resource (reflect's name of its Go type).
UNSTRUCTURED = "*unstructured.Unstructured"
TYPES = {"gauge": "gauge", "stateset": "stateset", "info": "info"}
Obj = Any


class ConfigError(ValueError):
    """A bad config: ``str()`` is ``<field>: <what is wrong>``."""


# ---------------------------------------------------------------------------------- Go values


class GoError:
    """The error value KSM's path lookup yields for an out-of-range list index."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), which is also fmt's ``%v`` of a float64."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits_t, exp = Decimal(repr(value)).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digits_t)).rstrip("0") or "0"
    exp += len("".join(map(str, digits_t))) - len(digits)
    nd = len(digits)
    dp = nd + exp  # position of the decimal point
    neg = "-" if sign else ""
    x = dp - 1
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if nd > 1 else "")
        return f"{neg}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return f"{neg}{digits}{'0' * (dp - nd)}"
    return f"{neg}{digits[:dp]}.{digits[dp:]}"


def go_sprint(value: Obj) -> str:
    """fmt.Sprintf("%v", v) for the values a decoded JSON object holds."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, GoError):
        return value.message
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_sprint(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    return str(value)


# Go's math.Pow10 tables: exact products/quotients of correctly rounded literals.
_POW10 = [float(f"1e{i}") for i in range(32)]
_POW10_POS32 = [float(f"1e{32 * i}") for i in range(10)]
_POW10_NEG32 = [float(f"1e-{32 * i}") if i else 1.0 for i in range(11)]


def go_pow10(n: int) -> float:
    if 0 <= n <= 308:
        return _POW10_POS32[n // 32] * _POW10[n % 32]
    if -323 <= n <= 0:
        return _POW10_NEG32[-n // 32] / _POW10[-n % 32]
    return math.inf if n > 0 else 0.0


_INT64_MAX = (1 << 63) - 1
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_SUFFIX_CHARS = set("eEinumkKMGTP")
_GO_INT = re.compile(r"^[+-]?[0-9]+$")


def _quantity_parts(s: str) -> tuple[bool, str, str, str, str]:
    """apimachinery's parseQuantityString: (positive, value, num, denom, suffix); ValueError."""
    positive, pos, end = True, 0, len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] == "+"
        pos += 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and s[pos].isascii() and s[pos].isdigit():
        pos += 1
    num = s[start:pos] or "0"
    if pos >= end:
        return positive, s, num, "", ""
    denom = ""
    if s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos].isascii() and s[pos].isdigit():
            pos += 1
        denom = s[start:pos]
        if pos >= end:
            return positive, s, num, denom, ""
    value = s[:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos >= end:
        return positive, value, num, denom, s[suffix_start:]
    if s[pos] in "+-":
        pos += 1
    while pos < end and s[pos].isascii() and s[pos].isdigit():
        pos += 1
    if pos >= end:
        return positive, value, num, denom, s[suffix_start:]
    raise ValueError("quantities must match the regular expression")


def _suffix(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a quantity suffix; ValueError."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE" and _GO_INT.match(suffix[1:]):
        exponent = int(suffix[1:])
        if -(1 << 63) <= exponent <= _INT64_MAX:
            # Go keeps int32(parsed): the low 32 bits, signed.
            exponent = (exponent + (1 << 31)) % (1 << 32) - (1 << 31)
            return 10, exponent, "DecimalExponent"
    raise ValueError("unable to parse quantity's suffix")


def quantity_float(s: str) -> float:
    """resource.ParseQuantity(s).AsApproximateFloat64(); ValueError if it does not parse."""
    if not s:
        raise ValueError("quantities must match the regular expression")
    if s == "0":
        return 0.0
    positive, value, num, denom, suf = _quantity_parts(s)
    base, exponent, fmt = _suffix(suf)
    precision, scale, mantissa = 0, 0, 1
    if fmt in ("DecimalExponent", "DecimalSI"):
        scale = exponent
        precision = 18 - (len(num) + len(denom))
    elif exponent >= 0 and not denom:
        mantissa = 1 << exponent
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
    else:
        precision = -1
    if precision >= 0:
        scale -= len(denom)
        if scale >= -9:
            result = int(num + denom) * mantissa
            if result <= _INT64_MAX:
                return _approx(-result if not positive else result, scale)
    # The slow path: an inf.Dec rounded up to nano precision (a BinarySI one capped at int64's
    # max), read back as float(unscaled) * 10^-scale.
    text = value.lstrip("+-") or "0"
    if text.startswith("."):
        text = "0" + text
    if text.endswith("."):
        text += "0"
    try:
        amount = Decimal(text)
    except ArithmeticError:
        raise ValueError("quantities must match the regular expression") from None
    amount = amount.scaleb(exponent) if base == 10 else amount * (1 << exponent)
    exp = amount.as_tuple().exponent
    assert isinstance(exp, int)
    amount_scale = -exp
    unscaled = int(amount.scaleb(amount_scale))
    if amount != 0:
        # inf.Dec Round(amount, 9, RoundUp): the scale becomes 9.
        unscaled, amount_scale = int((amount * 10**9).to_integral_value(ROUND_CEILING)), 9
    if fmt == "BinarySI" and amount > _INT64_MAX:
        unscaled, amount_scale = _INT64_MAX, 0
    if not positive:
        unscaled = -unscaled
    return _approx(unscaled, -amount_scale)


def _approx(value: int, scale: int) -> float:
    return float(value) if scale == 0 else float(value) * go_pow10(scale)


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?(Z|([+-])(\d{2}):(\d{2}))$",
    re.ASCII,
)


def rfc3339_unix(s: str) -> int | None:
    """time.Parse(time.RFC3339, s).Unix(), or None."""
    m = _RFC3339.match(s)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    if not 1 <= day <= days:
        return None
    offset = 0
    if m.group(7) != "Z":
        oh, om = int(m.group(9)), int(m.group(10))
        if oh >= 24 or om >= 60:
            return None
        offset = (oh * 3600 + om * 60) * (1 if m.group(8) == "+" else -1)
    # timegm over a proleptic calendar: shift year 0 into range by 400-year cycles.
    cycles = 0
    if year < 1:
        cycles, year = 1, year + 400
    unix = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return unix - cycles * 12622780800 - offset


_GO_DEC_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_GO_HEX_FLOAT = re.compile(
    r"^([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)$"
)
_PERCENT = re.compile(r"^[0-9]+%$")


def go_parse_float(s: str) -> float:
    """strconv.ParseFloat(s, 64) (no underscores); ValueError, also when out of range."""
    lowered = s.lower()
    if lowered in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if lowered in ("-inf", "-infinity"):
        return -math.inf
    if lowered == "nan":
        return math.nan
    if _GO_DEC_FLOAT.match(s):
        value = float(s)
    elif m := _GO_HEX_FLOAT.match(s):
        value = float.fromhex(m.group(1) + "0x" + m.group(2))
    else:
        raise ValueError(f'strconv.ParseFloat: parsing "{s}": invalid syntax')
    if math.isinf(value):
        raise ValueError(f'strconv.ParseFloat: parsing "{s}": value out of range')
    return value


def to_float64(value: Obj, nil_is_zero: bool) -> float:
    """KSM's toFloat64; ValueError for what it refuses."""
    if value is None:
        if nil_is_zero:
            return 0.0
        raise ValueError("expected number but found nil value")
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        normalized = value.lower()
        if normalized in ("true", "yes"):
            return 1.0
        if normalized in ("false", "no", "unknown"):
            return 0.0
        unix = rfc3339_unix(value)
        if unix is not None:
            return float(unix)
        try:
            return quantity_float(value)
        except ValueError:
            pass
        if _PERCENT.match(value):
            return float(value.rstrip("%")) / 100
        return go_parse_float(value)
    if isinstance(value, int | float):
        return float(value)
    raise ValueError(f"expected number but was {go_sprint(value)}")


# ---------------------------------------------------------------------------------- paths


def _go_atoi(s: str) -> int | None:
    return int(s) if _GO_INT.match(s) and len(s.lstrip("+-")) <= 19 else None


class ValuePath:
    """A compiled ``path``: KSM's valuePath (missing parts give None)."""

    def __init__(self, parts: Sequence[str], where: str) -> None:
        self.parts = list(parts)
        self.ops: list[Callable[[Obj], Obj]] = []
        for i, part in enumerate(self.parts):
            if part.startswith("[") and part.endswith("]"):
                key, eq, val = part[1:-1].partition("=")
                if not eq:
                    raise ConfigError(f"{where}[{i}]: invalid list lookup: {part}")
                self.ops.append(_list_lookup(key, val))
            else:
                self.ops.append(_field(part))

    def get(self, obj: Obj) -> Obj:
        for op in self.ops:
            if obj is None:
                return None
            obj = op(obj)
        return obj

    def __str__(self) -> str:
        return "[" + ",".join(self.parts) + "]"


def _list_lookup(key: str, val: str) -> Callable[[Obj], Obj]:
    try:
        num: float | None = to_float64(val, False)
    except ValueError:
        num = None
    boolean = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}.get(val)
    if val in ("0", "f", "F", "FALSE", "false", "False"):
        boolean = False

    def op(obj: Obj) -> Obj:
        if not isinstance(obj, list):
            return None
        for item in obj:
            if not isinstance(item, dict) or key not in item:
                continue
            candidate = item[key]
            if isinstance(candidate, str) and candidate == val:
                return item
            if num is not None:
                try:
                    if to_float64(candidate, False) == num:
                        return item
                except ValueError:
                    pass
            if boolean is not None and isinstance(candidate, bool) and candidate == boolean:
                return item
        return None

    return op


def _field(part: str) -> Callable[[Obj], Obj]:
    kv = part.split("=")

    def op(obj: Obj) -> Obj:
        if isinstance(obj, dict):
            if len(kv) == 2 and kv[0] in obj:
                v = obj[kv[0]]
                if isinstance(v, str) and v == kv[1]:
                    return v
            return obj.get(part)
        if isinstance(obj, list):
            i = _go_atoi(part)
            if i is None:
                return None
            if i < 0:
                i += len(obj)
            if i < 0 or i >= len(obj):
                return GoError(f"list index out of range: {part}")
            return obj[i]
        return None

    return op


PathLabels = dict[str, ValuePath]
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")


def _sanitize(name: str) -> str:
    return _INVALID_LABEL.sub("_", name)


def add_path_labels(obj: Obj, labels: PathLabels, result: dict[str, str]) -> None:
    """KSM's addPathLabels: ``*`` keys copy a map (sorted, first), then single fields."""
    stars = sorted(k for k in labels if k.startswith("*") or k.endswith("*"))
    for star in stars:
        m = labels[star].get(obj)
        if isinstance(m, dict):
            for k, v in m.items():
                if star.endswith("*"):
                    k = star[:-1] + k
                result[_sanitize(k)] = go_sprint(v)
    for k, path in labels.items():
        if k.startswith("*") or k.endswith("*"):
            continue
        value = path.get(obj)
        if value is not None:
            result[_sanitize(k)] = go_sprint(value)


# ---------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    def __str__(self) -> str:
        return f"{self.group}_{self.version}_{self.kind}"


@dataclass
class MetricConfig:
    """One ``metrics[]`` entry, compiled."""

    name: str  # the full family name
    help: str
    type: str  # gauge, stateset, info
    path: ValuePath
    each_labels: PathLabels  # each.<type>.labelsFromPath
    common_labels: dict[str, str]  # resource+metric commonLabels, GVK labels included
    labels_from_path: PathLabels  # resource+metric labelsFromPath
    value_from: ValuePath | None = None
    label_from_key: str = ""
    nil_is_zero: bool = False
    label_name: str = ""
    states: list[str] = field(default_factory=list)
    error_log_v: int = 0


@dataclass
class ResourceConfig:
    gvk: GroupVersionKind
    prefix: str
    resource_plural: str
    error_log_v: int
    metrics: list[MetricConfig]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class CustomResourceConfig:
    resources: list[ResourceConfig]


class _Decoder:
    """yaml.v3-style decoding of composed YAML nodes into typed fields, naming the field."""

    def mapping(self, node: yaml.Node | None, where: str, known: Iterable[str]) -> dict[str, Any]:
        if node is None or _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            if not where:
                raise ConfigError(
                    f"expected a CustomResourceStateMetrics mapping, got {_what(node)}"
                )
            raise ConfigError(f"{where}: expected a mapping, got {_what(node)}")
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            if name in out:
                raise ConfigError(f"{where}: mapping key {name!r} given twice")
            out[name] = value
        unknown = sorted(set(out) - set(known))
        if unknown and known:
            log.warning("%s: ignoring unknown field(s) %s", where or "config", ", ".join(unknown))
        return out

    def string(self, node: yaml.Node | None, where: str) -> str:
        if node is None or _is_null(node):
            return ""
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError(f"{where}: expected a string, got {_what(node)}")
        return str(node.value)

    def opt_string(self, node: yaml.Node | None, where: str) -> str | None:
        if node is None or _is_null(node):
            return None
        return self.string(node, where)

    def boolean(self, node: yaml.Node | None, where: str) -> bool:
        if node is None or _is_null(node):
            return False
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:bool":
                return str(node.value).lower() in ("yes", "true", "on")
            if not node.style:
                old = {"y": True, "yes": True, "on": True, "n": False, "no": False, "off": False}
                if node.value.lower() in old:
                    return old[node.value.lower()]
        raise ConfigError(f"{where}: expected true or false, got {_what(node)}")

    def integer(self, node: yaml.Node | None, where: str) -> int:
        if node is None or _is_null(node):
            return 0
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            value = int(yaml.SafeLoader.construct_yaml_int(_LOADER, node))
            if -(1 << 31) <= value < 1 << 31:
                return value
        raise ConfigError(f"{where}: expected an integer, got {_what(node)}")

    def strings(self, node: yaml.Node | None, where: str) -> list[str]:
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise ConfigError(f"{where}: expected a list of strings, got {_what(node)}")
        return [self.string(n, f"{where}[{i}]") for i, n in enumerate(node.value)]

    def string_map(self, node: yaml.Node | None, where: str) -> dict[str, str]:
        return {k: self.string(v, f"{where}.{k}") for k, v in self.mapping(node, where, ()).items()}

    def paths(self, node: yaml.Node | None, where: str) -> PathLabels:
        return {
            k: ValuePath(self.strings(v, f"{where}.{k}"), f"{where}.{k}")
            for k, v in self.mapping(node, where, ()).items()
        }

    def raw_paths(self, node: yaml.Node | None, where: str) -> dict[str, list[str]]:
        return {
            k: self.strings(v, f"{where}.{k}") for k, v in self.mapping(node, where, ()).items()
        }


_LOADER = yaml.SafeLoader("")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _what(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


_RESOURCE_KEYS = (
    "groupVersionKind",
    "metricNamePrefix",
    "resourcePlural",
    "commonLabels",
    "labelsFromPath",
    "metrics",
    "errorLogV",
)
_METRIC_KEYS = ("name", "help", "each", "commonLabels", "labelsFromPath", "errorLogV")
_EACH_FIELDS = {
    "gauge": ("path", "labelsFromPath", "valueFrom", "labelFromKey", "nilIsZero"),
    "stateset": ("path", "labelsFromPath", "valueFrom", "labelName", "list"),
    "info": ("path", "labelsFromPath", "labelFromKey"),
}
_EACH_KEY = {"gauge": "gauge", "stateset": "stateSet", "info": "info"}


def parse_config(text: str) -> CustomResourceConfig:
    """Decode and compile a CustomResourceStateMetrics document; ConfigError names the field."""
    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse YAML: {' '.join(str(exc).split())}") from None
    if not docs or docs[0] is None:
        raise ConfigError("empty config (expected kind: CustomResourceStateMetrics, spec: ...)")
    d = _Decoder()
    top = d.mapping(docs[0], "", ("kind", "apiVersion", "spec"))
    spec = d.mapping(top.get("spec"), "spec", ("resources",))
    resources_node = spec.get("resources")
    resources: list[ResourceConfig] = []
    if resources_node is not None and not _is_null(resources_node):
        if not isinstance(resources_node, yaml.SequenceNode):
            raise ConfigError(f"spec.resources: expected a list, got {_what(resources_node)}")
        for i, node in enumerate(resources_node.value):
            resources.append(_resource(d, node, f"spec.resources[{i}]"))
    return CustomResourceConfig(resources)


def _resource(d: _Decoder, node: yaml.Node, where: str) -> ResourceConfig:
    r = d.mapping(node, where, _RESOURCE_KEYS)
    g = d.mapping(
        r.get("groupVersionKind"), f"{where}.groupVersionKind", ("group", "version", "kind")
    )
    gvk = GroupVersionKind(
        d.string(g.get("group"), f"{where}.groupVersionKind.group"),
        d.string(g.get("version"), f"{where}.groupVersionKind.version"),
        d.string(g.get("kind"), f"{where}.groupVersionKind.kind"),
    )
    if gvk.group in ("", "*"):
        raise ConfigError(f"{where}.groupVersionKind.group: required (a group, not a wildcard)")
    prefix = d.opt_string(r.get("metricNamePrefix"), f"{where}.metricNamePrefix")
    common = d.string_map(r.get("commonLabels"), f"{where}.commonLabels")
    paths = d.raw_paths(r.get("labelsFromPath"), f"{where}.labelsFromPath")
    for k, v in paths.items():
        ValuePath(v, f"{where}.labelsFromPath.{k}")
    error_log_v = d.integer(r.get("errorLogV"), f"{where}.errorLogV")
    resource = ResourceConfig(
        gvk=gvk,
        prefix=DEFAULT_PREFIX if prefix is None else prefix,
        resource_plural=d.string(r.get("resourcePlural"), f"{where}.resourcePlural"),
        error_log_v=error_log_v,
        metrics=[],
        raw={"commonLabels": common, "labelsFromPath": paths, "metrics": r.get("metrics")},
    )
    metrics_node = r.get("metrics")
    if metrics_node is not None and not _is_null(metrics_node):
        if not isinstance(metrics_node, yaml.SequenceNode):
            raise ConfigError(f"{where}.metrics: expected a list, got {_what(metrics_node)}")
        for j, m in enumerate(metrics_node.value):
            resource.metrics.append(
                _metric(d, m, f"{where}.metrics[{j}]", resource, gvk, common, paths)
            )
    return resource


def _metric(
    d: _Decoder,
    node: yaml.Node,
    where: str,
    resource: ResourceConfig,
    gvk: GroupVersionKind,
    resource_common: dict[str, str],
    resource_paths: dict[str, list[str]],
) -> MetricConfig:
    """Compile one metric for a resolved ``gvk`` (the GVK labels are the resolved ones)."""
    m = d.mapping(node, where, _METRIC_KEYS)
    name = d.string(m.get("name"), f"{where}.name")
    full = f"{resource.prefix}_{name}" if resource.prefix else name
    try:
        Family(full, "")
    except ValueError:
        raise ConfigError(f"{where}.name: invalid metric name {full!r}") from None
    common = {
        **resource_common,
        "customresource_group": gvk.group,
        "customresource_version": gvk.version,
        "customresource_kind": gvk.kind,
        **d.string_map(m.get("commonLabels"), f"{where}.commonLabels"),
    }
    raw_paths = {
        **resource_paths,
        **d.raw_paths(m.get("labelsFromPath"), f"{where}.labelsFromPath"),
    }
    labels_from_path = {
        k: ValuePath(v, f"{where}.labelsFromPath.{k}") for k, v in raw_paths.items()
    }
    each = d.mapping(m.get("each"), f"{where}.each", ("type", "gauge", "stateSet", "info"))
    type_text = d.string(each.get("type"), f"{where}.each.type")
    kind = TYPES.get(type_text.lower())
    if kind is None:
        raise ConfigError(f"{where}.each.type: unknown type {type_text!r}".replace("'", '"'))
    key = _EACH_KEY[kind]
    body_node = each.get(key)
    if body_node is None or _is_null(body_node):
        raise ConfigError(f"{where}.each.{key}: missing (each.type is {type_text})")
    at = f"{where}.each.{key}"
    body = d.mapping(body_node, at, _EACH_FIELDS[kind])
    metric = MetricConfig(
        name=full,
        help=d.string(m.get("help"), f"{where}.help"),
        type=kind,
        path=ValuePath(d.strings(body.get("path"), f"{at}.path"), f"{at}.path"),
        each_labels=d.paths(body.get("labelsFromPath"), f"{at}.labelsFromPath"),
        common_labels=common,
        labels_from_path=labels_from_path,
        error_log_v=d.integer(m.get("errorLogV"), f"{where}.errorLogV") or resource.error_log_v,
    )
    if kind in ("gauge", "stateset"):
        metric.value_from = ValuePath(
            d.strings(body.get("valueFrom"), f"{at}.valueFrom"), f"{at}.valueFrom"
        )
    if kind in ("gauge", "info"):
        metric.label_from_key = d.string(body.get("labelFromKey"), f"{at}.labelFromKey")
    if kind == "gauge":
        metric.nil_is_zero = d.boolean(body.get("nilIsZero"), f"{at}.nilIsZero")
    if kind == "stateset":
        metric.label_name = d.string(body.get("labelName"), f"{at}.labelName")
        metric.states = d.strings(body.get("list"), f"{at}.list")
        if not metric.label_name:
            raise ConfigError(f"{at}.labelName: required")
    return metric


def for_gvk(resource: ResourceConfig, gvk: GroupVersionKind) -> list[MetricConfig]:
    """The resource's metrics compiled for one resolved GVK (its customresource_* labels)."""
    if gvk == resource.gvk:
        return resource.metrics
    d = _Decoder()
    node = resource.raw["metrics"]
    if node is None or _is_null(node):
        return []
    return [
        _metric(
            d,
            m,
            f"metrics[{j}]",
            resource,
            gvk,
            resource.raw["commonLabels"],
            resource.raw["labelsFromPath"],
        )
        for j, m in enumerate(node.value)
    ]


# ---------------------------------------------------------------------------------- values


Each = tuple[dict[str, str], float]


def _gauge_value(m: MetricConfig, it: Obj) -> Each | None:
    """compiledGauge.value: None for "no series"; ValueError for an error."""
    assert m.value_from is not None
    got = m.value_from.get(it)
    if got is None:
        if m.nil_is_zero:
            return {}, 0.0
        if it is None:
            raise ValueError("got nil while resolving path")
        return None
    try:
        return {}, to_float64(got, m.nil_is_zero)
    except ValueError as exc:
        raise ValueError(f"{m.value_from}: {exc}") from None


def _gauge(m: MetricConfig, v: Obj) -> tuple[list[Each], list[str]]:
    out: list[Each] = []
    errors: list[str] = []
    assert m.value_from is not None
    if isinstance(v, dict):
        single = m.value_from.parts[0] if len(m.value_from.parts) == 1 else None
        if single is not None and ("," in single or single == ""):
            single = None
        for key, it in v.items():
            ev: Each | None
            if single is not None and key == single:
                try:
                    ev = ({}, to_float64(it, m.nil_is_zero))
                except ValueError as exc:
                    errors.append(f"[{key}]: {exc}")
                    continue
            else:
                try:
                    ev = _gauge_value(m, it)
                except ValueError:
                    continue
                if ev is None:
                    continue
            labels = ev[0]
            if key != "" and m.label_from_key:
                labels[m.label_from_key] = key
            add_path_labels(it, m.each_labels, labels)
            add_path_labels(v, m.each_labels, labels)
            out.append(ev)
    elif isinstance(v, list):
        for i, it in enumerate(v):
            try:
                ev = _gauge_value(m, it)
            except ValueError as exc:
                errors.append(f"[{i}]: {exc}")
                continue
            if ev is None:
                continue
            add_path_labels(it, m.each_labels, ev[0])
            out.append(ev)
    else:
        try:
            ev = _gauge_value(m, v)
        except ValueError as exc:
            errors.append(str(exc))
            ev = None
        if ev is not None:
            add_path_labels(v, m.each_labels, ev[0])
            out.append(ev)
    return out, errors


def _info_values(m: MetricConfig, v: Obj) -> list[Each]:
    if v is None:
        return []
    labels: dict[str, str] = {}
    add_path_labels(v, m.each_labels, labels)
    return [(labels, 1.0)] if labels else []


def _info(m: MetricConfig, v: Obj) -> tuple[list[Each], list[str]]:
    if isinstance(v, list):
        return [e for obj in v for e in _info_values(m, obj)], []
    if isinstance(v, dict):
        whole = _info_values(m, v)
        out: list[Each] = []
        for key, it in v.items():
            labels: dict[str, str] = {}
            if key != "" and m.label_from_key:
                labels[m.label_from_key] = key
            add_path_labels(it, m.each_labels, labels)
            if labels:
                out.append((labels, 1.0))
        return out + whole, []
    return _info_values(m, v), []


def _stateset_values(m: MetricConfig, v: Obj) -> tuple[list[Each], list[str]]:
    assert m.value_from is not None
    comparable = m.value_from.get(v)
    if not isinstance(comparable, str):
        return [], [f"{m.path}: expected value for path to be string, got {_go_type(comparable)}"]
    out: list[Each] = []
    for entry in m.states:
        labels = {m.label_name: entry}
        add_path_labels(v, m.each_labels, labels)
        out.append((labels, 1.0 if comparable == entry else 0.0))
    return out, []


def _stateset(m: MetricConfig, v: Obj) -> tuple[list[Each], list[str]]:
    if isinstance(v, list):
        out: list[Each] = []
        errors: list[str] = []
        for obj in v:
            values, errs = _stateset_values(m, obj)
            if errs:
                errors.extend(errs)
                continue
            out.extend(values)
        return out, errors
    return _stateset_values(m, v)


def _go_type(value: Obj) -> str:
    if value is None:
        return "<nil>"
    for kind, name in (
        (bool, "bool"),
        (int, "int64"),
        (float, "float64"),
        (dict, "map[string]interface {}"),
        (list, "[]interface {}"),
        (GoError, "*errors.errorString"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


_EACH = {"gauge": _gauge, "info": _info, "stateset": _stateset}


def samples(m: MetricConfig, obj: dict[str, Any]) -> list[Sample]:
    """One family's series for one object, labels sorted, series in KSM's order."""
    base = dict(m.common_labels)
    add_path_labels(obj, m.labels_from_path, base)
    values, errors = _EACH[m.type](m, m.path.get(obj))
    if errors:
        level = logging.DEBUG if m.error_log_v > 0 else logging.WARNING
        meta = obj.get("metadata") or {}
        for error in errors:
            log.log(
                level, "%s: %s/%s: %s", m.name, meta.get("namespace", ""), meta.get("name"), error
            )
    out: list[tuple[list[tuple[str, str]], float]] = []
    for labels, value in values:
        for k, val in base.items():
            labels.setdefault(k, val)
        out.append((sorted(labels.items()), value))
    out.sort(key=lambda s: s[0])
    return [(tuple(labels), value) for labels, value in out]


def _generator(m: MetricConfig) -> Callable[[dict[str, Any]], list[Sample]]:
    def generate(obj: dict[str, Any]) -> list[Sample]:
        return samples(m, obj)

    return generate


def family_specs(metrics: Sequence[MetricConfig]) -> list[FamilySpec]:
    return [FamilySpec(m.name, m.help, _generator(m), type=m.type) for m in metrics]


def _no_prefix(_: dict[str, Any]) -> Labels:
    return ()


# ---------------------------------------------------------------------------------- serving


class _UnstructuredStats:
    """List/watch counters labelled as KSM labels them for every custom resource."""

    def __init__(self, stats: InformerStats) -> None:
        self.stats = stats

    def list_result(self, resource: str, ok: bool) -> None:
        self.stats.list_result(UNSTRUCTURED, ok)

    def watch_result(self, resource: str, ok: bool) -> None:
        self.stats.watch_result(UNSTRUCTURED, ok)

    def event(self, resource: str, kind: str) -> None:
        self.stats.event(resource, kind)


@dataclass(frozen=True)
class _Served:
    """A resolved GVK as served: what decides whether its watch must restart."""

    gvk: GroupVersionKind
    plural: str
    namespaced: bool
    entry: int  # the config entry it came from


class _Watch:
    def __init__(self, served: _Served, store: KindStore, informers: list[Informer]) -> None:
        self.served = served
        self.store = store
        self.informers = informers


class CustomResourceSource:
    """The CRS families of every configured custom resource, as one exporter source.

    A CRD informer resolves the config against the installed CRDs; each resolved GVK gets its
    own KindStore and informers (one per ``namespaces`` entry, as KSM lists). A CRD that appears
    later is picked up, one that goes away takes its series along.
    """

    def __init__(
        self,
        client: KubeClient,
        config: CustomResourceConfig,
        *,
        family_filter: Callable[[FamilySpec], bool] = lambda _: True,
        namespaces: Sequence[str] = (),
        field_selector: str | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        stats: InformerStats | None = None,
        backoff_cap: float = 4.0,
    ) -> None:
        self.client = client
        self.config = config
        self.family_filter = family_filter
        self.namespaces = list(namespaces)
        self.field_selector = field_selector
        self.keep = keep
        self.stats = _UnstructuredStats(stats) if stats is not None else None
        self.backoff_cap = backoff_cap
        self.crds_listed = threading.Event()
        self._crds: dict[str, list[tuple[GroupVersionKind, str, bool]]] = {}
        self._watches: dict[GroupVersionKind, _Watch] = {}
        self._lock = threading.Lock()
        self._running = False
        self.crd_informer = Informer(client, CRDS, self, backoff=Backoff(cap=backoff_cap))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CustomResourceSource:
        self._running = True
        self.crd_informer.start()
        return self

    def stop(self) -> None:
        self._running = False
        self.crd_informer.stop(timeout=0)
        with self._lock:
            watches = list(self._watches.values())
        for watch in watches:
            for informer in watch.informers:
                informer.stop(timeout=0)
        self.crd_informer.stop()
        for watch in watches:
            for informer in watch.informers:
                informer.stop()

    @property
    def synced(self) -> bool:
        return not self.unsynced()

    def unsynced(self) -> list[str]:
        if not self.crds_listed.is_set():
            return [CRDS.name]
        with self._lock:
            return [
                f"{w.served.plural}.{w.served.gvk.group}/{w.served.gvk.version}"
                for w in self._watches.values()
                if not w.store.synced.is_set()
            ]

    @property
    def stores(self) -> list[KindStore]:
        with self._lock:
            ordered = sorted(
                self._watches.values(), key=lambda w: (w.served.entry, str(w.served.gvk))
            )
        return [w.store for w in ordered]

    # ------------------------------------------------------------------ CRD handler

    def apply(
        self, upserts: Sequence[dict[str, Any]], deleted_uids: Iterable[str], synced: bool
    ) -> None:
        for uid in deleted_uids:
            self._crds.pop(uid, None)
        for crd in upserts:
            self._crds[crd["metadata"]["uid"]] = _crd_versions(crd)
        self._resolve()
        if synced:
            self.crds_listed.set()

    def resolve(self) -> dict[GroupVersionKind, _Served]:
        """What the config names among the installed CRDs (KSM's ResolveGVKToGVKPs)."""
        installed = sorted(
            {entry for versions in self._crds.values() for entry in versions},
            key=lambda e: (e[0].group, e[0].version, e[0].kind),
        )
        wanted: dict[GroupVersionKind, _Served] = {}
        for i, resource in enumerate(self.config.resources):
            want = resource.gvk
            any_version = want.version in ("", "*")
            any_kind = want.kind in ("", "*")
            for gvk, plural, namespaced in installed:
                if gvk.group != want.group:
                    continue
                if not any_version and gvk.version != want.version:
                    continue
                if not any_kind and gvk.kind != want.kind:
                    continue
                # The last entry naming a GVK wins, as in KSM's store map.
                wanted[gvk] = _Served(gvk, plural, namespaced, i)
        return wanted

    def _resolve(self) -> None:
        wanted = self.resolve()
        with self._lock:
            current = dict(self._watches)
        stale = [w for g, w in current.items() if wanted.get(g) != w.served]
        new = [s for g, s in wanted.items() if g not in current or current[g].served != s]
        for watch in stale:
            log.info("custom resource %s: no longer served", watch.served.gvk)
            for informer in watch.informers:
                informer.stop(timeout=0)
        started = [self._watch(s) for s in new]
        with self._lock:
            for watch in stale:
                self._watches.pop(watch.served.gvk, None)
            for watch in started:
                self._watches[watch.served.gvk] = watch
        if self._running:
            for watch in started:
                for informer in watch.informers:
                    informer.start()

    def _watch(self, served: _Served) -> _Watch:
        resource = self.config.resources[served.entry]
        specs = [s for s in family_specs(for_gvk(resource, served.gvk)) if self.family_filter(s)]
        api = Resource(
            served.plural, f"/apis/{served.gvk.group}/{served.gvk.version}", served.namespaced
        )
        scopes: list[str | None] = list(self.namespaces) if self.namespaces else [None]
        if self.namespaces and not served.namespaced:
            # KSM lists a cluster-scoped kind per namespace too, which the API refuses: no series.
            log.warning(
                "custom resource %s is cluster-scoped: with --namespaces it has no series (as in "
                "kube-state-metrics)",
                served.gvk,
            )
            scopes = []
        store = KindStore(
            f"{served.plural}.{served.gvk.group}/{served.gvk.version}",
            specs,
            _no_prefix,
            informers=len(scopes),
        )
        if not scopes:
            store.synced.set()
        informers = [
            Informer(
                self.client,
                api,
                store,
                namespace=scope,
                field_selector=self.field_selector,
                keep=self.keep,
                stats=self.stats,
                backoff=Backoff(cap=self.backoff_cap),
            )
            for scope in scopes
        ]
        log.info(
            "custom resource %s (%s): families %s",
            served.gvk,
            served.plural,
            ", ".join(s.name for s in specs),
        )
        return _Watch(served, store, informers)

    # ------------------------------------------------------------------ exposition

    def chunks(self, openmetrics: bool = False) -> Stream:
        streams = [store.chunks(openmetrics) for store in self.stores]
        return Stream(sum(s.length for s in streams), itertools.chain.from_iterable(streams))

    def gzip_chunks(self, openmetrics: bool = False) -> list[bytes]:
        return [c for store in self.stores for c in store.gzip_chunks(openmetrics)]


def _crd_versions(crd: dict[str, Any]) -> list[tuple[GroupVersionKind, str, bool]]:
    """(GVK, plural, namespaced) of each served version of a CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out = []
    for version in spec.get("versions") or ():
        if version.get("served", True) is False:
            continue
        gvk = GroupVersionKind(
            spec.get("group", ""), version.get("name", ""), names.get("kind", "")
        )
        out.append((gvk, str(names.get("plural", "")), namespaced))
    return out
