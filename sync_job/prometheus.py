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

import contextlib
import errno
import math
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from sync_job import inputs, waits
from sync_job.config import safe_url
from sync_job.errors import UsageError
from sync_job.redact import scrub, untrusted
from sync_job.report import EnvironmentResult, Outcome, Report
from sync_job.transport import CONNECT_TIMEOUT_SECONDS, HttpRequest, Transport, TransportError

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


# The previous file is read back for carry-over; one larger than this is not ours (bytes).
MAX_PREVIOUS_BYTES: Final = 4 << 20
# Mode of a new textfile: node_exporter usually runs as another user and must read it. An
# existing file keeps its own mode (the user's choice); the process umask never decides.
DEFAULT_FILE_MODE: Final = 0o644
# Pushes get at most this many seconds in all, and never less than PUSH_FLOOR_SECONDS.
PUSH_FLOOR_SECONDS: Final = 2.0
# Past the push deadline, the thread pushing is given up on (it is inside something no socket
# deadline bounds, such as a name lookup) after this much more (seconds).
PUSH_STRAGGLER_SECONDS: Final = 0.5
# The Pushgateway's answer to a push is a status line and a short text (bytes kept).
MAX_PUSH_ANSWER_BYTES: Final = 64 * 1024


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link (never followed)"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _shown(path: str | os.PathLike[str]) -> str:
    return untrusted(os.fspath(path), limit=300)


class NotRegularFileError(OSError):
    """Something other than a regular file is at the metrics file's path (never opened)."""


