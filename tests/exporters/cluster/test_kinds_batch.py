"""Job and CronJob family tables, table-driven as KSM's ``job_test.go``/``cronjob_test.go``: an
API object in, the exact series out (headers aside, sorted), no cluster needed."""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from helpers_cluster_exporter import SeriesCase, epoch, series_cases, table_series

from kubepulse.exporters.cluster import cronjobs, jobs

CREATED = "2026-03-01T10:00:00Z"
T = epoch(CREATED)
FAILED_JOB: dict[str, Any] = {
    "metadata": {
        "name": "backup",
        "namespace": "ops",
        "uid": "j1",
        "creationTimestamp": CREATED,
        "labels": {"app": "backup", "tier": "batch"},
        "ownerReferences": [{"kind": "CronJob", "name": "nightly", "controller": True}],
    },
    "spec": {"parallelism": 1, "completions": 1, "activeDeadlineSeconds": 900},
    "status": {
        "failed": 4,
        "startTime": "2026-03-01T10:00:01Z",
        "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"},
        ],
    },
}


JOB_ONCE = 'namespace="ops",job_name="once"'
JOB_CASES: list[SeriesCase] = [
    (
        "failed job",
        jobs,
        FAILED_JOB,
        ("app",),
        [
            'kube_job_labels{namespace="ops",job_name="backup",label_app="backup"} 1',
            'kube_job_info{namespace="ops",job_name="backup"} 1',
            f'kube_job_created{{namespace="ops",job_name="backup"}} {T}',
            'kube_job_spec_parallelism{namespace="ops",job_name="backup"} 1',
            'kube_job_spec_completions{namespace="ops",job_name="backup"} 1',
            'kube_job_spec_active_deadline_seconds{namespace="ops",job_name="backup"} 900',
            'kube_job_status_succeeded{namespace="ops",job_name="backup"} 0',
            'kube_job_status_failed{namespace="ops",job_name="backup",reason="BackoffLimitExceeded"} 1',  # noqa: E501
            'kube_job_status_failed{namespace="ops",job_name="backup",reason="DeadlineExceeded"} 0',
            'kube_job_status_failed{namespace="ops",job_name="backup",reason="Evicted"} 0',
            'kube_job_status_active{namespace="ops",job_name="backup"} 0',
            'kube_job_failed{namespace="ops",job_name="backup",condition="true"} 1',
            'kube_job_failed{namespace="ops",job_name="backup",condition="false"} 0',
            'kube_job_failed{namespace="ops",job_name="backup",condition="unknown"} 0',
            f'kube_job_status_start_time{{namespace="ops",job_name="backup"}} {T + 1}',
            'kube_job_owner{namespace="ops",job_name="backup",owner_kind="CronJob",owner_name="nightly",owner_is_controller="true"} 1',  # noqa: E501
        ],
    ),
    (
        # No allowlist: kube_job_labels has no series at all (KSM since 2.10); no Failed condition:
        # kube_job_failed has none either, and kube_job_status_failed is the plain 0.
        "completed unowned job without labels allowlisted",
        jobs,
        {
            "metadata": {"name": "once", "namespace": "ops", "uid": "j2", "labels": {"a": "b"}},
            "spec": {"completions": 3},
            "status": {
                "succeeded": 3,
                "completionTime": "2026-03-01T10:05:00Z",
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True"},
                ],
            },
        },
        None,
        [
            f"kube_job_info{{{JOB_ONCE}}} 1",
            f"kube_job_spec_completions{{{JOB_ONCE}}} 3",
            f"kube_job_status_succeeded{{{JOB_ONCE}}} 3",
            f"kube_job_status_failed{{{JOB_ONCE}}} 0",
            f"kube_job_status_active{{{JOB_ONCE}}} 0",
            f'kube_job_complete{{{JOB_ONCE},condition="true"}} 1',
            f'kube_job_complete{{{JOB_ONCE},condition="false"}} 0',
            f'kube_job_complete{{{JOB_ONCE},condition="unknown"}} 0',
            f"kube_job_status_completion_time{{{JOB_ONCE}}} {epoch('2026-03-01T10:05:00Z')}",
            f'kube_job_owner{{{JOB_ONCE},owner_kind="",owner_name="",owner_is_controller=""}} 1',
        ],
    ),
]


