"""The project's exceptions. Each carries a one-line message fit for an operator; the CLI maps
them to exit codes in one place (``exit_code``)."""

from __future__ import annotations

import unicodedata
from typing import Self

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# 128 + the signal number, as shells report a command ended by a signal: the run stopped early,
# reported every environment, and started nothing new after the signal.
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def one_line(text: str) -> str:
    """``text`` as one printable line: whitespace runs become one space, and any other control,
    format or surrogate character is shown escaped (``\\x1b``), so a message can neither break
    a log line in two nor drive a terminal."""
    out = []
    for ch in " ".join(text.split()):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def bug(exc: BaseException) -> str:
    """An unexpected exception (a bug, not a ``SyncJobError``) named for a message: its type and
    the innermost line of the job's own code it passed through (``TypeError at
    sync_job/plan.py:120 (plan_run)``).

    Never its message nor a traceback: either can hold a value no scrubber knows yet (a secret
    document that failed to parse, a local quoted by ``repr``), and a traceback is many lines.
    The DEBUG log (through the scrubbing formatter) has the rest."""
    import traceback
    from pathlib import PurePath

    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        parts = PurePath(frame.filename).parts
        if "sync_job" in parts:
            inner = "/".join(parts[len(parts) - parts[::-1].index("sync_job") - 1 :])
            where = f" at {inner}:{frame.lineno} ({frame.name})"
            break
    return one_line(f"{type(exc).__name__}{where}")


def internal_error(exc: BaseException) -> str:
    """The one line an unexpected exception becomes at an entry point (the CLI, ``python -m
    sync_job``, the Lambda handler): ``internal error: TypeError at sync_job/plan.py:120
    (plan_run); this is a bug, ...`` (``bug``: never the exception's message)."""
    return (
        f"internal error: {bug(exc)}; this is a bug, nothing more was done: please report it "
        "with the output of a rerun at DEBUG (-v, or SYNC_JOB_LOG_LEVEL=DEBUG)"
    )


class SyncJobError(Exception):
    """Base class: ``str(error)`` is the one-line message shown to the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message breaks log parsers and `--json` consumers.
        self.message = one_line(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def reworded(self, message: str) -> Self:
        """A new error of the same class and facts (``transient``, ``status``...) saying
        ``message``: one that was raised is never edited, so whoever else holds it (a log
        record, a retry's state) keeps what it said."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.message = one_line(message)
        copy.args = (copy.message,)
        return copy


class ConfigError(SyncJobError):
    """The configuration file (or an option standing in for it) is wrong."""

    exit_code = EXIT_USAGE


class UsageError(SyncJobError):
    """The command line or Lambda event asks for something that cannot exist (an unknown --env)."""

    exit_code = EXIT_USAGE


class CredentialsError(SyncJobError):
    """The client-credentials secret is malformed (never echoes its value)."""


class StoreError(SyncJobError):
    """A Secrets Manager call failed."""


class WriteUnknownError(StoreError):
    """A write whose outcome is unknown: its answer was lost after it may have been applied.
    ``version_id`` is the ClientRequestToken sent, by which a read can tell."""

    def __init__(self, message: str, version_id: str) -> None:
        super().__init__(message)
        self.version_id = version_id


class SecretNotFoundError(StoreError):
    """ResourceNotFoundException: the secret does not exist (or has no version so labelled)."""


class SecretEmptyError(SecretNotFoundError):
    """The secret exists but has no AWSCURRENT version (created without a value)."""


class AccessDeniedError(StoreError):
    """The job's role may not make the call (AccessDeniedException), or no AWS credentials."""


class KmsError(StoreError):
    """KMS refused to decrypt or encrypt the secret (its key disabled, or no kms:Decrypt)."""


class SecretDeletedError(StoreError):
    """The secret is scheduled for deletion (DescribeSecret's DeletedDate); it can be restored."""


class ThrottledError(StoreError):
    """Secrets Manager still throttled the call after botocore's standard retries."""


class StageMovedError(StoreError):
    """UpdateSecretVersionStage refused the move: ``RemoveFromVersionId`` no longer holds the
    label (InvalidParameterException, AWS API reference "UpdateSecretVersionStage"), so another
    writer moved AWSCURRENT since it was read."""


class TokenRequestError(SyncJobError):
    """The token endpoint did not give a usable token.

    ``transient`` says whether trying again may help; ``retry_after`` (seconds) is the least the
    server asked us to wait, when it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.status = status


class OAuthError(TokenRequestError):
    """An RFC 6749 §5.2 error answer (invalid_client, invalid_scope, ...)."""

    def __init__(self, message: str, *, error: str, status: int | None = None) -> None:
        super().__init__(message, transient=False, status=status)
        self.error = error


class InvalidTokenResponse(TokenRequestError):
    """The server answered, but not with a valid RFC 6749 §5.1 token response."""


class RateLimitedError(TokenRequestError):
    """HTTP 429, or a host this run has stopped calling because of one."""


class ScopeError(SyncJobError):
    """The granted scope lacks some requested scope, so the token is not published."""


class DeadlineError(SyncJobError):
    """The run's time budget cannot fit the next step."""


class SigningError(TokenRequestError):
    """A call that makes the client's assertion failed: ``kms:Sign`` / ``kms:GetPublicKey``, or
    ``sts:GetWebIdentityToken``; ``transient`` when trying later may help (throttling, a timeout)."""
