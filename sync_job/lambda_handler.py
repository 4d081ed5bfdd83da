"""AWS Lambda entry point: the same sync as `sync-job run`, configured from the environment.

Event (all optional): {"environments": ["sandbox"], "force": true}. Returns the `run --json`
document; raises after every environment was attempted if any failed, so the invocation counts
as an error and the alarms and the scheduler's retry policy fire.
"""

from __future__ import annotations

import os
from typing import Any

# Imported at module level on purpose (boto3 included, via the store): Lambda runs the init
# phase on a full CPU, once per container. requests and tenacity are loaded only when a token is
# actually due (factory.LazyTokenClient), which most runs never need.
from sync_job import logs
from sync_job.config import load_config
from sync_job.errors import SyncJobError, UsageError
from sync_job.factory import build_job
from sync_job.metrics import emit_metrics
from sync_job.sync import Job

# Leave this much of the invocation for metrics, logs and returning the result.
SAFETY_MARGIN_SECONDS = 10.0
_job_cache: dict[str, Job] = {}


class SyncFailedError(Exception):
    """Raised so Lambda records the invocation as failed; the message names the environments."""


def _parse_event(event: Any) -> tuple[list[str] | None, bool]:
    if event is None:
        return None, False
    if not isinstance(event, dict):
        raise UsageError("the Lambda event must be a JSON object")
    names = event.get("environments")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise UsageError('event "environments" must be a list of environment names')
    force = event.get("force", False)
    if not isinstance(force, bool):
        raise UsageError('event "force" must be true or false')
    return names or None, force


def _job(budget_seconds: float | None) -> Job:
    # Reused across warm invocations: the boto3 client and HTTP connections are the costly part.
    if "job" not in _job_cache:
        _job_cache["job"] = build_job(load_config(), budget_seconds=budget_seconds)
    return _job_cache["job"]


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (module docstring): the ``run --json`` document; raises
    ``SyncFailedError`` when any environment failed or the event is invalid."""
    logs.configure(os.environ.get("SYNC_JOB_LOG_LEVEL", "INFO"))
    try:
        names, force = _parse_event(event)
        budget = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            budget = max(1.0, context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS)
        job = _job(budget)
        if budget is not None:
            budget = min(budget, job.config.run_timeout_seconds)
        report = job.run(names, force=force, budget_seconds=budget)
    except SyncJobError as exc:
        # Without the traceback chain: the message is the whole story and holds no secret.
        raise SyncFailedError(exc.message) from None
    emit_metrics(report)
    document: dict[str, Any] = report.to_dict()
    if not report.ok:
        failed = "; ".join(f"{r.environment}: {r.error}" for r in report.failed)
        raise SyncFailedError(f"{len(report.failed)} environment(s) failed: {failed}")
    return document
