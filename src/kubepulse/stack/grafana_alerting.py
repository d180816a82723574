"""Grafana alerting as provisioning files, for teams that alert from Grafana, not Alertmanager.

Written to ``deploy/grafana/provisioning/alerting`` beside the dashboards: ``rules.yml`` (the
key alerts of ``deploy/prometheus/rules``, translated), ``contact-points.yml`` and
``policies.yml`` (the receivers and routes of ``deploy/alertmanager/alertmanager.yml``, for the
same people). Everything is built with grafana-foundation-sdk's alerting types, so a field the
SDK does not know cannot slip in. Run ``python -m kubepulse.stack.grafana_alerting`` after
changing a rule; a test fails when the committed files differ from what this module generates.

Each Grafana rule is its Prometheus rule: query ``A`` is the rule's PromQL as an instant query
(series present = alerting, as in Prometheus), ``B`` the math expression that makes every series
of ``A`` a firing instance; ``for``, labels and annotations (runbook included) are copied, with
``$value`` read as ``$values.A.Value``, Grafana's name for the query's value.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import alerting
from grafana_foundation_sdk.builders import expr as gexpr
from grafana_foundation_sdk.builders import prometheus as gprom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as models
from grafana_foundation_sdk.models.common import DataSourceRef

from kubepulse.stack import deploy_dir
from kubepulse.stack.alertmanager import load_alertmanager_config
from kubepulse.stack.generated import generated_main

__all__ = [
    "KEY_ALERTS",
    "as_prometheus_rules",
    "build_alerting",
    "main",
    "render",
    "rules_of",
]

# (alert name, severity): the alerts worth a Grafana rule, one rule each (Grafana names a
# rule's instances by its title, so severity twins would be two rules of one title).
KEY_ALERTS: tuple[tuple[str, str], ...] = (
    ("ExporterDown", "critical"),
    ("KubeNodeNotReady", "critical"),
    ("KubePodCrashLooping", "warning"),
    ("KubeDeploymentReplicasMismatch", "warning"),
    ("KubeJobFailed", "warning"),
    ("KubeHpaMaxedOut", "warning"),
    ("KubePersistentVolumeClaimPending", "warning"),
    ("KubePersistentVolumeFillingUp", "critical"),
    ("NodeFilesystemAlmostOutOfSpace", "critical"),
    ("NodeMemoryHighUtilization", "warning"),
    ("PodsUnrecovered", "critical"),
    ("ProbeFailed", "critical"),
    ("ProbeSSLCertExpiringCritical", "critical"),
)
DATASOURCE_UID = "prometheus"  # deploy/grafana/provisioning/datasources/prometheus.yml
FOLDER = "kubepulse"  # the dashboards' folder (provisioning/dashboards/kubepulse.yml)
ORG_ID = 1
INTERVAL = "1m"
# Every series the instant query returns is a firing instance, whatever its value.
FIRING = "is_number($A) || is_nan($A) || is_inf($A)"
# Alertmanager receivers that notify people, and the Grafana contact point each becomes.
CONTACT_POINTS = {
    "team": "kubepulse-team",
    "oncall": "kubepulse-oncall",
    "platform": "kubepulse-platform",
}


def rules_of(rules_dir: Path | None = None) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(alert, severity) -> (rule file stem, rule) for each alert in ``deploy/prometheus/rules``."""
    rules_dir = rules_dir or deploy_dir() / "prometheus" / "rules"
    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8")).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    found.setdefault((rule["alert"], rule["labels"]["severity"]), (path.stem, rule))
    return found


def _grafana_template(text: str) -> str:
    return re.sub(r"\$value\b", "$values.A.Value", text)


def _rule(name: str, severity: str, group: str, rule: Mapping[str, Any]) -> alerting.Rule:
    query = (
        alerting.Query("A")
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(models.RelativeTimeRange(from_val=600, to=0))
        .model(
            gprom.Dataquery()
            .expr(rule["expr"].strip())
            .instant()
            .ref_id("A")
            .datasource(DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID))
        )
    )
    condition = (
        alerting.Query("B")
        .datasource_uid("__expr__")
        .model(
            gexpr.TypeMath()
            .expression(FIRING)
            .ref_id("B")
            .datasource(DataSourceRef(type_val="__expr__", uid="__expr__"))
        )
    )
    built = (
        alerting.Rule(name)
        .uid(f"{name}-{severity}")
        .rule_group(group)
        .folder_uid(FOLDER)
        .org_id(ORG_ID)
        .queries([query, condition])
        .condition("B")
        .for_val(rule.get("for", "0s"))
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels(dict(rule["labels"]))
        .annotations({k: _grafana_template(v) for k, v in rule["annotations"].items()})
    )
    if "keep_firing_for" in rule:
        built = built.keep_firing_for(rule["keep_firing_for"])
    return built


def _plain(obj: Any) -> Any:
    """An SDK object as plain JSON data (the SDK's own encoder)."""
    return json.loads(json.dumps(obj, cls=JSONEncoder))


# Keys the provisioning file takes from its group, not from each rule.
_GROUP_KEYS = ("folderUID", "ruleGroup", "orgID")


def _rules_file(rules: Mapping[tuple[str, str], tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    groups: dict[str, list[Any]] = {}
    for name, severity in KEY_ALERTS:
        if (name, severity) not in rules:
            raise KeyError(f"deploy/prometheus/rules: no {severity} alert {name}")
        stem, rule = rules[(name, severity)]
        group = f"kubepulse-{stem}"
        built = _plain(_rule(name, severity, group, rule).build())
        groups.setdefault(group, []).append(
            {k: v for k, v in built.items() if k not in _GROUP_KEYS}
        )
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": ORG_ID, "name": g, "folder": FOLDER, "interval": INTERVAL, "rules": r}
            for g, r in groups.items()
        ],
    }


