"""Prometheus metrics of a run, for hosts without Lambda (cron on a VM, a CI runner, a Kubernetes
CronJob): a node_exporter textfile (``--metrics-file``) or a Pushgateway (``--pushgateway``).

Lambda turns the job's EMF log lines (sync_job.metrics) into CloudWatch metrics; nothing does that
elsewhere, and batch jobs there are watched with Prometheus. The metrics are built and written
with prometheus_client, an optional extra (``pip install 'sync-job[prometheus]'``), imported only
when one of the options is given.

Metrics, all gauges (a contract with examples/prometheus/alerts.yml and docs/runbook.md)::

    sync_job_run_start_timestamp_seconds                     Unix time the run started
    sync_job_run_duration_seconds                            its wall time, config load included
    sync_job_last_outcome{environment,outcome}               1 for the run's outcome, 0 for OUTCOMES' others
    sync_job_last_success_timestamp_seconds{environment}     last run start that ended refreshed/fresh/kept
    sync_job_token_expiry_timestamp_seconds{environment}     Unix time the stored token expires
    sync_job_token_seconds_remaining{environment}            its life left when the run read or wrote it
    sync_job_token_request_attempts{environment}             token requests sent in the run (0: fresh)
    sync_job_token_request_latency_seconds{environment}      the last token request's duration
    sync_job_credential_expiry_timestamp_seconds{environment}  Unix time the client credential ends
    sync_job_credential_days_left{environment}               whole days until then, at the run

One rule for both sinks: **a value a run does not produce keeps its previous value**. A failed
run produces no success time (nor expiry and remaining life when it could not read the stored
token, which it left untouched), a fresh one no latency, and a run with ``--env`` nothing for
the other environments. So a failed run never erases the last success time, and the expiry of the token
still stored stays visible, which is what the expiry alert needs exactly when refreshes fail.

- Textfile: the previous file is parsed back (prometheus_client's parser) and what this run does
  not produce is copied from it, per metric and environment. prometheus_client's
  write_to_textfile writes a temporary file in PATH's folder and renames it over PATH (rename(2)
  is atomic within a filesystem), so the collector never reads half a file.
- Pushgateway: job ``sync_job``; the run's two metrics under the grouping key ``{instance}``,
  each environment's under ``{instance, environment}``, all with POST (prometheus_client's
  pushadd_to_gateway), never PUT. POST replaces only the metric names it carries within its
  group, so the Pushgateway applies the same rule itself; PUT would drop every metric the run
  did not send, the last success time of a failing environment first of all.

A dry run (``report.dry_run``, outcome would_refresh) changed nothing and produces no metrics:
nothing is written or pushed.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from sync_job.errors import UsageError
from sync_job.redact import scrub
from sync_job.report import EnvironmentResult, Outcome, Report

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# Outcome label values of sync_job_last_outcome, each present (1 or 0) for every environment a run
# reports, so `== 1` and `== 0` both select: report.Outcome less the dry run's. Extend here when
# Outcome grows; an outcome not listed still gets its own 1 (see outcome_labels), never lost.
OUTCOMES: Final[tuple[str, ...]] = tuple(
    str(o) for o in (Outcome.REFRESHED, Outcome.FRESH, Outcome.KEPT, Outcome.DEFERRED, Outcome.FAILED)
)
# Runs that end with a usable token stored that this run checked or obtained: they set
# sync_job_last_success_timestamp_seconds. Not "deferred": the refresh that was due did not
# happen (the stored token is still valid, and its expiry says for how long).
SUCCESS_OUTCOMES: Final[frozenset[str]] = frozenset(
    str(o) for o in (Outcome.REFRESHED, Outcome.FRESH, Outcome.KEPT)
)
# A dry run's outcome: it changed nothing, so it must not feed dashboards or alerts.
DRY_RUN_OUTCOME: Final[str] = str(Outcome.WOULD_REFRESH)

JOB: Final = "sync_job"
PUSH_TIMEOUT_SECONDS: Final = 10.0
EXTRA_HINT: Final = "pip install 'sync-job[prometheus]'"

RUN_START: Final = "sync_job_run_start_timestamp_seconds"
RUN_DURATION: Final = "sync_job_run_duration_seconds"
LAST_OUTCOME: Final = "sync_job_last_outcome"
LAST_SUCCESS: Final = "sync_job_last_success_timestamp_seconds"
TOKEN_EXPIRY: Final = "sync_job_token_expiry_timestamp_seconds"
TOKEN_REMAINING: Final = "sync_job_token_seconds_remaining"
REQUEST_ATTEMPTS: Final = "sync_job_token_request_attempts"
REQUEST_LATENCY: Final = "sync_job_token_request_latency_seconds"
CREDENTIAL_EXPIRY: Final = "sync_job_credential_expiry_timestamp_seconds"
CREDENTIAL_DAYS_LEFT: Final = "sync_job_credential_days_left"

RUN_METRICS: Final = {
    RUN_START: "Unix time the last sync-job run started.",
    RUN_DURATION: "Wall time of the last sync-job run, config load included, in seconds.",
}
ENVIRONMENT_METRICS: Final = {
    LAST_OUTCOME: "1 for the outcome of the environment's last run, 0 for the other outcomes.",
    LAST_SUCCESS: "Start time of the last run in which the environment ended refreshed, fresh or kept.",
    TOKEN_EXPIRY: "Unix time the stored token expires.",
    TOKEN_REMAINING: "Seconds of life the stored token had left when the last run that read it ended.",
    REQUEST_ATTEMPTS: "Token requests sent for the environment in its last run (0 when fresh).",
    REQUEST_LATENCY: "Duration of the last token request sent for the environment, in seconds.",
    CREDENTIAL_EXPIRY: "Unix time the client credential ends (certificate notAfter, client secret end date).",
    CREDENTIAL_DAYS_LEFT: "Whole days the client credential had left when the last run read it.",
}
ENVIRONMENT_LABEL: Final = "environment"

# A sample's labels as sorted (name, value) pairs: hashable, and the same whatever order a
# parser or a caller gives them in.
Labels = tuple[tuple[str, str], ...]
# metric name -> labels -> value
Samples = dict[str, dict[Labels, float]]


def _labels(**pairs: str) -> Labels:
    return tuple(sorted(pairs.items()))


def _finite(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def outcome_labels(results: Iterable[EnvironmentResult]) -> tuple[str, ...]:
    """OUTCOMES, then any other outcome the results carry (dry-run ones excepted), in order."""
    extra = [str(r.outcome) for r in results if str(r.outcome) not in OUTCOMES]
    extra = [o for o in dict.fromkeys(extra) if o != DRY_RUN_OUTCOME]
    return (*OUTCOMES, *extra)


def run_samples(report: Report, *, started_at: float, duration_seconds: float) -> Samples:
    """What this run produced, by metric name; empty for a dry run.

    ``started_at`` is Unix time in seconds, ``duration_seconds`` the run's wall time. Values the
    run does not know (no token stored, no request sent) are absent, not zero.
    """
    if report.dry_run:
        return {}
    samples: Samples = {name: {} for name in (*RUN_METRICS, *ENVIRONMENT_METRICS)}
    samples[RUN_START][()] = started_at
    samples[RUN_DURATION][()] = max(0.0, duration_seconds)
    outcomes = outcome_labels(report.results)
    for r in report.results:
        outcome = str(r.outcome)
        if outcome == DRY_RUN_OUTCOME:
            continue
        env = r.environment
        for o in outcomes:
            samples[LAST_OUTCOME][_labels(environment=env, outcome=o)] = 1.0 if o == outcome else 0.0
        key = _labels(environment=env)
        if outcome in SUCCESS_OUTCOMES:
            samples[LAST_SUCCESS][key] = started_at
        if r.expires_at is not None:
            samples[TOKEN_EXPIRY][key] = r.expires_at.timestamp()
        remaining = _finite(r.seconds_remaining)
        if remaining is not None:
            samples[TOKEN_REMAINING][key] = remaining
        samples[REQUEST_ATTEMPTS][key] = float(r.attempts)
        latency = _finite(r.latency_seconds)
        if latency is not None:
            samples[REQUEST_LATENCY][key] = latency
        if r.credential_expires_at is not None and r.credential_days_left is not None:
            # Only where known (expiry.py); an end that stops being known keeps its last value.
            samples[CREDENTIAL_EXPIRY][key] = r.credential_expires_at.timestamp()
            samples[CREDENTIAL_DAYS_LEFT][key] = float(r.credential_days_left)
    return samples


def carry_over(current: Samples, previous: Samples) -> Samples:
    """``current`` plus what it does not produce from ``previous``, per metric and environment.

    A (metric, environment) pair present in ``current`` replaces all of that pair's previous
    samples (so an outcome label dropped from OUTCOMES disappears with the next run); one absent
    keeps them. Run metrics and unknown metrics of ``previous`` are not carried.
    """
    merged: Samples = {name: dict(values) for name, values in current.items()}
    for name in ENVIRONMENT_METRICS:
        now = merged.setdefault(name, {})
        produced = {dict(key).get(ENVIRONMENT_LABEL) for key in now}
        for key, value in previous.get(name, {}).items():
            env = dict(key).get(ENVIRONMENT_LABEL)
            if env is not None and env not in produced:
                now[key] = value
    return merged


def parse_samples(text: str) -> Samples:
    """This module's metrics in Prometheus text ``text``, by name (other metrics are ignored).

    Raises ValueError when ``text`` is not the Prometheus text format.
    """
    from prometheus_client.parser import text_string_to_metric_families

    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # Only samples this module could have written: a hand-edited line with other labels
            # would otherwise break every later write.
            if label_names(sample.name) == sorted(sample.labels) and _finite(sample.value) is not None:
                out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return out


def label_names(name: str) -> list[str] | None:
    """The label names of metric ``name`` (sorted), None for a name not of this module."""
    if name == LAST_OUTCOME:
        return [ENVIRONMENT_LABEL, "outcome"]
    if name in ENVIRONMENT_METRICS:
        return [ENVIRONMENT_LABEL]
    return [] if name in RUN_METRICS else None


def registry(samples: Mapping[str, Mapping[Labels, float]]) -> CollectorRegistry:
    """A new CollectorRegistry with one Gauge per metric name in ``samples`` set to its values.

    A name mapped to no sample still gets its HELP and TYPE lines (harmless in a textfile; the
    Pushgateway path leaves such names out, see push).
    """
    from prometheus_client import CollectorRegistry, Gauge

    reg = CollectorRegistry(auto_describe=True)
    docs = {**RUN_METRICS, **ENVIRONMENT_METRICS}
    for name, values in samples.items():
        labels = label_names(name) or []
        gauge = Gauge(name, docs[name], labelnames=labels, registry=reg)
        for key, value in sorted(values.items()):
            (gauge.labels(**dict(key)) if labels else gauge).set(value)
    return reg


def write_textfile(path: str | os.PathLike[str], samples: Samples) -> list[str]:
    """Write ``samples`` to ``path`` for node_exporter's textfile collector, carrying over from
    the file already there what they do not produce (see carry_over).

    Returns warnings (the previous file could not be read: nothing carried over). Raises OSError
    when the file cannot be written; ``path`` is then unchanged and no temporary file is left.
    """
    from prometheus_client import write_to_textfile

    warnings: list[str] = []
    previous: Samples = {}
    try:
        previous = parse_samples(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        reason = _reason(exc)
        warnings.append(f"previous {os.fspath(path)} unreadable, nothing carried over: {reason}")
    # Temporary file in the same folder, then rename(2) over path: atomic for the collector.
    write_to_textfile(os.fspath(path), registry(carry_over(samples, previous)))
    return warnings


def push(gateway: str, samples: Samples, *, instance: str, timeout: float = PUSH_TIMEOUT_SECONDS) -> None:
    """POST ``samples`` to the Pushgateway at ``gateway``, job JOB: each environment's under the
    grouping key {instance, environment}, then the run's under {instance}.

    POST (pushadd) and not PUT: see the module docstring. Raises OSError (urllib's URLError and
    HTTPError included) at the first push that fails; the rest are not tried.
    """
    from prometheus_client import pushadd_to_gateway

    by_env: dict[str, Samples] = {}
    run: Samples = {}
    for name, values in samples.items():
        for key, value in values.items():
            env = dict(key).get(ENVIRONMENT_LABEL)
            target = run if env is None else by_env.setdefault(env, {})
            target.setdefault(name, {})[key] = value
    groups = [({"instance": instance, ENVIRONMENT_LABEL: env}, s) for env, s in sorted(by_env.items())]
    groups.append(({"instance": instance}, run))
    for grouping_key, group in groups:
        if group:
            pushadd_to_gateway(
                gateway, job=JOB, registry=registry(group), grouping_key=grouping_key, timeout=timeout
            )


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
    return scrub(" ".join(text.split()))[:200]


@dataclass(frozen=True)
class Sinks:
    """Where a run's metrics go, from `sync-job run`'s options (checked before the run)."""

    metrics_file: str | None = None
    pushgateway: str | None = None
    instance: str = field(default_factory=socket.gethostname)

    @classmethod
    def from_options(
        cls, metrics_file: str | None, pushgateway: str | None, instance: str | None
    ) -> Sinks | None:
        """None when no metrics are asked for. Raises UsageError (exit 2) when prometheus_client
        is not installed, the file's folder does not exist, or an option is malformed."""
        if instance is not None and pushgateway is None:
            raise UsageError("--metrics-instance needs --pushgateway")
        if metrics_file is None and pushgateway is None:
            return None
        option = "--metrics-file" if metrics_file is not None else "--pushgateway"
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            raise UsageError(f"{option} needs prometheus_client: {EXTRA_HINT}") from None
        if metrics_file is not None:
            folder = Path(metrics_file).parent
            if not folder.is_dir():
                raise UsageError(f"--metrics-file: folder {os.fspath(folder)} does not exist")
        if pushgateway is not None:
            parts = urlsplit(pushgateway if "://" in pushgateway else f"http://{pushgateway}")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError("--pushgateway: expected http(s)://HOST[:PORT]")
            if parts.username or parts.password:
                # urllib would not send them; and a password must not be on a command line.
                raise UsageError("--pushgateway: credentials in the URL are not supported")
        if instance is not None and not instance.strip():
            raise UsageError("--metrics-instance must not be empty")
        if instance is None:
            return cls(metrics_file=metrics_file, pushgateway=pushgateway)
        return cls(metrics_file=metrics_file, pushgateway=pushgateway, instance=instance)

    def export(
        self, report: Report, *, started_at: float, duration_seconds: float
    ) -> tuple[list[str], list[str]]:
        """Write and/or push ``report``'s metrics. Returns (warnings, errors), one line each;
        never raises for an I/O failure. A dry run writes and pushes nothing (one warning)."""
        if report.dry_run:
            return ["metrics: dry run, nothing written or pushed"], []
        samples = run_samples(report, started_at=started_at, duration_seconds=duration_seconds)
        warnings: list[str] = []
        errors: list[str] = []
        if self.metrics_file is not None:
            try:
                warnings += [f"metrics: {w}" for w in write_textfile(self.metrics_file, samples)]
            except (OSError, ValueError) as exc:
                errors.append(f"metrics: could not write {self.metrics_file}: {_reason(exc)}")
        if self.pushgateway is not None:
            try:
                push(self.pushgateway, samples, instance=self.instance)
            except (OSError, ValueError) as exc:
                errors.append(f"metrics: could not push to {self.pushgateway}: {_reason(exc)}")
        return warnings, errors
