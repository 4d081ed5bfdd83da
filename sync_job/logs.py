"""Structured logs: one JSON object per line on stderr, scrubbed of secrets at the last step.

Every record goes through :class:`JsonFormatter`, which scrubs the finished line, so even a
library's debug output (botocore prints whole request and response bodies at DEBUG) cannot
carry a token or a client secret out.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from sync_job.redact import scrub

_FIELDS = "sync_job_fields"
# Substrings that mark a library message as carrying a secret-bearing body: Secrets Manager
# values, token requests and answers, STS web-identity tokens (GetWebIdentityToken) and what
# KMS signs (a Sign request's Message is the client assertion's header and claims: cut
# from its X-Amz-Target on, which botocore logs before the body).
_SECRET_MARKERS = (
    "SecretString",
    "access_token",
    "client_secret",
    "client_assertion",
    "private_key",
    "WebIdentityToken",
    "TrentService.Sign",
)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log one structured event; ``fields`` become top-level JSON keys."""
    logger.log(level, event, extra={_FIELDS: fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event and the event's fields, scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line (``redact.scrub`` applied to the whole line)."""
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, _FIELDS, None)
        if fields is not None:
            doc["event"] = record.getMessage()
            doc.update({k: v for k, v in fields.items() if v is not None})
        else:
            message = record.getMessage()
            if not record.name.startswith("sync_job") and any(
                marker in message for marker in _SECRET_MARKERS
            ):
                # A library dumped a body that holds secret values: keep only its first words.
                cut = min(message.find(m) for m in _SECRET_MARKERS if m in message)
                message = message[:cut] + "[body elided: it carries secret values]"
            doc["message"] = message
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: a traceback's frames and locals could hold secret values.
            doc["exception"] = record.exc_info[0].__name__
        return scrub(json.dumps(doc, default=str))


def configure(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record, ours and our libraries', through the scrubbing JSON formatter."""
    if isinstance(level, str):
        level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        # Lambda's runtime installs its own handler; ours replaces it so nothing bypasses scrub.
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter below WARNING is useful only when asked for with DEBUG.
    library_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(name).setLevel(library_level)