def check_metrics_path(path: str | os.PathLike[str]) -> os.stat_result | None:
    """The ``lstat`` of ``path`` when a regular file is there, None when nothing is. Raises
    OSError (ENOENT-free) naming what is there instead: a symbolic link (never followed: it could
    point at another application's file), a FIFO (opening one blocks), a directory, a device."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(f"{_shown(path)} is {_kind(st.st_mode)}; give the path of a regular file")
    return st


def _read_previous(path: str | os.PathLike[str]) -> tuple[str | None, os.stat_result | None]:
    """The previous file's text (None: none there) and its stat. Never follows a symbolic link
    (O_NOFOLLOW) nor waits on a FIFO (O_NONBLOCK, and the type checked on the open descriptor).
    Raises OSError for what is not a regular file, ValueError for one too large or not UTF-8."""
    if check_metrics_path(path) is None:
        return None, None
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symbolic link since the check
            raise NotRegularFileError(f"{_shown(path)} is a symbolic link (never followed)") from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(
                f"{_shown(path)} is {_kind(st.st_mode)}; give the path of a regular file"
            )
        data = f.read(MAX_PREVIOUS_BYTES + 1)
    if len(data) > MAX_PREVIOUS_BYTES:
        raise ValueError(f"larger than {MAX_PREVIOUS_BYTES} bytes")
    return data.decode("utf-8"), st


def _write_atomically(path: str | os.PathLike[str], data: bytes, mode: int) -> None:
    """``data`` into a new temporary file beside ``path`` (created exclusively, never through a
    symbolic link, chmod'ed to ``mode`` whatever the umask), then rename(2) over ``path``: atomic
    within a filesystem, and it replaces a directory entry without following it. The temporary
    file is removed on failure. (prometheus_client's write_to_textfile opens a predictable
    temporary name with the umask's mode; this is the same protocol without either.)"""
    target = os.fspath(path)
    tmp = f"{target}.{os.getpid()}.{secrets.token_hex(6)}.tmp"  # not *.prom: the collector skips it
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
        os.rename(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_textfile(path: str | os.PathLike[str], samples: Samples) -> list[str]:
    """Write ``samples`` to ``path`` for node_exporter's textfile collector, carrying over from
    the file already there what they do not produce (see carry_over).

    ``path`` must be a regular file or nothing: a symbolic link, a FIFO, a directory or a device
    there raises OSError (nothing written, nothing opened that could block). A previous file that
    cannot be read back (not the Prometheus text format, not UTF-8, too large) is replaced, with
    a warning that never quotes it (it may be another application's file). The file keeps its
    mode; a new one gets ``DEFAULT_FILE_MODE`` (0644). Returns the warnings. Raises OSError when
    the file cannot be written; ``path`` is then unchanged and no temporary file is left.
    """
    from prometheus_client import generate_latest

    warnings: list[str] = []
    previous: Samples = {}
    there = check_metrics_path(path)  # raises NotRegularFileError before anything is opened
    mode = DEFAULT_FILE_MODE if there is None else stat.S_IMODE(there.st_mode)
    try:
        text, st = _read_previous(path)
    except NotRegularFileError:
        raise
    except OSError as exc:  # e.g. EACCES: not read back, but the rename may still replace it
        text, st = None, None
        warnings.append(
            f"previous {_shown(path)} unreadable ({exc.strerror or 'error'}), replaced; nothing carried over"
        )
    except ValueError as exc:  # UnicodeDecodeError is a ValueError; its text quotes no content
        text, st = None, None
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
        warnings.append(f"previous {_shown(path)} unreadable ({reason}), replaced; nothing carried over")
    if st is not None:  # the file read (the same one, or one that replaced it since the lstat)
        mode = stat.S_IMODE(st.st_mode)
    if text is not None:
        try:
            previous = parse_samples(text)
        except Exception:
            # Never the parser's message: it quotes the offending line, which may be a secret.
            warnings.append(
                f"previous {_shown(path)} is not in the Prometheus text format, "
                "replaced; nothing carried over"
            )
    _write_atomically(path, generate_latest(registry(carry_over(samples, previous))), mode)
    return warnings


class PushError(OSError):
    """A push to the Pushgateway failed; the message is one clean line (no server text raw)."""


def _push_handler(transport: Transport, seconds: float) -> Callable[..., Callable[[], None]]:
    """A prometheus_client push handler that sends through ``transport``, bounded as a whole by
    ``seconds`` (prometheus_client's own handler uses urllib, whose timeout applies to each
    read) and cut at once by SIGTERM/SIGINT."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        del timeout  # prometheus_client's per-read timeout; the shared deadline bounds the push

        def handle() -> None:
            request = HttpRequest(
                method=method,
                url=url,
                headers=dict(headers),
                body=data,
                timeout=seconds,
                max_body=MAX_PUSH_ANSWER_BYTES,
                interrupt_grace=0.0,
            )
            answer = transport.send(request)
            if not 200 <= answer.status < 300:
                # A Pushgateway answers 200/202; anything else (a redirect is not followed) is
                # a failure, its text untrusted (escape codes and secrets removed, capped).
                text = untrusted(answer.body.decode("utf-8", "replace"), limit=160)
                raise PushError(f"HTTP {answer.status}" + (f": {text}" if text else ""))

        return handle

    return handler


def _transport_reason(exc: TransportError, timeout: float) -> str:
    if exc.fault == "timeout":
        return f"no answer within the push deadline of {round(timeout, 1):g} s"
    if exc.fault == "interrupted":
        return f"interrupted by {exc.detail}"
    if exc.fault == "too_large":
        return f"answer larger than {MAX_PUSH_ANSWER_BYTES} bytes"
    if exc.fault == "tls":
        return "TLS error; check its certificate and the CA bundle"
    if exc.fault == "connect_timeout":
        return f"timed out connecting after {min(timeout, CONNECT_TIMEOUT_SECONDS):g} s"
    if exc.fault == "broken":
        return "connection broke during the answer"
    return exc.detail or exc.fault


def push(
    gateway: str,
    samples: Samples,
    *,
    instance: str,
    timeout: float = PUSH_TIMEOUT_SECONDS,
    transport: Transport | None = None,
) -> None:
    """POST ``samples`` to the Pushgateway at ``gateway``, job JOB: each environment's under the
    grouping key {instance, environment}, then the run's under {instance}.

    All pushes share ONE deadline, ``timeout`` seconds from now (real time), whatever the
    gateway does (a slow or trickling gateway costs at most ``timeout`` in all, not one timeout
    per group), through the one bounded transport (``transport.py``; SIGTERM/SIGINT ends a push
    at once). POST (pushadd) and not PUT: see the module docstring. Raises PushError (an
    OSError; the message says how many groups were pushed) at the first push that fails; the
    rest are not tried.
    """
    deadline = time.monotonic() + timeout
    by_env: dict[str, Samples] = {}
    run: Samples = {}
    for name, values in samples.items():
        for key, value in values.items():
            env = dict(key).get(ENVIRONMENT_LABEL)
            target = run if env is None else by_env.setdefault(env, {})
            target.setdefault(name, {})[key] = value
    groups = [({"instance": instance, ENVIRONMENT_LABEL: env}, s) for env, s in sorted(by_env.items())]
    groups.append(({"instance": instance}, run))
    groups = [(key, group) for key, group in groups if group]
    if not groups:
        return
    if transport is None:
        from sync_job.transport import RequestsTransport, build_session

        transport = RequestsTransport(build_session(1))
    pushed = [0]
    try:
        # On a thread of its own: what no socket deadline bounds (a gateway name that never
        # resolves) cannot hold the command, and SIGTERM is seen at once.
        waits.bounded(
            lambda: _push_groups(gateway, groups, deadline, timeout, transport, pushed),
            timeout + PUSH_STRAGGLER_SECONDS,
            name="sync-job-push",
        )
    except waits.Unfinished as exc:
        why = (
            f"no answer within the push deadline of {round(timeout, 1):g} s"
            if exc.reason == "deadline"
            else f"interrupted by {exc.reason}"
        )
        raise PushError(f"{why} ({pushed[0]} of {len(groups)} groups pushed)") from None


def _push_groups(
    gateway: str,
    groups: list[tuple[dict[str, str], Samples]],
    deadline: float,
    timeout: float,
    transport: Transport,
    pushed: list[int],
) -> None:
    """Each group in turn, each push bounded by what is left until ``deadline``; ``pushed[0]``
    counts the groups the gateway accepted."""
    from prometheus_client import pushadd_to_gateway

    for grouping_key, group in groups:
        left = deadline - time.monotonic()
        of = f"{pushed[0]} of {len(groups)} groups pushed"
        try:
            if left <= 0:
                raise TransportError("timeout")
            pushadd_to_gateway(
                gateway,
                job=JOB,
                registry=registry(group),
                grouping_key=grouping_key,
                timeout=left,
                handler=_push_handler(transport, left),
            )
        except TransportError as exc:
            raise PushError(f"{_transport_reason(exc, timeout)} ({of})") from None
        except PushError as exc:
            raise PushError(f"{exc} ({of})") from None
        pushed[0] += 1


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
    return scrub(" ".join(text.split()))[:200]


def push_seconds(budget_left: float | None) -> float:
    """The one deadline all of a run's pushes share (seconds): ``PUSH_TIMEOUT_SECONDS``, no
    later than the end of the run's budget (``budget_left``), never below ``PUSH_FLOOR_SECONDS``."""
    if budget_left is None:
        return PUSH_TIMEOUT_SECONDS
    return max(PUSH_FLOOR_SECONDS, min(PUSH_TIMEOUT_SECONDS, budget_left))


def _check_metrics_option(metrics_file: str) -> None:
    wrong = inputs.path_problem(metrics_file)
    if wrong is not None:
        # Before any file call: a NUL would raise ValueError there, a newline would reach the
        # warning lines and the textfile collector's logs.
        raise UsageError(f"--metrics-file {wrong}; give the path of the .prom file")
    folder = Path(metrics_file).parent
    if not folder.is_dir():
        raise UsageError(f"--metrics-file: folder {_shown(folder)} does not exist")
    try:
        check_metrics_path(metrics_file)
    except OSError as exc:
        raise UsageError(f"--metrics-file: {exc.strerror or exc}") from None


_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def _pushgateway_text(value: str, option: str) -> str:
    """The checks before the URL is parsed (or could be echoed): not empty, bounded, no
    user:password@, no blank or control character. Returns the URL with its scheme."""
    if not value.strip():
        raise UsageError(f"{option} must not be empty; give http(s)://HOST[:PORT]")
    if len(value) > inputs.MAX_TEXT_CHARS:
        raise UsageError(
            f"{option} is {len(value)} characters long; give http(s)://HOST[:PORT] "
            f"(at most {inputs.MAX_TEXT_CHARS} characters)"
        )
    url = value if "://" in value else f"http://{value}"
    authority = _AUTHORITY.match(url)
    if "@" in (authority.group(1) if authority else url.partition("/")[0]):
        # Checked before anything could echo the URL: the userinfo may be a password.
        raise UsageError(f"{option}: credentials in the URL are not supported")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise UsageError(f"{option} must not contain spaces or control characters")
    return url


def check_pushgateway_url(value: str) -> str:
    """``--pushgateway`` checked like ``token_url`` (config.py): http(s)://HOST[:PORT][/path]
    (a bare HOST:PORT means http://), no user:password@ (never echoed), no query or fragment,
    no blanks or control characters, a valid port. Returns the URL; raises UsageError (exit 2)."""
    option = "--pushgateway"
    url = _pushgateway_text(value, option)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(
            f"{option}: expected http(s)://HOST[:PORT], got {inputs.shown(safe_url(url), 120)}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option}: expected http(s)://HOST[:PORT]")
    if parts.username or parts.password:
        raise UsageError(f"{option}: credentials in the URL are not supported")
    if parts.query or parts.fragment:
        raise UsageError(f"{option} must not have a ?query or #fragment")
    return value


def check_instance(value: str | None) -> str:
    """The Pushgateway grouping key ``instance``: ``--metrics-instance``, else the hostname.

    It becomes a label value and a segment of the push URL's path (prometheus_client encodes a
    ``/`` in it as base64, Pushgateway README "URL"), and is shown in log lines: one printable
    token (``inputs.problem``: no control, separator or invisible character, no byte that is
    not UTF-8, no blank) of at most ``inputs.MAX_NAME_CHARS`` characters. Raises UsageError
    (exit 2) naming what is wrong and what to give instead."""
    if value is None:
        host = socket.gethostname()
        wrong = inputs.problem(host)
        if wrong is not None:
            raise UsageError(
                f"the hostname {inputs.shown(host)} cannot be the Pushgateway instance: it {wrong}; "
                "pass --metrics-instance NAME"
            )
        return host
    wrong = inputs.problem(value)
    if wrong is not None:
        raise UsageError(
            f"--metrics-instance {wrong}; give one printable name without spaces "
            f"(at most {inputs.MAX_NAME_CHARS} characters), e.g. the host's name"
        )
    return value


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
        if metrics_file is not None and not metrics_file.strip():
            raise UsageError("--metrics-file must not be empty; give the path of the .prom file")
        option = "--metrics-file" if metrics_file is not None else "--pushgateway"
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            raise UsageError(f"{option} needs prometheus_client: {EXTRA_HINT}") from None
        if metrics_file is not None:
            _check_metrics_option(metrics_file)
        if pushgateway is not None:
            pushgateway = check_pushgateway_url(pushgateway)
        if pushgateway is None:
            return cls(metrics_file=metrics_file)
        return cls(metrics_file=metrics_file, pushgateway=pushgateway, instance=check_instance(instance))

    def export(
        self,
        report: Report,
        *,
        started_at: float,
        duration_seconds: float,
        budget_left: float | None = None,
    ) -> tuple[list[str], list[str]]:
        """Write and/or push ``report``'s metrics. Returns (warnings, errors), one line each;
        never raises for an I/O failure. A dry run writes and pushes nothing (one warning).

        The pushes share one deadline: ``PUSH_TIMEOUT_SECONDS``, cut to ``budget_left`` (what is
        left of the run's budget, seconds) but never below ``PUSH_FLOOR_SECONDS``."""
        if report.dry_run:
            return ["metrics: dry run, nothing written or pushed"], []
        samples = run_samples(report, started_at=started_at, duration_seconds=duration_seconds)
        warnings: list[str] = []
        errors: list[str] = []
        if self.metrics_file is not None:
            try:
                warnings += [f"metrics: {w}" for w in write_textfile(self.metrics_file, samples)]
            except (OSError, ValueError) as exc:
                errors.append(f"metrics: could not write {_shown(self.metrics_file)}: {_reason(exc)}")
        if self.pushgateway is not None:
            try:
                push(self.pushgateway, samples, instance=self.instance, timeout=push_seconds(budget_left))
            except (OSError, ValueError) as exc:
                errors.append(f"metrics: could not push to {safe_url(self.pushgateway)}: {_reason(exc)}")
        return warnings, errors