def _receivers(receiver: Mapping[str, Any]) -> Iterator[alerting.ContactPoint]:
    """The Grafana integrations of one Alertmanager receiver: its webhooks and mail."""
    name = CONTACT_POINTS[receiver["name"]]
    for i, hook in enumerate(receiver.get("webhook_configs", [])):
        yield (
            alerting.ContactPoint()
            .name(name)
            .uid(f"{name}-webhook-{i}")
            .type("webhook")
            .settings(
                {"url": hook["url"], "httpMethod": "POST", "maxAlerts": hook.get("max_alerts", 0)}
            )
            .disable_resolve_message(not hook.get("send_resolved", True))
        )
    addresses = [mail["to"] for mail in receiver.get("email_configs", [])]
    if addresses:
        yield (
            alerting.ContactPoint()
            .name(name)
            .uid(f"{name}-email")
            .type("email")
            .settings({"addresses": ";".join(addresses), "singleEmail": True})
            .disable_resolve_message(False)
        )


def _contact_points_file(am: Mapping[str, Any]) -> dict[str, Any]:
    points: dict[str, list[Any]] = {}
    for receiver in am["receivers"]:
        if receiver["name"] in CONTACT_POINTS:
            for point in _receivers(receiver):
                built = _plain(point.build())
                points.setdefault(built.pop("name"), []).append(built)
    return {
        "apiVersion": 1,
        "contactPoints": [{"orgId": ORG_ID, "name": n, "receivers": r} for n, r in points.items()],
    }


def _matcher(text: str) -> list[str]:
    """An Alertmanager matcher string (``name="value"``, ``=~``, ``!=``, ``!~``) as Grafana's
    ``[name, op, value]``."""
    match = re.fullmatch(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*', text)
    if not match:
        raise ValueError(f'alertmanager.yml: matcher {text!r} is not name<op>"value"')
    return [match.group(1), match.group(2), match.group(3)]


def _policies_file(am: Mapping[str, Any]) -> dict[str, Any]:
    route = am["route"]
    timing = {
        k: route[k] for k in ("group_wait", "group_interval", "repeat_interval") if k in route
    }
    children: list[cogbuilder.Builder[models.NotificationPolicy]] = []
    for child in route.get("routes", []):
        if child["receiver"] not in CONTACT_POINTS:
            continue  # Watchdog's heartbeat and the "null" receiver have no Grafana rules
        policy = (
            alerting.NotificationPolicy()
            .receiver(CONTACT_POINTS[child["receiver"]])
            .object_matchers([_matcher(m) for m in child["matchers"]])
        )
        if "repeat_interval" in child:
            policy = policy.repeat_interval(child["repeat_interval"])
        children.append(policy)
    root = (
        alerting.NotificationPolicy()
        .receiver(CONTACT_POINTS[route["receiver"]])
        # Grafana adds grafana_folder to instances; grouping by it keeps folders apart.
        .group_by(["grafana_folder", *route["group_by"]])
        .group_wait(timing["group_wait"])
        .group_interval(timing["group_interval"])
        .repeat_interval(timing["repeat_interval"])
        .routes(children)
    )
    return {"apiVersion": 1, "policies": [{"orgId": ORG_ID, **_plain(root.build())}]}


def build_alerting() -> dict[str, dict[str, Any]]:
    """Every alerting provisioning file, keyed by its name in ``provisioning/alerting``."""
    am = load_alertmanager_config()
    return {
        "rules.yml": _rules_file(rules_of()),
        "contact-points.yml": _contact_points_file(am),
        "policies.yml": _policies_file(am),
    }


_HEADER = (
    "# Generated by `python -m kubepulse.stack.grafana_alerting` from deploy/prometheus/rules and\n"
    "# deploy/alertmanager/alertmanager.yml; edit those, then regenerate.\n"
)


def render(doc: Mapping[str, Any]) -> str:
    """A provisioning file's committed text."""
    return _HEADER + yaml.safe_dump(dict(doc), sort_keys=False, width=120, allow_unicode=True)


def as_prometheus_rules(rules_file: Mapping[str, Any]) -> dict[str, Any]:
    """A provisioned rules file as a Prometheus rule file (query ``A``, ``for``, labels and
    annotations), so promtool can evaluate exactly what Grafana will on the same data."""
    out = []
    for group in rules_file["groups"]:
        rules = []
        for rule in group["rules"]:
            (query,) = [q for q in rule["data"] if q["refId"] == "A"]
            prom: dict[str, Any] = {"alert": rule["title"], "expr": query["model"]["expr"]}
            prom["for"] = rule["for"]
            prom["labels"] = rule["labels"]
            prom["annotations"] = {
                k: v.replace("$values.A.Value", "$value") for k, v in rule["annotations"].items()
            }
            rules.append(prom)
        out.append({"name": group["name"], "rules": rules})
    return {"groups": out}


def main(argv: list[str] | None = None) -> int:
    """Write the files, or with ``--check`` exit 1 if the committed ones are stale."""
    return generated_main(
        argv,
        module="kubepulse.stack.grafana_alerting",
        directory=deploy_dir() / "grafana" / "provisioning" / "alerting",
        texts=lambda: {name: render(doc) for name, doc in build_alerting().items()},
    )


if __name__ == "__main__":
    sys.exit(main())