def test_failed_pods_of_an_unknown_reason_and_a_suspended_job() -> None:
    job = {
        "metadata": {"name": "j", "namespace": "ops", "uid": "j3"},
        "spec": {"suspend": True},
        "status": {
            "failed": 2,
            "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}],
        },
    }
    out = table_series(jobs, job)
    head = 'namespace="ops",job_name="j"'
    assert f'kube_job_status_failed{{{head},reason=""}} 2' in out
    assert f"kube_job_status_suspended{{{head}}} 1" in out
    assert not [s for s in out if s.startswith(("kube_job_failed", "kube_job_complete"))]


CRONJOB: dict[str, Any] = {
    "metadata": {
        "name": "nightly",
        "namespace": "ops",
        "uid": "c1",
        "creationTimestamp": CREATED,
        "resourceVersion": "4711",
    },
    "spec": {
        "schedule": "30 2 * * *",
        "concurrencyPolicy": "Forbid",
        "suspend": False,
        "startingDeadlineSeconds": 120,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
    },
    "status": {
        "active": [{"kind": "Job", "name": "nightly-1"}],
        "lastScheduleTime": "2026-03-02T02:30:00Z",
        "lastSuccessfulTime": "2026-03-01T02:31:10Z",
    },
}


CRON = 'namespace="ops",cronjob="nightly"'
CRONJOB_CASES: list[SeriesCase] = [
    (
        "cronjob",
        cronjobs,
        CRONJOB,
        None,
        [
            f'kube_cronjob_info{{{CRON},schedule="30 2 * * *",concurrency_policy="Forbid",timezone="local"}} 1',  # noqa: E501
            f"kube_cronjob_created{{{CRON}}} {epoch(CREATED)}",
            f"kube_cronjob_status_active{{{CRON}}} 1",
            f"kube_cronjob_status_last_schedule_time{{{CRON}}} {epoch('2026-03-02T02:30:00Z')}",
            f"kube_cronjob_status_last_successful_time{{{CRON}}} {epoch('2026-03-01T02:31:10Z')}",
            f"kube_cronjob_spec_suspend{{{CRON}}} 0",
            f"kube_cronjob_spec_starting_deadline_seconds{{{CRON}}} 120",
            # The run after the last schedule time: the next day at 02:30 (the machine's zone is
            # UTC, as in KSM's container).
            f"kube_cronjob_next_schedule_time{{{CRON}}} {epoch('2026-03-03T02:30:00Z')}",
            f"kube_cronjob_metadata_resource_version{{{CRON}}} 4711",
            f"kube_cronjob_spec_successful_job_history_limit{{{CRON}}} 3",
            f"kube_cronjob_spec_failed_job_history_limit{{{CRON}}} 1",
        ],
    ),
]


@series_cases(JOB_CASES + CRONJOB_CASES)
def test_series(
    module: ModuleType, obj: dict[str, Any], labels: tuple[str, ...] | None, expected: list[str]
) -> None:
    assert table_series(module, obj, labels) == sorted(expected)


@pytest.mark.parametrize(
    ("schedule", "last", "created", "zone", "expected"),
    [
        # Never scheduled: the first run after creation.
        ("*/15 * * * *", None, "2026-03-01T10:07:00Z", None, "2026-03-01T10:15:00Z"),
        # Strictly after: a last schedule exactly on a slot gives the next slot.
        ("0 * * * *", "2026-03-01T10:00:00Z", CREATED, None, "2026-03-01T11:00:00Z"),
        ("@daily", None, "2026-03-01T10:00:00Z", None, "2026-03-02T00:00:00Z"),
        # spec.timeZone: 02:30 in Paris (UTC+1 in March) is 01:30 UTC.
        ("30 2 * * *", None, "2026-03-01T10:00:00Z", "Europe/Paris", "2026-03-02T01:30:00Z"),
        # Day of month and day of week both restricted: either matches (cron's OR rule).
        ("0 0 13 * 5", None, "2026-03-01T10:00:00Z", None, "2026-03-06T00:00:00Z"),
    ],
)
def test_next_schedule_time(
    schedule: str, last: str | None, created: str, zone: str | None, expected: str
) -> None:
    assert datetime.now(UTC).astimezone().utcoffset() == UTC.utcoffset(None)  # zone "local"
    assert cronjobs.next_schedule_time(schedule, last, created, zone) == epoch(expected)


def test_suspended_cronjob_has_no_next_schedule_time() -> None:
    suspended = {**CRONJOB, "spec": {**CRONJOB["spec"], "suspend": True}}
    out = table_series(cronjobs, suspended)
    assert 'kube_cronjob_spec_suspend{namespace="ops",cronjob="nightly"} 1' in out
    assert not [s for s in out if s.startswith("kube_cronjob_next_schedule_time")]
