"""Render ``deploy/prometheus`` with its knobs, and the loopback overlay for tests and the demo.

The committed ``prometheus.yml`` is the production config. ``render_prometheus_config`` sets its
knobs (cluster name, intervals) and, given ``targets``, turns it into the *local overlay*: every
scrape job either has its targets rewritten to one loopback address or is removed, so Prometheus
can discover the test cluster's objects through its (loopback) apiserver without ever contacting
the fake pod and node IPs kwok hands out. ``render_rule_files`` copies the rules with shorter
``for:`` durations, so a test sees an alert fire in seconds without weakening the real rules.
``replica_config`` makes one HA replica's config of a cluster's (``replica`` external label,
dropped from the alerts it sends); ``render_global_config`` renders the federating Prometheus of
``deploy/prometheus/global/`` with loopback cluster endpoints.
"""

from __future__ import annotations

import copy
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubepulse.lab.processes import require_loopback
from kubepulse.stack import deploy_dir

__all__ = [
    "load_prometheus_config",
    "render_global_config",
    "render_prometheus_config",
    "render_rule_files",
    "replica_config",
]

# Connection settings that only make sense against the real cluster (service-account token,
# cluster CA, https to the kubelet proxy); a loopback exporter is plain HTTP.
_REMOTE_ONLY_KEYS = ("scheme", "authorization", "tls_config", "bearer_token_file", "basic_auth")


# Node jobs: only nodes whose kubelet is on loopback (kwok's, at 127.0.0.1) are kept, and the
# API server's node proxy path becomes the one kwok serves that node's kubelet endpoints on:
# /api/v1/nodes/NODE/proxy/metrics/cadvisor -> /metrics/nodes/NODE/metrics/cadvisor.
_LOOPBACK_NODES: list[dict[str, Any]] = [
    {
        "source_labels": ["__meta_kubernetes_node_address_InternalIP"],
        "regex": r"127\.0\.0\.1",
        "action": "keep",
    },
    {
        "source_labels": ["__metrics_path__"],
        "regex": "/api/v1/nodes/([^/]+)/proxy(/.*)",
        "target_label": "__metrics_path__",
        "replacement": "/metrics/nodes/$1$2",
    },
]


# Probe jobs (metrics_path /probe): the probed host, whatever discovery or a static list named,
# becomes 127.0.0.1 with its scheme, port and path kept; the ``instance`` label keeps the name.
_LOOPBACK_PROBE_TARGET: dict[str, Any] = {
    "source_labels": ["__param_target"],
    "regex": r"([a-z]+://)?(\[[^\]]*\]|[^/:]*)(.*)",
    "target_label": "__param_target",
    "replacement": "${1}127.0.0.1${3}",
}


def load_prometheus_config(path: Path | None = None) -> dict[str, Any]:
    """The production config (``deploy/prometheus/prometheus.yml`` unless ``path``) as a dict."""
    path = path or deploy_dir() / "prometheus" / "prometheus.yml"
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    if not isinstance(config, dict) or not isinstance(config.get("scrape_configs"), list):
        raise ValueError(f"{path}: not a Prometheus config (no scrape_configs list)")
    return config


def _local_job(
    job: dict[str, Any],
    address: str,
    kubeconfig: Path | None,
    sd_namespaces: Sequence[str] | None,
) -> dict[str, Any]:
    job = copy.deepcopy(job)
    for key in _REMOTE_ONLY_KEYS:
        job.pop(key, None)
    sd_configs = job.get("kubernetes_sd_configs")
    if sd_configs:
        if kubeconfig is None:
            raise ValueError(f"job {job['job_name']!r} uses kubernetes_sd_configs: pass kubeconfig")
        for sd in sd_configs:
            sd["kubeconfig_file"] = str(kubeconfig)
            if sd_namespaces is not None and "namespaces" not in sd and sd["role"] != "node":
                sd["namespaces"] = {"names": list(sd_namespaces)}
        # Last, after the job's own keep/drop and label rules: whatever survived discovery is
        # scraped at the loopback exporter standing in for it, never at its discovered address.
        job["relabel_configs"] = [
            *job.get("relabel_configs", []),
            *(_LOOPBACK_NODES if any(sd["role"] == "node" for sd in sd_configs) else []),
            {"target_label": "__address__", "replacement": address},
            {"target_label": "__scheme__", "replacement": "http"},
        ]
    else:
        job.pop("static_configs", None)
        job["static_configs"] = [{"targets": [address]}]
    if job.get("metrics_path") == "/probe":
        job["relabel_configs"] = [
            *job.get("relabel_configs", []),
            _LOOPBACK_PROBE_TARGET,
            {"target_label": "__address__", "replacement": address},
        ]
    return job


