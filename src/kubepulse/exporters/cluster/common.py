"""Functions shared by the family tables, each mirroring one in kube-state-metrics."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from kubepulse.exporters.cluster.store import Labels, Object, Sample
from kubepulse.kube.quantity import parse_quantity

__all__ = [
    "GO_ZERO_TIME",
    "LabelAllowlist",
    "allowed_map_sample",
    "condition_samples",
    "expand_allowlist",
    "go_timestamp",
    "label_name",
    "labels_sample",
    "map_to_labels",
    "one_hot",
    "owner_samples",
    "parse_labels_allowlist",
    "quantity_samples",
    "sanitize_label_name",
    "status_conditions",
    "timestamp",
]

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_ALLOWLIST_ITEM = re.compile(r"\s*([a-z0-9.]+|\*)\s*=\s*\[([^\]]*)\]\s*(?:,|$)")
_ALL_CAP = re.compile(r"([a-z0-9])([A-Z])")

# None: no labels; ("*",): all labels; else the allowed keys.
LabelAllowlist = Mapping[str, tuple[str, ...]]


def sanitize_label_name(name: str) -> str:
    """KSM's ``sanitizeLabelName``: every character outside ``[a-zA-Z0-9_]`` becomes ``_``."""
    return _INVALID_LABEL_CHARS.sub("_", name)


# Go's zero time.Time as Unix seconds: what KSM exports for a timestamp field left unset.
GO_ZERO_TIME = -62135596800.0


def go_timestamp(value: str | None) -> float:
    """``timestamp``, or Go's zero time for a missing value (KSM's ``t.Unix()`` on a zero time)."""
    return timestamp(value) if value else GO_ZERO_TIME


@lru_cache(maxsize=65536)
def timestamp(value: str) -> float:
    """RFC 3339 time → Unix seconds (whole seconds, as KSM's ``.Unix()``)."""
    return float(int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()))


def one_hot(key: str, options: Sequence[str], current: object) -> list[Sample]:
    """One series per option (``key`` = it), 1 for ``current``: KSM's phase and class families."""
    return [(((key, option),), 1.0 if option == current else 0.0) for option in options]


def condition_samples(
    status: str | None, key: str = "condition", head: Labels = ()
) -> list[Sample]:
    """The three KSM series of a condition: ``key`` = true, false, unknown; 1 for the current."""
    lowered = (status or "").lower()
    return [
        ((*head, (key, option)), 1.0 if lowered == option else 0.0)
        for option in ("true", "false", "unknown")
    ]


def status_conditions(obj: Object) -> list[Sample]:
    """``kube_<kind>_status_condition``: for each of ``status.conditions``, its ``condition``
    (type) with ``status`` = true, false, unknown."""
    out: list[Sample] = []
    for c in (obj.get("status") or {}).get("conditions") or ():
        out.extend(
            condition_samples(c.get("status"), "status", (("condition", c.get("type", "")),))
        )
    return out


def owner_samples(meta: Mapping[str, Any]) -> list[Sample]:
    """``owner_kind``/``owner_name``/``owner_is_controller``; empty three times for no owner.

    (KSM v2.16 gives ``""``, which Prometheus stores as the label being absent.)
    """
    owners = meta.get("ownerReferences") or ()
    if not owners:
        return [
            (
                (
                    ("owner_kind", ""),
                    ("owner_name", ""),
                    ("owner_is_controller", ""),
                ),
                1.0,
            )
        ]
    return [
        (
            (
                ("owner_kind", o.get("kind", "")),
                ("owner_name", o.get("name", "")),
                ("owner_is_controller", "true" if o.get("controller") else "false"),
            ),
            1.0,
        )
        for o in owners
    ]


def label_name(prefix: str, key: str) -> str:
    """KSM's ``labelName``: ``prefix_`` + the key sanitized and snake-cased (``appVersion`` →
    ``label_app_version``)."""
    snake = _ALL_CAP.sub(r"\1_\2", sanitize_label_name(key)).lower()
    return f"{prefix}_{snake}"


