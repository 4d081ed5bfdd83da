"""AWS Lambda entry point: the same sync as `sync-job run`, configured from the environment.

Event (all optional): {"environments": ["sandbox"], "force": true}; any other key is an error.
Returns the `run --json` document; raises after every environment was attempted if any failed,
so the invocation counts as an error and the alarms and the scheduler's retry policy fire.
Two other events are answered apart: Secrets Manager's rotation event {"Step", "SecretId",
"ClientRequestToken"} for a token secret (sync_job/secret_rotation.py), and
{"promote_credentials": "NAME"} (sync_job/staged_credentials.py).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Final

# Imported at module level on purpose (boto3 included, via the store): Lambda runs the init
# phase on a full CPU, once per container. requests and tenacity are loaded only when a token is
# actually due (factory.LazyTokenClient), which most runs never need.
from sync_job import inputs, logs, redact, secret_rotation
from sync_job.config import load_config
from sync_job.errors import SyncJobError, UsageError, internal_error, one_line
from sync_job.factory import build_job
from sync_job.metrics import NAMESPACE_ENV, check_namespace, emit_metrics
from sync_job.redact import untrusted
from sync_job.sync import Job

# Leave this much of the invocation for metrics, logs and returning the result.
SAFETY_MARGIN_SECONDS = 10.0
LOG_LEVEL_ENV: Final = "SYNC_JOB_LOG_LEVEL"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_job_cache: dict[str, Job] = {}


class SyncFailedError(Exception):
    """Raised so Lambda records the invocation as failed; the message names the environments.
    The only exception the handler raises, its message one line (``errors.one_line``)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


# The keys the event takes (README "AWS Lambda"); anything else is refused, not ignored: a
# misspelt "environment" or "Force" must not become a run of every environment, unforced.
EVENT_KEYS: Final = ("environments", "force")
_TAKES: Final = (
    'it takes "environments" (a list of environment names) and "force" (true or false); '
    'or {"promote_credentials": NAME}, or a Secrets Manager rotation event'
)
# An EventBridge rule (not Scheduler, which sends the schedule's input as is) wraps its input in
# this envelope; the options are then its "detail" (EventBridge event structure, AWS docs
# "Amazon EventBridge events").
_ENVELOPE: Final = frozenset(
    {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
)


def _parse_event(event: Any) -> tuple[list[str] | None, bool]:
    """(environment names or None for all, force) from the invocation's event: None, ``{}``, or
    ``{"environments": [...], "force": bool}`` (or an EventBridge envelope whose ``detail`` is
    one). Raises UsageError, one line naming the keys it takes, for anything else."""
    if event is None:
        return None, False
    if not isinstance(event, dict):
        raise UsageError(f"the Lambda event must be a JSON object; {_TAKES}")
    if "detail-type" in event and "source" in event and set(event) <= _ENVELOPE:
        return _parse_event(event.get("detail") or {})
    _refuse_unknown_keys(event)
    return _environments(event.get("environments")), _force(event.get("force", False))


def _refuse_unknown_keys(event: dict[Any, Any]) -> None:
    unknown = [k for k in event if k not in EVENT_KEYS]
    if unknown:
        shown = ", ".join(untrusted(json.dumps(str(k)), limit=60) for k in unknown[:5])
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise UsageError(f"the Lambda event has unknown key(s) {shown}{more}; {_TAKES}")


def _environments(names: Any) -> list[str] | None:
    if names is None:
        return None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise UsageError(
            'event "environments" must be a non-empty list of environment names '
            "(leave it out to sync every environment)"
        )
    return names


def _force(force: Any) -> bool:
    if not isinstance(force, bool):
        raise UsageError('event "force" must be true or false')
    return force


def _job(budget_seconds: float | None) -> Job:
    # Reused across warm invocations: the boto3 client and HTTP connections are the costly part.
    if "job" not in _job_cache:
        _job_cache["job"] = build_job(load_config(), budget_seconds=budget_seconds)
    return _job_cache["job"]


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (module docstring): the ``run --json`` document; raises
    ``SyncFailedError`` (and nothing else) when any environment failed, the event or the
    function's environment variables are invalid, or anything else went wrong. The values
    registered for scrubbing during the invocation are released at its end (``redact.scope``),
    so a warm container's memory and cost stay flat."""
    level = os.environ.get(LOG_LEVEL_ENV, "INFO")
    logs.configure(level if level.upper() in LOG_LEVELS else "INFO")
    with redact.scope():
        try:
            return _invoke(event, context)
        except SyncFailedError:
            raise
        except Exception as exc:
            # Never another exception: the runtime would write its traceback, and the messages of
            # its whole chain, to CloudWatch outside our scrubbing formatter, and the invocation's
            # result would not be the documented one. The type says enough to file a bug; a
            # DEBUG log (through the scrubbing formatter) has the rest.
            logging.getLogger("sync_job.lambda_handler").debug("internal error", exc_info=True)
            raise SyncFailedError(internal_error(exc)) from None


def _check_environment_variables() -> None:
    """The function's own settings (infra/lambda.tf sets them): one line each, before the run."""
    level = os.environ.get(LOG_LEVEL_ENV, "INFO")
    if level.upper() not in LOG_LEVELS:
        raise UsageError(
            f"${LOG_LEVEL_ENV} is {inputs.shown(level, 40)}; set it to one of {', '.join(LOG_LEVELS)}"
        )
    namespace = os.environ.get(NAMESPACE_ENV)
    if namespace:
        check_namespace(namespace, f"${NAMESPACE_ENV}")


def _invoke(event: Any, context: Any) -> dict[str, Any]:
    try:
        _check_environment_variables()
        budget = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            budget = max(1.0, context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS)
        if secret_rotation.is_rotation_event(event):
            # Secrets Manager's rotation protocol: `rotate-secret` on a token secret is "refresh now".
            job = _job(budget)
            limit = (
                job.config.run_timeout_seconds
                if budget is None
                else min(budget, job.config.run_timeout_seconds)
            )
            return secret_rotation.handle(job, event, budget_seconds=limit).to_dict()
        if isinstance(event, dict) and "promote_credentials" in event:
            # Staged credentials tested from the function's own egress (sync_job/staged_credentials.py).
            # Another key is refused, not ignored: a "force" or "environments" meant for this
            # event would silently not be acted on.
            others = [k for k in event if k != "promote_credentials"]
            if others:
                shown = ", ".join(untrusted(json.dumps(str(k)), limit=60) for k in others[:5])
                raise UsageError(
                    f'the "promote_credentials" event takes no other key (got {shown}); {_TAKES}'
                )
            return _promote(_job(budget), event["promote_credentials"], budget)
        names, force = _parse_event(event)
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


def _promote(job: Job, name: object, budget: float | None) -> dict[str, Any]:
    from sync_job import staged_credentials

    if not isinstance(name, str):
        raise UsageError('event "promote_credentials" must be an environment name')
    result = staged_credentials.promote(job, name, budget_seconds=budget)
    if result.error:
        raise SyncFailedError(f"{name}: {result.error}")
    return result.to_dict()
