"""CronJob families: kube-state-metrics ``internal/store/cronjob.go``.

Families, in KSM's order: labels, info, created, status_active, status_last_schedule_time,
status_last_successful_time, spec_suspend, spec_starting_deadline_seconds, next_schedule_time,
metadata_resource_version, spec_successful_job_history_limit, spec_failed_job_history_limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import timestamp
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix, number, status_time
from kubepulse.kube.informer import Resource

RESOURCE = Resource("cronjobs", "/apis/batch/v1")
prefix = namespaced_prefix("cronjob")

Obj = dict[str, Any]


def next_schedule_time(
    schedule: str, last: str | None, created_at: str | None, zone: str | None
) -> float | None:
    """The first activation after the last schedule time, else after creation (KSM's rule).

    The schedule runs in ``spec.timeZone`` when set, else in this process's local zone, as KSM's
    ``CRON_TZ`` prefix and ``time.Local`` do. None when the schedule or zone cannot be read
    (KSM panics there; the API server validates both, so it does not happen in practice).
    """
    start = last or created_at
    if not start:
        return None
    try:
        tz = ZoneInfo(zone) if zone else None
        base = datetime.fromtimestamp(timestamp(start), UTC).astimezone(tz)
        nxt: datetime = croniter(schedule, base).get_next(datetime)
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        return None
    return float(int(nxt.timestamp()))


def _next(obj: Obj) -> list[Sample]:
    spec = obj.get("spec") or {}
    if spec.get("suspend"):
        return []
    value = next_schedule_time(
        spec.get("schedule", ""),
        (obj.get("status") or {}).get("lastScheduleTime"),
        obj["metadata"].get("creationTimestamp"),
        spec.get("timeZone"),
    )
    return [] if value is None else [((), value)]


def _info(obj: Obj) -> list[Sample]:
    spec = obj.get("spec") or {}
    return [
        (
            (
                ("schedule", spec.get("schedule", "")),
                ("concurrency_policy", spec.get("concurrencyPolicy", "")),
                ("timezone", spec.get("timeZone") or "local"),
            ),
            1.0,
        )
    ]


def _active(obj: Obj) -> list[Sample]:
    return [((), float(len((obj.get("status") or {}).get("active") or ())))]


def _suspend(obj: Obj) -> list[Sample]:
    suspend = (obj.get("spec") or {}).get("suspend")
    return [] if suspend is None else [((), 1.0 if suspend else 0.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.labels_family("cronjob", allowed_labels),
        FamilySpec("kube_cronjob_info", "Info about cronjob.", _info),
        metadata.created_family("cronjob"),
        FamilySpec(
            "kube_cronjob_status_active",
            "Active holds pointers to currently running jobs.",
            _active,
        ),
        FamilySpec(
            "kube_cronjob_status_last_schedule_time",
            "LastScheduleTime keeps information of when was the last time the job was successfully scheduled.",  # noqa: E501 (KSM's help text)
            status_time("lastScheduleTime"),
        ),
        FamilySpec(
            "kube_cronjob_status_last_successful_time",
            "LastSuccessfulTime keeps information of when was the last time the job was completed successfully.",  # noqa: E501 (KSM's help text)
            status_time("lastSuccessfulTime"),
        ),
        FamilySpec(
            "kube_cronjob_spec_suspend",
            "Suspend flag tells the controller to suspend subsequent executions.",
            _suspend,
        ),
        FamilySpec(
            "kube_cronjob_spec_starting_deadline_seconds",
            "Deadline in seconds for starting the job if it misses scheduled time for any reason.",
            number("spec", "startingDeadlineSeconds", optional=True),
        ),
        FamilySpec(
            "kube_cronjob_next_schedule_time",
            "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after the cron job's creation time if it's never been scheduled. Use this to determine if the job is delayed.",  # noqa: E501 (KSM's help text)
            _next,
        ),
        metadata.resource_version_family("cronjob", "the cronjob"),
        FamilySpec(
            "kube_cronjob_spec_successful_job_history_limit",
            "Successful job history limit tells the controller how many completed jobs should be preserved.",  # noqa: E501 (KSM's help text)
            number("spec", "successfulJobsHistoryLimit", optional=True),
        ),
        FamilySpec(
            "kube_cronjob_spec_failed_job_history_limit",
            "Failed job history limit tells the controller how many failed jobs should be preserved.",  # noqa: E501 (KSM's help text)
            number("spec", "failedJobsHistoryLimit", optional=True),
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
