"""Job families: kube-state-metrics ``internal/store/job.go``.

Families, in KSM's order: labels, info, created, spec_parallelism, spec_completions,
spec_active_deadline_seconds, status_succeeded, status_failed (with ``reason``), status_active,
complete, failed, status_start_time, status_completion_time, status_suspended, owner.
The identifying labels are ``namespace`` and ``job_name`` (KSM's; ``job`` would clash with
Prometheus's own job label).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import condition_samples
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix, number, status_time
from kubepulse.kube.informer import Resource

RESOURCE = Resource("jobs", "/apis/batch/v1")
prefix = namespaced_prefix("job_name")

Obj = dict[str, Any]
# KSM's jobFailureReasons: each gets a series when the Job has a Failed condition.
FAILURE_REASONS = ("BackoffLimitExceeded", "DeadlineExceeded", "Evicted")


def _conditions(obj: Obj, kind: str) -> list[Obj]:
    return [c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == kind]


def _condition(kind: str) -> Callable[[Obj], list[Sample]]:
    """``kube_job_complete`` / ``kube_job_failed``: three series per condition of that type."""

    def generate(obj: Obj) -> list[Sample]:
        return [s for c in _conditions(obj, kind) for s in condition_samples(c.get("status"))]

    return generate


def _status_failed(obj: Obj) -> list[Sample]:
    """The failed pod count; with a Failed condition, one series per known reason instead."""
    failed = float((obj.get("status") or {}).get("failed") or 0)
    if failed == 0:
        return [((), 0.0)]
    samples: list[Sample] = []
    known = False
    for condition in _conditions(obj, "Failed"):
        for reason in FAILURE_REASONS:
            hit = condition.get("reason") == reason
            known = known or hit
            samples.append(((("reason", reason),), 1.0 if hit else 0.0))
    if not known:
        samples.append(((("reason", ""),), failed))
    return samples


def _suspended(obj: Obj) -> list[Sample]:
    return [((), 1.0 if c.get("status") == "True" else 0.0) for c in _conditions(obj, "Suspended")]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.labels_family("job", allowed_labels),
        FamilySpec("kube_job_info", "Information about job.", metadata.info_sample),
        metadata.created_family("job"),
        FamilySpec(
            "kube_job_spec_parallelism",
            "The maximum desired number of pods the job should run at any given time.",
            number("spec", "parallelism", optional=True),
        ),
        FamilySpec(
            "kube_job_spec_completions",
            "The desired number of successfully finished pods the job should be run with.",
            number("spec", "completions", optional=True),
        ),
        FamilySpec(
            "kube_job_spec_active_deadline_seconds",
            "The duration in seconds relative to the startTime that the job may be active before the system tries to terminate it.",  # noqa: E501 (KSM's help text)
            number("spec", "activeDeadlineSeconds", optional=True),
        ),
        FamilySpec(
            "kube_job_status_succeeded",
            "The number of pods which reached Phase Succeeded.",
            number("status", "succeeded"),
        ),
        FamilySpec(
            "kube_job_status_failed",
            "The number of pods which reached Phase Failed and the reason for failure.",
            _status_failed,
        ),
        FamilySpec(
            "kube_job_status_active",
            "The number of actively running pods.",
            number("status", "active"),
        ),
        FamilySpec(
            "kube_job_complete", "The job has completed its execution.", _condition("Complete")
        ),
        FamilySpec("kube_job_failed", "The job has failed its execution.", _condition("Failed")),
        FamilySpec(
            "kube_job_status_start_time",
            "StartTime represents time when the job was acknowledged by the Job Manager.",
            status_time("startTime"),
        ),
        FamilySpec(
            "kube_job_status_completion_time",
            "CompletionTime represents time when the job was completed.",
            status_time("completionTime"),
        ),
        FamilySpec(
            "kube_job_status_suspended",
            "The number of pods which reached Phase Suspended.",
            _suspended,
        ),
        metadata.owner_family("job", "Job"),
    ]


KIND = Kind(RESOURCE, prefix, families)
