"""The README's table of kube-prometheus's alert names, and the unit-test coverage of every rule
file, checked against the rule files themselves."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubepulse.stack import deploy_dir

PROM = deploy_dir() / "prometheus"
RULE_FILES = sorted(PROM.glob("rules/*.yml")) + sorted(PROM.glob("rules/optional/*.yml"))
TEST_FILES = sorted(PROM.glob("tests/*.yml"))

# The distinct alert names of kube-prometheus's rendered rules, manifests/*-prometheusRule.yaml at
# commit 4d719f1 (139 rules): written out here so the table is checked against the source list,
# not against itself.
KUBE_PROMETHEUS_ALERTS = (
    "AlertmanagerClusterCrashlooping",
    "AlertmanagerClusterDown",
    "AlertmanagerClusterFailedPeers",
    "AlertmanagerClusterFailedToSendAlerts",
    "AlertmanagerConfigInconsistent",
    "AlertmanagerFailedReload",
    "AlertmanagerFailedToSendAlerts",
    "AlertmanagerMembersInconsistent",
    "CPUThrottlingHigh",
    "ConfigReloaderSidecarErrors",
    "GrafanaRequestsFailing",
    "InfoInhibitor",
    "KubeAPIDown",
    "KubeAPIErrorBudgetBurn",
    "KubeAPIInstanceUnreachable",
    "KubeAPITerminatedRequests",
    "KubeAggregatedAPIDown",
    "KubeAggregatedAPIErrors",
    "KubeCPUOvercommit",
    "KubeCPUQuotaOvercommit",
    "KubeClientCertificateExpiration",
    "KubeClientErrors",
    "KubeContainerWaiting",
    "KubeControllerManagerDown",
    "KubeControllerManagerInstanceUnreachable",
    "KubeDaemonSetMisScheduled",
    "KubeDaemonSetNotScheduled",
    "KubeDaemonSetRolloutStuck",
    "KubeDeploymentGenerationMismatch",
    "KubeDeploymentReplicasMismatch",
    "KubeDeploymentRolloutStuck",
    "KubeHpaMaxedOut",
    "KubeHpaReplicasMismatch",
    "KubeJobFailed",
    "KubeJobNotCompleted",
    "KubeMemoryOvercommit",
    "KubeMemoryQuotaOvercommit",
    "KubeNodeEviction",
    "KubeNodeNotReady",
    "KubeNodePressure",
    "KubeNodeReadinessFlapping",
    "KubeNodeUnreachable",
    "KubePdbNotEnoughHealthyPods",
    "KubePersistentVolumeErrors",
    "KubePersistentVolumeFillingUp",
    "KubePersistentVolumeInodesFillingUp",
    "KubePodCrashLooping",
    "KubePodNotReady",
    "KubeQuotaAlmostFull",
    "KubeQuotaExceeded",
    "KubeQuotaFullyUsed",
    "KubeSchedulerDown",
    "KubeSchedulerInstanceUnreachable",
    "KubeStateMetricsListErrors",
    "KubeStateMetricsShardingMismatch",
    "KubeStateMetricsShardsMissing",
    "KubeStateMetricsWatchErrors",
    "KubeStatefulSetGenerationMismatch",
    "KubeStatefulSetReplicasMismatch",
    "KubeStatefulSetUpdateNotRolledOut",
    "KubeVersionMismatch",
    "KubeletClientCertificateExpiration",
    "KubeletClientCertificateRenewalErrors",
    "KubeletDown",
    "KubeletInstanceUnreachable",
    "KubeletPlegDurationHigh",
    "KubeletPodStartUpLatencyHigh",
    "KubeletServerCertificateExpiration",
    "KubeletServerCertificateRenewalErrors",
    "KubeletTooManyPods",
    "NodeBondingDegraded",
    "NodeCPUHighUsage",
    "NodeClockNotSynchronising",
    "NodeClockSkewDetected",
    "NodeDiskIOSaturation",
    "NodeFileDescriptorLimit",
    "NodeFilesystemAlmostOutOfFiles",
    "NodeFilesystemAlmostOutOfSpace",
    "NodeFilesystemFilesFillingUp",
    "NodeFilesystemSpaceFillingUp",
    "NodeHighNumberConntrackEntriesUsed",
    "NodeMemoryHighUtilization",
    "NodeMemoryMajorPagesFaults",
    "NodeNetworkInterfaceFlapping",
    "NodeNetworkReceiveErrs",
    "NodeNetworkTransmitErrs",
    "NodeRAIDDegraded",
    "NodeRAIDDiskFailure",
    "NodeSystemSaturation",
    "NodeSystemdServiceCrashlooping",
    "NodeSystemdServiceFailed",
    "NodeTextFileCollectorScrapeError",
    "PrometheusBadConfig",
    "PrometheusDuplicateTimestamps",
    "PrometheusErrorSendingAlertsToAnyAlertmanager",
    "PrometheusErrorSendingAlertsToSomeAlertmanagers",
    "PrometheusHighQueryLoad",
    "PrometheusKubernetesListWatchFailures",
    "PrometheusLabelLimitHit",
    "PrometheusMissingRuleEvaluations",
    "PrometheusNotConnectedToAlertmanagers",
    "PrometheusNotIngestingSamples",
    "PrometheusNotificationQueueRunningFull",
    "PrometheusOperatorListErrors",
    "PrometheusOperatorNodeLookupErrors",
    "PrometheusOperatorNotReady",
    "PrometheusOperatorReconcileErrors",
    "PrometheusOperatorRejectedResources",
    "PrometheusOperatorStatusUpdateErrors",
    "PrometheusOperatorSyncFailed",
    "PrometheusOperatorWatchErrors",
    "PrometheusOutOfOrderTimestamps",
    "PrometheusRemoteStorageFailures",
    "PrometheusRemoteWriteBehind",
    "PrometheusRemoteWriteDesiredShards",
    "PrometheusRuleFailures",
    "PrometheusSDRefreshFailure",
    "PrometheusScrapeBodySizeLimitHit",
    "PrometheusScrapeSampleLimitHit",
    "PrometheusTSDBCompactionsFailing",
    "PrometheusTSDBReloadsFailing",
    "PrometheusTargetLimitHit",
    "PrometheusTargetSyncFailure",
    "TargetDown",
    "Watchdog",
)

ROW = re.compile(
    r"^\| `(?P<name>[A-Za-z0-9]+)` \| (?P<group>[^|]+) \| (?P<ours>[^|]+) \| (?P<note>[^|]*) \|$"
)


def load(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def our_alerts() -> frozenset[str]:
    return frozenset(
        rule["alert"]
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    )


@cache
def table() -> tuple[dict[str, str], ...]:
    """The rows of the README's "kube-prometheus alerts, mapped" table, in order."""
    text = (PROM / "README.md").read_text(encoding="utf-8")
    section = text.split("## kube-prometheus alerts, mapped", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    parsed = [ROW.match(line) for line in rows]
    assert all(parsed), [line for line, m in zip(rows, parsed, strict=True) if not m]
    return tuple({k: v.strip() for k, v in m.groupdict().items()} for m in parsed if m)


def test_the_source_list_has_125_names() -> None:
    assert len(KUBE_PROMETHEUS_ALERTS) == 125
    assert len(set(KUBE_PROMETHEUS_ALERTS)) == 125


def test_the_table_lists_each_kube_prometheus_name_exactly_once() -> None:
    names = [row["name"] for row in table()]
    assert len(names) == 125
    assert sorted(names) == sorted(KUBE_PROMETHEUS_ALERTS)


def row_problem(row: dict[str, str], alerts: frozenset[str]) -> str | None:
    """Why a table row does not account for its name, or None when it does."""
    if row["ours"] == "—":
        reason = row["note"].removeprefix("left out: ")
        return None if reason != row["note"] and reason else "a dash needs a 'left out: ...' reason"
    ours = re.findall(r"`([A-Za-z0-9]+)`", row["ours"])
    if not ours or re.sub(r"`[A-Za-z0-9]+`|,|\s", "", row["ours"]):
        return f"neither backticked alert names nor a dash: {row['ours']!r}"
    missing = sorted(set(ours) - alerts)
    return f"not alerts in rules/: {missing}" if missing else None


@pytest.mark.parametrize("name", KUBE_PROMETHEUS_ALERTS)
def test_each_name_maps_to_our_alerts_or_a_reason(name: str) -> None:
    (row,) = [r for r in table() if r["name"] == name]
    assert row_problem(row, our_alerts()) is None, (name, row_problem(row, our_alerts()))


def test_the_row_check_refuses_unknown_alerts_bare_dashes_and_placeholders() -> None:
    alerts = frozenset({"KubeJobFailed", "KubeletDown"})
    row = {"name": "X", "group": "kubernetes", "note": ""}
    assert row_problem({**row, "ours": "`KubeJobFailed`"}, alerts) is None
    assert row_problem({**row, "ours": "`KubeJobFailed`, `KubeletDown`"}, alerts) is None
    assert row_problem({**row, "ours": "`KubeNoSuchAlert`"}, alerts) == (
        "not alerts in rules/: ['KubeNoSuchAlert']"
    )
    assert row_problem({**row, "ours": "—"}, alerts) == "a dash needs a 'left out: ...' reason"
    assert row_problem({**row, "ours": "—", "note": "left out: Windows only"}, alerts) is None
    assert row_problem({**row, "ours": "pending"}, alerts) == (
        "neither backticked alert names nor a dash: 'pending'"
    )


def test_every_rule_file_has_a_unit_test_file() -> None:
    """A rule file only some test file loads would leave its alerts unchecked by promtool."""
    loaded = {
        (path.parent / name).resolve()
        for path in TEST_FILES
        for name in load(path).get("rule_files", [])
    }
    assert len(RULE_FILES) >= 10
    assert [p.name for p in RULE_FILES if p.resolve() not in loaded] == []


def test_cpu_throttling_never_pages() -> None:
    """Throttling is normal for bursty containers with limits: an alert on it is a hint (info)."""
    rules = [
        rule
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule and "throttl" in rule["expr"]
    ]
    assert [r["alert"] for r in rules] == ["CPUThrottlingHigh"]
    assert all(r["labels"]["severity"] == "info" for r in rules)
