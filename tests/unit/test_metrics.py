"""The EMF documents sync_job.metrics prints, parsed and checked against the EMF specification
(CloudWatch_Embedded_Metric_Format_Specification) and against the names infra/ alarms on."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync_job.metrics import (
    OUTCOME_METRICS,
    SECONDS_REMAINING,
    TOKEN_REQUEST_ATTEMPTS,
    TOKEN_REQUEST_LATENCY,
    emit_metrics,
)
from sync_job.report import EnvironmentResult, Outcome, Report

ROOT = Path(__file__).resolve().parents[2]
# The units CloudWatch accepts (MetricDatum.Unit), the only ones EMF may name.
CLOUDWATCH_UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}
EXPIRY = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def emitted(report: Report, **kwargs: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    emit_metrics(report, stream=out, timestamp_ms=1_764_000_000_000, **kwargs)
    lines = out.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def assert_valid_emf(doc: dict[str, Any]) -> None:
    """Every rule of the EMF specification that a document of ours can break."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 0
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str)
        assert re.fullmatch(r"[.\-_/#:a-zA-Z0-9]{1,255}", directive["Namespace"])
        dimension_sets = directive["Dimensions"]
        assert isinstance(dimension_sets, list)
        for dimension_set in dimension_sets:
            assert 1 <= len(dimension_set) <= 30
            for key in dimension_set:
                # A dimension's value is a top-level string member.
                assert isinstance(doc[key], str) and doc[key]
        metrics = directive["Metrics"]
        assert 1 <= len(metrics) <= 100
        names = [m["Name"] for m in metrics]
        assert len(names) == len(set(names))
        for metric in metrics:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert 1 <= len(metric["Name"]) <= 255
            assert metric.get("Unit", "None") in CLOUDWATCH_UNITS
            # Each metric's value is a top-level number (not a bool, not NaN).
            value = doc[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)
            assert value == value


def by_env(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["Environment"]: d for d in docs}


