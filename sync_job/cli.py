"""The `sync-job` command: parses arguments, calls the library, prints. Errors become exit codes
here and nowhere else."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from sync_job import __version__
from sync_job.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    SyncJobError,
    UsageError,
    internal_error,
    one_line,
)
from sync_job.redact import scope as redact_scope

if TYPE_CHECKING:
    from sync_job import rotation
    from sync_job.executor import Interrupt
    from sync_job.prometheus import Sinks
    from sync_job.report import EnvironmentResult, Report
    from sync_job.sync import Job

F = TypeVar("F", bound=Callable[..., Any])
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # The values a command registers for scrubbing are released when it ends (redact.scope),
        # after its error line: that line is scrubbed of them too.
        with redact_scope(), _default_signal_handlers():
            try:
                return super().invoke(ctx)
            except _Signalled as exc:
                # A command without handlers of its own (status, token, jwks, certificate, or
                # any command before it installs them): it writes nothing before then.
                _fail(f"interrupted by {exc.name}; nothing was written", exc.code)
            except SyncJobError as exc:
                _fail(exc.message, exc.exit_code)
            except click.ClickException as exc:
                # A subcommand's arguments (parsed inside this invoke) or a click.UsageError.
                _fail(_usage_line(exc), exc.exit_code)
            except (click.exceptions.Exit, click.Abort):
                raise
            except KeyboardInterrupt:
                _fail("interrupted", EXIT_SIGINT)
            except Exception as exc:
                # Never a traceback: its frames could hold secret values. The type says enough to
                # file a bug; -v logs show the rest, scrubbed.
                logging.getLogger("sync_job.cli").debug("internal error", exc_info=True)
                _fail(internal_error(exc), EXIT_FAILED)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # The group's own options (--config, --log-level, ...) are parsed here, before invoke.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            _fail(_usage_line(exc), exc.exit_code)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # The console script, `python -m sync_job` and click's runner enter here: what raises
        # while the arguments are parsed, before ``invoke`` (a parameter type's own check), is one
        # line too. SystemExit (the exit codes) is a BaseException and passes.
        try:
            return super().main(*args, **kwargs)
        except Exception as exc:
            _fail(internal_error(exc), EXIT_FAILED)


class _Signalled(BaseException):
    """SIGTERM/SIGINT outside a command's own handlers (``_interruptible``): ends the command
    with one line and exit 143 / 130. A BaseException, so no ``except Exception`` swallows it."""

    def __init__(self, name: str, code: int) -> None:
        super().__init__(name)
        self.name = name
        self.code = code


@contextlib.contextmanager
def _default_signal_handlers() -> Iterator[None]:
    """Every command ends on SIGTERM/SIGINT with one line and the documented exit code, never
    Python's default (a silent death by SIGTERM, a KeyboardInterrupt). Commands with work to
    stop cleanly (run, check, revoke, credentials put/promote) install ``_interruptible``
    over these for that work; the read-only ones hold nothing to report and stop at once."""

    def on_signal(signum: int, frame: Any) -> None:
        name, code = _SIGNALS[signal.Signals(signum)]
        raise _Signalled(name, code)

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread (tests in threads)
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _usage_line(exc: click.ClickException) -> str:
    """click's own error (an unknown option, a missing argument, a value of the wrong type) as
    the one line every error is (README: errors are one line, never click's usage block), with
    where the options are listed; what it quotes of the command line escaped (``one_line``)."""
    ctx = getattr(exc, "ctx", None)
    where = f"; see `{ctx.command_path} --help`" if isinstance(ctx, click.Context) else ""
    return one_line(exc.format_message().rstrip(".") + where)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"sync-job: error: {message}", err=True)
    sys.exit(code)


@click.group(name="sync-job", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    # A plain string, not click.Path: click's path check raises ValueError (a traceback, before
    # any command runs) on a NUL; config.load_config checks it (inputs.path_problem).
    default=None,
    metavar="PATH",
    help="TOML config file (default: $SYNC_JOB_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level (same as --log-level DEBUG).")
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default=None,
    help="Level of the JSON log lines on stderr (default INFO).",
)
@click.version_option(__version__, prog_name="sync-job")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool, log_level: str | None) -> None:
    """Keep OAuth2 client-credentials tokens fresh in AWS Secrets Manager.

    Exit codes: 0 success, 1 some environment failed or is not valid, 2 usage or config error,
    130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM (every environment is still reported).
    """
    from sync_job import logs

    if verbose and log_level and log_level.upper() != "DEBUG":
        raise click.UsageError("use either -v or --log-level, not both")
    logs.configure("DEBUG" if verbose else (log_level or "INFO"))
    ctx.obj = config_path


def _job(ctx: click.Context) -> Job:
    from sync_job.config import load_config
    from sync_job.factory import build_job

    return build_job(load_config(ctx.obj))


_SIGNALS = {signal.SIGINT: ("SIGINT", EXIT_SIGINT), signal.SIGTERM: ("SIGTERM", EXIT_SIGTERM)}


@contextlib.contextmanager
def _interruptible(job: Job) -> Iterator[Interrupt]:
    """While a run is in progress, SIGINT and SIGTERM (cron, CI runners and Kubernetes send it)
    stop it early: nothing new starts and every environment is reported. A second signal ends
    the process at once."""
    from sync_job import waits
    from sync_job.executor import Interrupt

    interrupt = Interrupt()

    def on_signal(signum: int, frame: Any) -> None:
        name, code = _SIGNALS[signal.Signals(signum)]
        if interrupt:
            _fail(f"{name} again: stopped without waiting for environments in flight", code)
        interrupt.set(name, job.clock.monotonic())

    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    try:
        # Every wait of the process (pacing, retry sleeps, a request in flight, a push) wakes
        # for it: sync_job.waits.
        with waits.interruptible(interrupt):
            yield interrupt
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _progress(
    job: Job, envs: Sequence[str], *, enabled: bool
) -> Iterator[Callable[[EnvironmentResult], None] | None]:
    """A progress bar on stderr (done / total, refreshed, failed, deferred, time left in the
    budget) while a run goes on, with tqdm; only when stderr is a terminal and output is not
    JSON, so logs, pipes, CI and Lambda never see it."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    total = len(job.config.select(envs))
    deadline = job.clock.monotonic() + job.config.run_timeout_seconds
    counts: dict[str, int] = {}
    lock = threading.Lock()
    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        width = 0
    # A terminal that reports no size (a fresh pty) would get an empty bar: assume 100 columns.
    width = width or 100
    with tqdm(total=total, file=sys.stderr, unit="env", leave=False, ncols=width) as bar:

        def on_result(result: EnvironmentResult) -> None:
            with lock:
                counts[str(result.outcome)] = counts.get(str(result.outcome), 0) + 1
                left = max(0, int(deadline - job.clock.monotonic()))
                bar.set_postfix_str(
                    f"refreshed {counts.get('refreshed', 0)}, failed {counts.get('failed', 0)}, "
                    f"deferred {counts.get('deferred', 0)}, {left} s left",
                    refresh=False,
                )
                bar.update(1)

        yield on_result
        # tqdm draws at most every 0.1 s: a run that ends sooner still shows its final counts once.
        bar.refresh()


def _exit_code(ok: bool, interrupted: str | None) -> int:
    for name, code in _SIGNALS.values():
        if interrupted == name:
            return code
    return EXIT_OK if ok else EXIT_FAILED


def _env_option(f: F) -> F:
    return click.option(
        "--env",
        "envs",
        multiple=True,
        metavar="NAME",
        help="Only this environment (repeatable; default: all).",
    )(f)


def _json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")(f)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{h}h{m:02d}m" if h else f"{sign}{m}m{sec:02d}s"


@main.command()
@_env_option
@click.option("--force", is_flag=True, help="Refresh even tokens that are still fresh.")
@click.option("--dry-run", is_flag=True, help="Fetch and write nothing; report what would happen.")
@_json_option
@click.option(
    "--metrics-file",
    # A plain string, as --config: prometheus.Sinks.from_options checks it (a directory included).
    default=None,
    metavar="PATH",
    help="Write Prometheus metrics to PATH for node_exporter's textfile collector.",
)
@click.option("--pushgateway", default=None, metavar="URL", help="Push Prometheus metrics to a Pushgateway.")
@click.option(
    "--metrics-instance",
    default=None,
    metavar="NAME",
    help="Pushgateway grouping key `instance` (default: the hostname).",
)
@click.pass_context
def run(
    ctx: click.Context,
    envs: tuple[str, ...],
    force: bool,
    dry_run: bool,
    as_json: bool,
    metrics_file: str | None,
    pushgateway: str | None,
    metrics_instance: str | None,
) -> None:
    """Sync all (or the named) environments: refresh tokens that are missing or expiring.

    With --metrics-file or --pushgateway (needs `pip install 'sync-job[prometheus]'`), the run's
    metrics go there too; if they cannot be written or pushed, the run's result is still printed
    and the exit code is 1.

    \b
    Example:
      sync-job --config examples/paxos.toml run --env sandbox --json
    """
    sinks = _metrics_sinks(metrics_file, pushgateway, metrics_instance)
    started_at, started = time.time(), time.monotonic()
    job = _job(ctx)
    # The handlers stay until the report is out: a signal while it prints must not lose it.
    with _interruptible(job) as interrupt:
        with _progress(job, envs, enabled=not as_json) as on_result:
            report = job.run(envs, force=force, dry_run=dry_run, interrupt=interrupt, on_result=on_result)
        duration = time.monotonic() - started
        _render_run(report, as_json)
        metrics_ok = True
        if sinks is not None:
            warnings, errors = sinks.export(
                report,
                started_at=started_at,
                duration_seconds=duration,
                budget_left=job.config.run_timeout_seconds - duration,
            )
            for line in warnings:
                click.echo(f"sync-job: warning: {line}", err=True)
            for line in errors:
                click.echo(f"sync-job: error: {line}", err=True)
            metrics_ok = not errors
    # A signal after the run (during the push) ends the command as one during it would.
    sys.exit(_exit_code(report.ok and metrics_ok, report.interrupted or interrupt.reason))


def _render_run(report: Report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        for r in report.results:
            if r.warning:
                click.echo(f"sync-job: warning: {r.environment}: {r.warning}", err=True)
    else:
        rows = [["ENVIRONMENT", "OUTCOME", "EXPIRES AT", "REMAINING", "DETAIL"]]
        for r in report.results:
            d = r.to_dict()
            rows.append(
                [
                    r.environment,
                    str(r.outcome),
                    d["expires_at"] or "-",
                    _duration(r.seconds_remaining),
                    r.error or r.warning or "",
                ]
            )
        click.echo(_table(rows))
    for r in report.failed:
        click.echo(f"sync-job: error: {r.environment}: {r.error}", err=True)
    if report.interrupted:
        click.echo(f"sync-job: error: interrupted by {report.interrupted}; nothing new was started", err=True)


def _metrics_sinks(metrics_file: str | None, pushgateway: str | None, instance: str | None) -> Sinks | None:
    """sync_job.prometheus.Sinks for `run`'s metrics options, or None; imported only when asked
    for, so a run without them never imports prometheus_client."""
    if metrics_file is None and pushgateway is None and instance is None:
        return None
    from sync_job.prometheus import Sinks

    return Sinks.from_options(metrics_file, pushgateway, instance)


@main.command()
@_env_option
@_json_option
@click.pass_context
def status(ctx: click.Context, envs: tuple[str, ...], as_json: bool) -> None:
    """Show the stored tokens' state without changing anything.

    States: valid, expiring (inside the refresh margin), reconfigured (usable, but obtained
    with another configuration: scopes, audience, token URL...; the next run replaces it),
    expired (expired, or 60 s or fewer left: the one validity rule every consumer applies,
    sync_job/bearer.py), missing; also invalid (the stored value cannot be used) and error (it
    cannot be read). Exit 1 unless all are valid, expiring or reconfigured.

    \b
    Example:
      sync-job status --json
    """
    report = _job(ctx).status(envs)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        rows = [["ENVIRONMENT", "STATE", "EXPIRES AT", "REMAINING", "DETAIL"]]
        for e in report.entries:
            d = e.to_dict()
            rows.append(
                [
                    e.environment,
                    str(e.state),
                    d["expires_at"] or "-",
                    _duration(e.seconds_remaining),
                    e.error or e.warning or "",
                ]
            )
        click.echo(_table(rows))
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


@main.command()
@click.argument("name")
@click.pass_context
def token(ctx: click.Context, name: str) -> None:
    """Print the stored access token of environment NAME alone on stdout.

    Exit 1 and print nothing on stdout when it is missing, invalid, expired or has 60 s or
    fewer left (the one validity rule every consumer applies, sync_job/bearer.py).

    Example: curl runs only if a usable token was printed, and reads the header from stdin,
    so the token is never on a command line (docs/consumers.md):

    \b
      token=$(sync-job token sandbox) &&
        curl -fsS -H @- https://api.sandbox.paxos.com/v2/profiles <<<"Authorization: Bearer $token"
    """
    found = _job(ctx).token(name)
    if found.payload is None or not found.state.ok:
        _fail(
            f"{name}: no valid token stored (state: {found.state}); run `sync-job run --env {name}`",
            EXIT_FAILED,
        )
    if found.state == "expiring":
        click.echo(f"sync-job: warning: {name}: token is inside its refresh margin", err=True)
    click.echo(found.payload.access_token.reveal())


@main.command()
@_env_option
@_json_option
@click.pass_context
def check(ctx: click.Context, envs: tuple[str, ...], as_json: bool) -> None:
    """Prove environments work without writing anything.

    Checks that the config is valid, the credentials are readable, a token can be obtained (one
    token request per environment, discarded) and the token secret exists and can be read
    (DescribeSecret, GetSecretValue).

    \b
    Example (CI step after rotating a client secret):
      sync-job check --env production
    """
    job = _job(ctx)
    # SIGTERM/SIGINT as for `run`: the token requests' waits end, every environment is reported.
    with _interruptible(job) as interrupt:
        report = job.check(envs, interrupt=interrupt)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        rows = [["ENVIRONMENT", "RESULT", "CREDENTIAL", "DETAIL"]]
        for e in report.entries:
            detail = e.error or ", ".join(f"{k} {v}" for k, v in e.checks)
            rows.append([e.environment, "ok" if e.ok else "FAILED", e.credential or "-", detail])
        click.echo(_table(rows))
    for e in report.entries:
        if e.warning:
            click.echo(f"sync-job: warning: {e.environment}: {e.warning}", err=True)
        if not e.ok:
            click.echo(f"sync-job: error: {e.environment}: {e.error}", err=True)
    if interrupt.reason is not None:
        click.echo(f"sync-job: error: interrupted by {interrupt.reason}; nothing new was started", err=True)
    sys.exit(_exit_code(report.ok, interrupt.reason))


@main.group()
def credentials() -> None:
    """Manage the client credentials stored in Secrets Manager."""


@credentials.command("put")
@click.argument("name")
@click.option(
    "--client-id", default=None, metavar="ID", help="Change the client id (default: keep the stored one)."
)
@click.option(
    "--key-id",
    default=None,
    metavar="KID",
    help="private_key_jwt: the new key's kid (default: its RFC 7638 thumbprint when a key_id was stored).",
)
@click.option("--no-refresh", is_flag=True, help="Store the credentials; leave the stored token as it is.")
@click.option("--force", is_flag=True, help="Publish the test's token even when the stored one lives longer.")
@click.option(
    "--stage",
    is_flag=True,
    help="Store them as AWSPENDING, untested, for the deployed job to test from its own egress "
    "and promote (`credentials promote`): when the provider refuses this machine's IP.",
)
@_json_option
@click.pass_context
def credentials_put(
    ctx: click.Context,
    name: str,
    client_id: str | None,
    key_id: str | None,
    no_refresh: bool,
    force: bool,
    stage: bool,
    as_json: bool,
) -> None:
    """Rotate environment NAME's client credentials, testing them before they become current.

    Reads the new client secret (private_key_jwt: the PEM private key, optionally followed by
    its certificate) from the terminal without echo, or from stdin when it is not a terminal.
    Then (1) requests a token with it, (2) only if that works, stores it as the new AWSCURRENT
    of the credentials secret (the old value stays as AWSPREVIOUS), (3) publishes that token
    unless --no-refresh. Exit 0 done, 1 a step failed (the message says what was written), 2
    usage error (no input, unknown environment).

    \b
    Example:
      sync-job credentials put production        # paste the secret, Enter
      pass show paxos/production | sync-job credentials put production --json
    """
    from sync_job import inputs, rotation, secret_input

    job = _job(ctx)
    env = job.config.select([name])[0]
    for option, value in (("--client-id", client_id), ("--key-id", key_id)):
        wrong = None if value is None else inputs.problem(value, max_chars=inputs.MAX_TEXT_CHARS, spaces=True)
        if wrong is not None:
            # Printed back in the step lines: a control character would break them or drive the terminal.
            raise UsageError(
                f"{option} {wrong}; it must be non-empty printable text, without surrounding spaces "
                "or control characters"
            )
    pem = env.auth_method == "private_key_jwt"
    what = "PEM private key" if pem else "client secret"
    raw = secret_input.read_input(
        sys.stdin.buffer, is_tty=sys.stdin.isatty(), pem=pem, what=f"{what} for {name}"
    )
    new = secret_input.parse_new_credentials(raw, env.auth_method)
    if stage:
        _staged(
            job,
            name,
            lambda: _staged_module().stage(job, name, new, client_id=client_id, key_id=key_id),
            as_json,
        )
        return
    # SIGTERM/SIGINT as for `run`: the test request and its waits end, no later step starts,
    # and the last line says what was written (rotation checks sync_job.waits between steps).
    with _interruptible(job) as interrupt:
        result = rotation.put_credentials(
            job, name, new, client_id=client_id, key_id=key_id, refresh=not no_refresh, force=force
        )
        for line in [json.dumps(result.to_dict())] if as_json else result.lines():
            click.echo(line)
    for warning in result.warnings:
        click.echo(f"sync-job: warning: {name}: {warning}", err=True)
    if interrupt.reason is not None:
        _fail(
            f"{name}: interrupted by {interrupt.reason}; {_written(result)}",
            _exit_code(False, interrupt.reason),
        )
    if result.error:
        _fail(f"{name}: {result.error}", EXIT_FAILED)


def _written(result: rotation.RotationResult) -> str:
    """What an interrupted ``credentials put`` wrote, in one clause."""
    if not result.stored:
        return "nothing was written"
    stored = f"the new credentials are stored (version {result.version_id} is AWSCURRENT)"
    if result.published:
        return f"{stored} and the token from the test is published"
    return f"{stored}; the stored token is unchanged (sync-job run --env {result.environment} --force)"


@main.command()
@click.argument("name")
@click.option(
    "--without-replacement",
    is_flag=True,
    help="Revoke even when no fresh token can be published (consumers then hold a revoked token).",
)
@_json_option
@click.pass_context
def revoke(ctx: click.Context, name: str, without_replacement: bool, as_json: bool) -> None:
    """Replace environment NAME's stored token, then revoke the old ones at the provider.

    (1) Reads the token secret's AWSCURRENT and AWSPREVIOUS tokens, (2) publishes a fresh token
    (a forced refresh), (3) revokes each old token at the environment's revocation_url (RFC
    7009). Nothing is revoked when no fresh token can be published, unless
    --without-replacement. Exit 0 when a fresh token is stored and every old token is revoked;
    1 otherwise (the message says which, and until when an unrevoked token stays valid; a
    provider without revocation_url cannot revoke); 2 usage error.

    \b
    Example (a token leaked into a log):
      sync-job revoke production
    """
    from sync_job import revocation

    job = _job(ctx)
    # SIGTERM/SIGINT as for `run`: the refresh's waits end, nothing is revoked after it, and the
    # last line says what was done (exit 143 / 130).
    with _interruptible(job) as interrupt:
        result = revocation.revoke(
            job,
            name,
            job.tokens,  # type: ignore[arg-type]
            without_replacement=without_replacement,
            interrupt=interrupt,
        )
        for line in [json.dumps(result.to_dict())] if as_json else result.lines():
            click.echo(line)
    if interrupt.reason is not None:
        _fail(
            f"{name}: interrupted by {interrupt.reason}; {result.error or 'every step was done'}",
            _exit_code(False, interrupt.reason),
        )
    if result.error:
        _fail(f"{name}: {result.error}", EXIT_FAILED)


def _staged_module() -> Any:
    from sync_job import staged_credentials

    return staged_credentials


def _staged(job: Job, name: str, call: Callable[[], Any], as_json: bool) -> None:
    # SIGTERM/SIGINT as for `run` and `credentials put` (its waits end, exit 143 / 130, the
    # last line says which steps were done).
    with _interruptible(job) as interrupt:
        result = call()
        for warning in getattr(result, "warnings", ()):
            click.echo(f"sync-job: warning: {name}: {warning}", err=True)
        for line in [json.dumps(result.to_dict())] if as_json else result.lines():
            click.echo(line)
    if interrupt.reason is not None:
        done = [step for step in ("staged", "promoted", "published") if getattr(result, step, False)]
        what = f"done before it: {', '.join(done)}" if done else "nothing was written"
        _fail(f"{name}: interrupted by {interrupt.reason}; {what}", _exit_code(False, interrupt.reason))
    if result.error:
        _fail(f"{name}: {result.error}", EXIT_FAILED)


@credentials.command("promote")
@click.argument("name")
@_json_option
@click.pass_context
def credentials_promote(ctx: click.Context, name: str, as_json: bool) -> None:
    """Test NAME's staged (AWSPENDING) credentials and, only if a token is issued, make them
    AWSCURRENT and publish that token. Run it where the job runs (the provider's allowlisted
    egress); the Lambda takes the event {"promote_credentials": "NAME"}. Exit 0 promoted, 1 a
    step failed (nothing changed unless the message says so), 2 unknown environment.

    \b
    Example (after `sync-job credentials put production --stage` on a workstation):
      sync-job credentials promote production
    """
    job = _job(ctx)
    _staged(job, name, lambda: _staged_module().promote(job, name), as_json)


@main.command()
@click.argument("name")
@click.pass_context
def jwks(ctx: click.Context, name: str) -> None:
    """Print the public JWK Set (RFC 7517) of environment NAME's signing key, to register the
    client with its provider.

    The key is the environment's KMS key (kms_key_id; needs kms:GetPublicKey only) or the PEM
    private key of its credentials secret. Each key carries the kid its assertions send (the
    RFC 7638 thumbprint unless key_id is set), alg and use "sig". Never prints a private part.

    \b
    Example:
      sync-job jwks production > production.jwks.json
    """
    from sync_job import keyless
    from sync_job.client_identity import credentials_of
    from sync_job.jwks import jwks_document

    job = _job(ctx)
    env = job.config.select([name])[0]
    jwk = keyless.public_jwk(
        env,
        _sources(job),
        lambda: credentials_of(env, job.store.read_credentials),
    )
    click.echo(json.dumps(jwks_document((jwk,)), indent=2))


@main.command()
@click.argument("name")
@click.option("--subject", default=None, metavar="DN", help='RFC 4514 subject (default "CN=sync-job NAME").')
@click.option("--days", default=365, show_default=True, type=int, help="Validity in days (1 to 3650).")
@click.pass_context
def certificate(ctx: click.Context, name: str, subject: str | None, days: int) -> None:
    """Print a self-signed PEM certificate over environment NAME's KMS key, signed through KMS.

    For providers that register a key by certificate (Microsoft Entra ID): upload it there, and
    store it under "certificate" in NAME's credentials secret, so every assertion names it by
    x5t / x5t#S256. Needs kms:GetPublicKey and kms:Sign on the key. The expiry alarms watch its
    notAfter.

    \b
    Example:
      sync-job certificate production --subject "CN=sync-job production" --days 365 > production.pem
    """
    from sync_job import keyless

    job = _job(ctx)
    env = job.config.select([name])[0]
    click.echo(keyless.kms_certificate(env, _sources(job), subject, days), nl=False)


def _sources(job: Job) -> Any:
    from sync_job.keyless import CredentialSources

    return CredentialSources(
        job.clock, budget_seconds=job.config.run_timeout_seconds, max_attempts=job.config.aws_max_attempts
    )
