"""CloudWatch metrics in Embedded Metric Format (EMF): one JSON document per environment on stdout.

Lambda ships every stdout line to CloudWatch Logs, and CloudWatch extracts the metrics from
any line that is an EMF document, so no PutMetricData call (and no extra IAM permission, no
network round trip inside the run) is needed. The format is small and documented
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):

    {"_aws": {"Timestamp": <ms>, "CloudWatchMetrics": [{"Namespace": "SyncJob",
              "Dimensions": [["Environment"]], "Metrics": [{"Name": "...", "Unit": "..."}]}]},
     "Environment": "sandbox", "<metric name>": <number>, ...}

It is written by hand rather than with aws-lambda-powertools' Metrics: that import adds about
a quarter of `import boto3` to every cold start, for twenty lines of JSON (docs/infra.md has
the measured figures).

The metric names below are a contract with infra/ (alarms and dashboard) and docs/runbook.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from typing import Any, Final, TextIO

from sync_job import inputs
from sync_job.errors import UsageError
from sync_job.report import EnvironmentResult, Report

NAMESPACE: Final = "SyncJob"
# infra/ sets it from its metrics_namespace variable, so the alarms and the job always agree.
NAMESPACE_ENV: Final = "SYNC_JOB_METRICS_NAMESPACE"
DIMENSION: Final = "Environment"

# One count per outcome, 1 for the outcome of the run and 0 for the others, so a Sum over
# time reads as "how many runs ended this way" and every run leaves a data point in each.
OUTCOME_METRICS: Final = {
    "refreshed": "Refreshed",
    "fresh": "Fresh",
    "kept": "Kept",
    "deferred": "Deferred",
    "failed": "Failed",
}
SECONDS_REMAINING: Final = "SecondsRemaining"  # life left in the stored token after the run
TOKEN_REQUEST_LATENCY: Final = "TokenRequestLatency"  # the final token request, when one was sent
TOKEN_REQUEST_ATTEMPTS: Final = "TokenRequestAttempts"  # token requests sent this run (0 if fresh)
# Whole days until the client credential ends (certificate notAfter, client secret end date;
# expiry.py), where known; infra/monitoring.tf warns below 30 and pages below 7.
CREDENTIAL_DAYS_LEFT: Final = "CredentialDaysLeft"


# CloudWatch's namespace rule ("Namespaces", CloudWatch concepts, AWS docs): ASCII letters and
# digits, ".", "-", "_", "/", "#", ":" and the space, 1 to 255 characters, at least one that is
# not a space; "AWS/" is reserved for AWS's own services.
_NAMESPACE = re.compile(r"[0-9A-Za-z.\-_/#: ]{1,255}")


def check_namespace(value: str, where: str = "namespace") -> str:
    """``value`` if CloudWatch accepts it as a metric namespace (the rule above); else raises
    UsageError naming ``where``. An EMF line with any other namespace is dropped by CloudWatch
    without a word, so the alarms would see missing data instead of the job's metrics."""
    if not _NAMESPACE.fullmatch(value) or not value.strip() or value.startswith("AWS/"):
        raise UsageError(
            f"{where} {inputs.shown(value, 60)} is not a CloudWatch namespace: 1-255 ASCII letters, "
            "digits, spaces and . - _ / # :, not starting with AWS/ (infra/: var.metrics_namespace)"
        )
    return value


def _number(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def environment_document(
    result: EnvironmentResult, *, namespace: str = NAMESPACE, timestamp_ms: int
) -> dict[str, Any] | None:
    """The EMF document for one environment's result (None for a dry-run result)."""
    if result.outcome not in OUTCOME_METRICS:
        return None  # "would_refresh": a dry run changed nothing and must not feed the alarms
    values: dict[str, tuple[float, str]] = {
        name: (1.0 if outcome == result.outcome else 0.0, "Count")
        for outcome, name in OUTCOME_METRICS.items()
    }
    values[TOKEN_REQUEST_ATTEMPTS] = (float(result.attempts), "Count")
    remaining = _number(result.seconds_remaining)
    if remaining is not None:
        # Omitted when no token is stored or it could not be read: the staleness alarm treats
        # missing data as breaching, so silence alarms just like an expired token does.
        values[SECONDS_REMAINING] = (round(remaining, 3), "Seconds")
    latency = _number(result.latency_seconds)
    if latency is not None:
        values[TOKEN_REQUEST_LATENCY] = (round(latency * 1000, 3), "Milliseconds")
    if result.credential_days_left is not None:
        # "None": CloudWatch has no unit for days. Absent when the end is not known (a KMS
        # key, a federated assertion, a secret without an end date): the alarm ignores it.
        values[CREDENTIAL_DAYS_LEFT] = (float(result.credential_days_left), "None")
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        DIMENSION: result.environment,
    }
    document.update({name: value for name, (value, _) in values.items()})
    return document


def emit_metrics(
    report: Report,
    *,
    namespace: str | None = None,
    stream: TextIO | None = None,
    timestamp_ms: int | None = None,
) -> None:
    """Print one EMF document per environment of ``report``, one line each, to ``stream``
    (stdout by default, which is where Lambda's log agent looks for them). The namespace is
    ``namespace``, else $SYNC_JOB_METRICS_NAMESPACE, else "SyncJob"."""
    if report.dry_run:
        return
    namespace = namespace or os.environ.get(NAMESPACE_ENV) or NAMESPACE
    out = stream if stream is not None else sys.stdout
    when = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    for result in report.results:
        document = environment_document(result, namespace=namespace, timestamp_ms=when)
        if document is not None:
            out.write(json.dumps(document, separators=(",", ":"), allow_nan=False) + "\n")
    out.flush()