def test_one_document_per_environment_with_every_metric() -> None:
    report = Report(
        results=(
            EnvironmentResult(
                "sandbox",
                Outcome.REFRESHED,
                expires_at=EXPIRY,
                seconds_remaining=3599.0,
                attempts=2,
                latency_seconds=0.1234,
            ),
            EnvironmentResult("production", Outcome.FRESH, expires_at=EXPIRY, seconds_remaining=2000.4),
            EnvironmentResult(
                "broken",
                Outcome.FAILED,
                error="invalid_client",
                attempts=1,
                latency_seconds=0.05,
                seconds_remaining=120.0,
            ),
        )
    )
    docs = emitted(report)
    assert len(docs) == 3
    for doc in docs:
        assert_valid_emf(doc)
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "SyncJob"
        assert directive["Dimensions"] == [["Environment"]]
        assert doc["_aws"]["Timestamp"] == 1_764_000_000_000
    envs = by_env(docs)

    sandbox = envs["sandbox"]
    assert (sandbox["Refreshed"], sandbox["Fresh"], sandbox["Failed"]) == (1, 0, 0)
    assert sandbox[SECONDS_REMAINING] == 3599
    assert sandbox[TOKEN_REQUEST_LATENCY] == pytest.approx(123.4)
    assert sandbox[TOKEN_REQUEST_ATTEMPTS] == 2
    units = {m["Name"]: m["Unit"] for m in sandbox["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {
        "Refreshed": "Count",
        "Fresh": "Count",
        "Kept": "Count",
        "Deferred": "Count",
        "Failed": "Count",
        TOKEN_REQUEST_ATTEMPTS: "Count",
        SECONDS_REMAINING: "Seconds",
        TOKEN_REQUEST_LATENCY: "Milliseconds",
    }

    production = envs["production"]
    assert (production["Refreshed"], production["Fresh"], production["Failed"]) == (0, 1, 0)
    assert production[TOKEN_REQUEST_ATTEMPTS] == 0
    # No token request on the fresh path: no latency data point rather than a made-up one.
    assert TOKEN_REQUEST_LATENCY not in production
    assert all(
        m["Name"] != TOKEN_REQUEST_LATENCY for m in production["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    )

    assert (envs["broken"]["Refreshed"], envs["broken"]["Failed"]) == (0, 1)


def test_unknown_remaining_life_is_omitted_so_the_alarm_sees_missing_data() -> None:
    docs = emitted(Report(results=(EnvironmentResult("sandbox", Outcome.FAILED, error="boom"),)))
    (doc,) = docs
    assert_valid_emf(doc)
    assert SECONDS_REMAINING not in doc
    assert doc["Failed"] == 1


def test_expired_token_reports_negative_seconds() -> None:
    (doc,) = emitted(
        Report(results=(EnvironmentResult("sandbox", Outcome.FAILED, error="x", seconds_remaining=-30.0),))
    )
    assert doc[SECONDS_REMAINING] == -30


def test_non_finite_values_never_reach_the_document() -> None:
    (doc,) = emitted(
        Report(
            results=(
                EnvironmentResult(
                    "sandbox",
                    Outcome.REFRESHED,
                    seconds_remaining=float("nan"),
                    latency_seconds=float("inf"),
                    attempts=1,
                ),
            )
        )
    )
    assert_valid_emf(doc)
    assert SECONDS_REMAINING not in doc and TOKEN_REQUEST_LATENCY not in doc


def test_dry_runs_emit_nothing() -> None:
    assert emitted(Report(results=(EnvironmentResult("sandbox", Outcome.WOULD_REFRESH),), dry_run=True)) == []
    assert emitted(Report(results=(EnvironmentResult("sandbox", Outcome.WOULD_REFRESH),))) == []


def test_namespace_is_configurable_and_output_is_one_line_per_document() -> None:
    out = io.StringIO()
    emit_metrics(
        Report(results=(EnvironmentResult("a", Outcome.FRESH), EnvironmentResult("b", Outcome.FRESH))),
        namespace="Custom/NS",
        stream=out,
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        doc = json.loads(line)
        assert_valid_emf(doc)
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Custom/NS"
        # Default timestamp: now, in milliseconds.
        assert abs(doc["_aws"]["Timestamp"] / 1000 - datetime.now(UTC).timestamp()) < 60


def test_namespace_comes_from_the_environment_that_infra_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    report = Report(results=(EnvironmentResult("sandbox", Outcome.FRESH),))
    monkeypatch.setenv("SYNC_JOB_METRICS_NAMESPACE", "Payments/SyncJob")
    (doc,) = emitted(report)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Payments/SyncJob"
    (doc,) = emitted(report, namespace="Explicit")  # an argument wins over the environment
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Explicit"
    monkeypatch.delenv("SYNC_JOB_METRICS_NAMESPACE")
    (doc,) = emitted(report)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SyncJob"


def test_default_stream_is_stdout() -> None:
    code = (
        "from sync_job.metrics import emit_metrics\n"
        "from sync_job.report import EnvironmentResult, Report\n"
        "emit_metrics(Report(results=(EnvironmentResult('sandbox', 'fresh', seconds_remaining=5.0),)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SYNC_JOB_METRICS_NAMESPACE"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
        env=env,
    )
    (doc,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert_valid_emf(doc)
    assert doc[SECONDS_REMAINING] == 5


def test_metric_names_match_what_infra_alarms_and_graphs() -> None:
    """The names are a contract with infra/: a rename here must be made there too."""
    terraform = "\n".join(p.read_text() for p in sorted((ROOT / "infra").glob("*.tf")))
    for name in [*OUTCOME_METRICS.values(), SECONDS_REMAINING, TOKEN_REQUEST_LATENCY, TOKEN_REQUEST_ATTEMPTS]:
        assert f'"{name}"' in terraform, f"metric {name} is not used in infra/*.tf"


def test_credential_days_left_is_a_metric_where_known() -> None:
    from datetime import timedelta

    ends = EXPIRY + timedelta(days=12)
    docs = emitted(
        Report(
            results=(
                EnvironmentResult(
                    "sandbox", Outcome.FRESH, credential_expires_at=ends, credential_days_left=12
                ),
                EnvironmentResult("production", Outcome.FRESH),
            )
        )
    )
    for doc in docs:
        assert_valid_emf(doc)
    assert docs[0]["CredentialDaysLeft"] == 12.0
    names = {m["Name"]: m["Unit"] for m in docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names["CredentialDaysLeft"] == "None"
    # An end that is not known (KMS key, federated assertion) is no data, not zero days.
    assert "CredentialDaysLeft" not in docs[1]