def render_prometheus_config(
    *,
    cluster: str | None = None,
    scrape_interval: str | None = None,
    evaluation_interval: str | None = None,
    targets: Mapping[str, str] | None = None,
    kubeconfig: Path | None = None,
    alertmanagers: Sequence[str] | None = None,
    rule_files: Sequence[str | Path] | None = None,
    sd_namespaces: Sequence[str] | None = None,
    base: Path | None = None,
) -> str:
    """The Prometheus config as YAML text, with the knobs given applied.

    Without ``targets`` this is the production config with ``cluster`` (the ``cluster`` external
    label), ``scrape_interval`` and ``evaluation_interval`` set. With ``targets`` (job name to a
    loopback ``host:port``) it is the local overlay: jobs not named are removed, kept jobs scrape
    only their loopback address (Kubernetes SD jobs keep discovering through ``kubeconfig`` and
    have every discovered target rewritten; node jobs keep only nodes at 127.0.0.1 and scrape
    the kubelet paths kwok serves; probe jobs scrape the blackbox exporter at their address and
    probe 127.0.0.1 in place of every target's host), ``alerting`` points at ``alertmanagers``
    only, and ``sd_namespaces`` limits discovery to those namespaces (jobs that name their own
    keep them).
    Raises ``ValueError`` for an unknown job or a non-loopback address.
    """
    config = load_prometheus_config(base)
    glob = config.setdefault("global", {})
    if cluster is not None:
        glob.setdefault("external_labels", {})["cluster"] = cluster
    if scrape_interval is not None:
        glob["scrape_interval"] = scrape_interval
        timeout = glob.get("scrape_timeout", "10s")
        glob["scrape_timeout"] = min(timeout, scrape_interval, key=_seconds)
    if evaluation_interval is not None:
        glob["evaluation_interval"] = evaluation_interval
    if rule_files is not None:
        config["rule_files"] = [str(p) for p in rule_files]
    if targets is not None:
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        unknown = sorted(set(targets) - set(jobs))
        if unknown:
            raise ValueError(
                f"targets: unknown job(s) {', '.join(unknown)}; known: {', '.join(jobs)}"
            )
        config["scrape_configs"] = [
            _local_job(jobs[name], _loopback(address), kubeconfig, sd_namespaces)
            for name, address in targets.items()
        ]
        config.pop("remote_write", None)
        if alertmanagers:
            loopback = [_loopback(a) for a in alertmanagers]
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": loopback}]}]}
        else:
            config.pop("alerting", None)
    text: str = yaml.safe_dump(config, sort_keys=False, width=120)
    return text


def _loopback(address: str) -> str:
    """``address`` (``host:port``) if its host is loopback; ``ValueError`` otherwise."""
    require_loopback(f"http://{address}")
    return address


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    for suffix in ("ms", "s", "m", "h", "d"):
        if duration.endswith(suffix) and duration[: -len(suffix)].isdigit():
            return int(duration[: -len(suffix)]) * units[suffix]
    raise ValueError(f"bad duration {duration!r}: use e.g. 15s, 1m")


def render_rule_files(
    dest: Path,
    *,
    for_overrides: Mapping[str, str] | None = None,
    rules_dir: Path | None = None,
    include_optional: bool = False,
) -> list[Path]:
    """Copy the rule files into ``dest`` with ``for:`` replaced per alert; return the new paths.

    ``for_overrides`` maps an alert name (or ``"*"`` for every alert) to a duration such as
    ``"5s"``. Expressions, labels and annotations are untouched. Raises ``ValueError`` if an
    override names no alert in the files.
    """
    rules_dir = rules_dir or deploy_dir() / "prometheus" / "rules"
    overrides = dict(for_overrides or {})
    sources = sorted(rules_dir.glob("*.yml"))
    if include_optional:
        sources += sorted((rules_dir / "optional").glob("*.yml"))
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    written = []
    for src in sources:
        with open(src, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert")
                if name is None:
                    continue
                seen.add(name)
                duration = overrides.get(name, overrides.get("*"))
                if duration is not None:
                    _seconds(duration)
                    rule["for"] = duration
        out = dest / src.name
        out.write_text(yaml.safe_dump(doc, sort_keys=False, width=120), encoding="utf-8")
        written.append(out)
    missing = sorted(set(overrides) - seen - {"*"})
    if missing:
        raise ValueError(f"for_overrides: no alert named {', '.join(missing)} in {rules_dir}")
    return written


def replica_config(
    config_text: str, replica: str, static_targets: Mapping[str, str] | None = None
) -> str:
    """``config_text`` (a Prometheus config) as replica ``replica``'s: external label
    ``replica=REPLICA`` and ``alert_relabel_configs`` dropping ``replica`` from every alert sent.
    ``static_targets`` (job -> loopback ``host:port``) adds one statically configured job each."""
    config = yaml.safe_load(config_text)
    for job, address in (static_targets or {}).items():
        require_loopback(f"http://{address}")
        config["scrape_configs"].append(
            {"job_name": job, "static_configs": [{"targets": [address]}]}
        )
    config.setdefault("global", {}).setdefault("external_labels", {})["replica"] = replica
    alerting = config.setdefault("alerting", {})
    relabel = alerting.setdefault("alert_relabel_configs", [])
    relabel.append({"action": "labeldrop", "regex": "replica"})
    text: str = yaml.safe_dump(config, sort_keys=False, width=120)
    return text


def render_global_config(
    cluster_urls: Sequence[str],
    *,
    scrape_interval: str | None = None,
    base: Path | None = None,
) -> str:
    """``deploy/prometheus/global/prometheus.yml`` federating the cluster Prometheus servers at
    ``cluster_urls`` (loopback only) over plain HTTP.

    The job's ``/federate`` path, ``match[]`` selectors and ``honor_labels`` stay as committed;
    its connection settings (``https``, basic auth, the example hosts) are replaced by the
    loopback addresses. ``scrape_interval`` replaces the global one (and the timeout if longer).
    """
    path = base or deploy_dir() / "prometheus" / "global" / "prometheus.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    jobs = [job for job in config.get("scrape_configs", []) if job.get("job_name") == "federate"]
    if len(jobs) != 1:
        raise ValueError(f"{path}: expected one scrape config named federate, found {len(jobs)}")
    job = jobs[0]
    job["scheme"] = "http"
    job.pop("basic_auth", None)
    job["static_configs"] = [
        {"targets": [urllib.parse.urlsplit(require_loopback(u)).netloc for u in cluster_urls]}
    ]
    if scrape_interval is not None:
        glob = config.setdefault("global", {})
        glob["scrape_interval"] = scrape_interval
        glob["scrape_timeout"] = scrape_interval
    text: str = yaml.safe_dump(config, sort_keys=False, width=120)
    return text