def map_to_labels(prefix: str, data: Mapping[str, str]) -> Labels:
    """KSM's ``mapToPrometheusLabels``: sorted keys; clashing names get ``_conflictN``."""
    keys: list[str] = []
    values: list[str] = []
    first: dict[str, tuple[int, list[int]]] = {}  # name -> (index of first, [count])
    for key in sorted(data):
        name = label_name(prefix, key)
        if name in first:
            initial, count = first[name]
            if count[0] == 1:
                keys[initial] = f"{keys[initial]}_conflict1"
            count[0] += 1
            name = f"{name}_conflict{count[0]}"
        else:
            first[name] = (len(keys), [1])
        keys.append(name)
        values.append(data[key])
    return tuple(zip(keys, values, strict=True))


def allowed_map_sample(
    prefix: str, data: Mapping[str, str] | None, allowed: tuple[str, ...] | None
) -> list[Sample]:
    """``kube_<kind>_labels`` / ``_annotations``: one series of the allow-listed keys.

    A kind with nothing allow-listed has no series at all, as in KSM since v2.10; ``[*]`` (the
    list's first entry) allows every key.
    """
    if not allowed:
        return []
    data = data or {}
    chosen = data if allowed[0] == "*" else {k: data[k] for k in allowed if k in data}
    return [(map_to_labels(prefix, chosen), 1.0)]


def labels_sample(
    labels: Mapping[str, str] | None, allowed: tuple[str, ...] | None
) -> list[Sample]:
    """``kube_<kind>_labels``: one series with ``label_<key>`` for each allow-listed label."""
    return allowed_map_sample("label", labels, allowed)


def parse_labels_allowlist(
    text: str, flag: str = "--metric-labels-allowlist"
) -> dict[str, tuple[str, ...]]:
    """``pods=[app,team],deployments=[*]`` → ``{"pods": ("app", "team"), ...}``; ValueError.

    ``*=[...]`` names every served resource (``expand_allowlist`` resolves it).
    """
    result: dict[str, tuple[str, ...]] = {}
    text = text.strip()
    pos = 0
    while pos < len(text):
        match = _ALLOWLIST_ITEM.match(text, pos)
        if not match:
            raise ValueError(
                f"{flag}: cannot parse {text[pos:]!r} (expected RESOURCE=[key,...],...)"
            )
        keys = tuple(k.strip() for k in match.group(2).split(",") if k.strip())
        result[match.group(1)] = keys
        pos = match.end()
    return result


def expand_allowlist(
    allowlist: Mapping[str, tuple[str, ...]], resources: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """KSM's rule: a ``*`` entry takes precedence and applies to every served resource."""
    if "*" not in allowlist:
        return dict(allowlist)
    return {r: allowlist["*"] for r in resources}


def _integer(value: Decimal) -> float:
    return float(math.ceil(value))


def quantity(resource: str, raw: str) -> tuple[str, str, float] | None:
    """(resource label, unit, value) as KSM converts a quantity, or None for kinds it skips."""
    try:
        value = parse_quantity(raw)
    except ValueError:
        return None
    if resource == "cpu":
        return "cpu", "core", float(math.ceil(value * 1000)) / 1000
    name = sanitize_label_name(resource)
    if resource in ("memory", "storage", "ephemeral-storage") or resource.startswith(
        ("hugepages-", "attachable-volumes-")
    ):
        return name, "byte", _integer(value)
    if resource == "pods":
        return name, "integer", _integer(value)
    if "/" in resource and not resource.startswith("kubernetes.io/"):
        # An extended resource (vendor.example/gpu): a count.
        return name, "integer", _integer(value)
    return None


def quantity_samples(
    resources: Mapping[str, str] | None, *head: tuple[str, str]
) -> Iterator[Sample]:
    """``resource``/``unit`` samples for a requests/limits/capacity map."""
    for resource, raw in (resources or {}).items():
        converted = quantity(resource, str(raw))
        if converted is not None:
            name, unit, value = converted
            yield (*head, ("resource", name), ("unit", unit)), value
