"""User-supplied text that becomes a label, a URL path segment, a file path or a log line
(sync_job/inputs.py): every kind of character that breaks a line or hides what it says, refused
with one line and exit 2 before anything is sent; the legal siblings ('/', non-ASCII, the longest
allowed) pushed to a real Pushgateway and read back. The CLI in-process (click's runner) and as
its own process (bytes that are not UTF-8 only exist on a real command line)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from standins import pushgateway as pg
from standins.harness import Harness, render_toml
from sync_job import inputs
from sync_job.cli import main
from sync_job.config import parse_config
from sync_job.errors import ConfigError
from sync_job.prometheus import LAST_OUTCOME

# Each kind the brief names, with the words the error line must use for it.
HOSTILE = {
    "nul": ("a\x00b", "a control character (U+0000)"),
    "newline": ("a\nb", "a control character (U+000A)"),
    "cr": ("a\rb", "a control character (U+000D)"),
    "tab": ("a\tb", "a control character (U+0009)"),
    "del": ("a\x7fb", "a control character (U+007F)"),
    "c1-nel": ("a\x85b", "a control character (U+0085)"),
    "c1-csi": ("a\x9b31mb", "a control character (U+009B)"),
    "line-separator": ("a\u2028b", "a line separator (U+2028)"),
    "paragraph-separator": ("a\u2029b", "a paragraph separator (U+2029)"),
    "bidi-override": ("a\u202eb", "an invisible formatting character (bidi override, zero-width) (U+202E)"),
    "zero-width": ("a\u200bb", "an invisible formatting character (bidi override, zero-width) (U+200B)"),
    "escape": ("a\x1b[31mb", "a control character (U+001B)"),
    "not-utf8": ("a\udcffb", "a byte that is not UTF-8 (0xFF)"),
}
RAW = ("\x00", "\n", "\r", "\t", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e", "\u200b", "\x1b")


def one_clean_line(stderr: str) -> str:
    """The single error line of ``stderr``, checked to carry none of the raw characters."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("sync-job: error:")]
    assert len(lines) == 1, stderr
    assert not any(ch in lines[0] for ch in RAW), repr(lines[0])
    assert "Traceback" not in stderr
    return lines[0]


def pushed_by(gateway: pg.Pushgateway, harness: Harness) -> set[str]:
    """The instance labels the gateway holds that this test made (they start with its run id)."""
    labels = {
        dict(key).get("instance", "")
        for samples in gateway.scrape(job="sync_job").values()
        for key in samples
    }
    return {label for label in labels if label.startswith(harness.run_id)}


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[pg.Pushgateway]:
    path = pg.binary()
    if path is None:
        pytest.skip(
            "prometheus-pushgateway not installed (apt-get install prometheus-pushgateway; .ci/run does)"
        )
    with pg.Pushgateway(path, tmp_path / "pushgateway.log") as gateway:
        yield gateway


# --- --metrics-instance: the Pushgateway grouping key -------------------------------------------


@pytest.mark.parametrize("kind", [k for k in HOSTILE if k != "not-utf8"])
def test_a_metrics_instance_that_would_break_a_line_is_refused_before_the_run(
    harness: Harness, pushgateway: pg.Pushgateway, kind: str
) -> None:
    value, named = HOSTILE[kind]
    value = harness.run_id + value  # marks what this test could have pushed
    harness.add_env("sandbox")
    result = harness.cli("run", "--pushgateway", pushgateway.url, "--metrics-instance", value)
    assert result.exit_code == 2
    line = one_clean_line(result.stderr)
    assert line.startswith(f"sync-job: error: --metrics-instance contains {named} at character 10"), line
    assert "give one printable name" in line
    assert result.stdout == ""
    assert harness.token_requests("sandbox") == 0  # nothing ran
    assert pushed_by(pushgateway, harness) == set()  # nothing pushed


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (" runner", "contains a space at character 1"),
        ("runner 1", "contains a space at character 7"),
        ("r" * 257, "is 257 characters long; at most 256"),
        ("r" * 100_000, "is 100000 characters long; at most 256"),
        ("a\u00a0b", "a space other than ' ' (U+00A0)"),
    ],
    ids=["empty", "blank", "leading-space", "inner-space", "257", "100k", "nbsp"],
)
def test_an_empty_blank_or_overlong_metrics_instance_is_refused(
    harness: Harness, value: str, problem: str
) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--pushgateway", "http://127.0.0.1:9", "--metrics-instance", value)
    assert result.exit_code == 2
    line = one_clean_line(result.stderr)
    assert line.startswith("sync-job: error: --metrics-instance "), line
    assert problem in line
    assert len(line) < 300  # the value itself is never echoed
    assert harness.token_requests("sandbox") == 0


@pytest.mark.parametrize(
    "instance",
    ["ci/runner-1", "café-runner", "host.example.com:9100", "r" * (inputs.MAX_NAME_CHARS - 8)],
    ids=["slash", "non-ascii", "host-port", "longest"],
)
def test_legal_instances_reach_the_real_pushgateway_as_given(
    harness: Harness, pushgateway: pg.Pushgateway, instance: str
) -> None:
    """'/' in the grouping key is sent base64-encoded by prometheus_client (Pushgateway README,
    "URL"): the label the gateway stores is the value as given, not a longer path."""
    instance = harness.run_id + instance  # 8 characters: the longest is MAX_NAME_CHARS
    harness.add_env("sandbox")
    result = harness.cli("run", "--pushgateway", pushgateway.url, "--metrics-instance", instance)
    assert result.exit_code == 0, result.stderr
    pushed = pushgateway.scrape(job="sync_job", instance=instance)
    assert pushed[LAST_OUTCOME][(("environment", "sandbox"), ("outcome", "refreshed"))] == 1
    assert pushed_by(pushgateway, harness) == {instance}


def test_a_hostname_unfit_for_the_instance_label_names_the_option_to_use(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.add_env("sandbox")
    monkeypatch.setattr("socket.gethostname", lambda: "build\nhost")
    result = harness.cli("run", "--pushgateway", "http://127.0.0.1:9")
    assert result.exit_code == 2
    line = one_clean_line(result.stderr)
    assert line == (
        "sync-job: error: the hostname 'build\\nhost' cannot be the Pushgateway instance: it "
        "contains a control character (U+000A) at character 6; pass --metrics-instance NAME"
    )
    assert harness.token_requests("sandbox") == 0


def test_bytes_that_are_not_utf8_on_a_real_command_line_are_one_line(
    harness: Harness, pushgateway: pg.Pushgateway
) -> None:
    """Python decodes argv with surrogateescape (PEP 383): b'\\xff' arrives as U+DCFF, which
    neither a URL nor a label nor a UTF-8 log line can hold."""
    harness.add_env("sandbox")
    for option, extra in (
        ("--metrics-instance", ("--pushgateway", pushgateway.url)),
        ("--metrics-file", ()),
    ):
        value = (
            harness.run_id + "a\udcffb"
            if option == "--metrics-instance"
            else str(harness.tmp / "m\udcff.prom")
        )
        result = harness.cli_process("run", *extra, option, value)
        assert result.exit_code == 2, result.stderr
        line = one_clean_line(result.stderr)
        assert line.startswith(f"sync-job: error: {option} contains a byte that is not UTF-8 (0xFF)"), line
    assert harness.token_requests("sandbox") == 0
    assert pushed_by(pushgateway, harness) == set()


# --- file paths: --config, $SYNC_JOB_CONFIG, --metrics-file -------------------------------------


@pytest.mark.parametrize("kind", ["nul", "newline", "line-separator", "bidi-override", "escape"])
def test_a_path_option_with_a_control_character_is_one_line_exit_2(harness: Harness, kind: str) -> None:
    value, named = HOSTILE[kind]
    harness.add_env("sandbox")
    # --metrics-file (was: NUL an internal error, exit 1; newline accepted)
    result = harness.cli("run", "--metrics-file", str(harness.tmp / f"m{value}.prom"))
    assert result.exit_code == 2
    assert one_clean_line(result.stderr).startswith(f"sync-job: error: --metrics-file contains {named}")
    # --config (was: NUL a raw ValueError traceback while click parsed the arguments), in-process
    # and, where a command line can carry it (execve refuses a NUL), as its own process.
    path = f"/tmp/sync-job{value}.toml"
    runner = CliRunner().invoke(main, ["--config", path, "status"], catch_exceptions=False)
    outputs = [(runner.exit_code, runner.stderr)]
    if "\x00" not in value:
        proc = subprocess.run(
            [sys.executable, "-m", "sync_job", "--config", path, "status"],
            capture_output=True,
            text=True,
            timeout=60,
            env=harness.subprocess_env(),
            check=False,
        )
        outputs.append((proc.returncode, proc.stderr))
    for code, stderr in outputs:
        assert code == 2, stderr
        line = one_clean_line(stderr)
        assert line.startswith("sync-job: error: config file path '/tmp/sync-job"), line
        assert f"contains {named}" in line and "pass --config PATH" in line
    assert harness.token_requests("sandbox") == 0


def test_the_config_path_from_the_environment_is_checked_the_same(harness: Harness) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sync_job", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**harness.subprocess_env(), "SYNC_JOB_CONFIG": "/etc/sync-job\u2028.toml"},
        check=False,
    )
    assert proc.returncode == 2
    line = one_clean_line(proc.stderr)
    assert "a line separator (U+2028)" in line and "$SYNC_JOB_CONFIG" in line


def test_an_overlong_pushgateway_is_one_short_line(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--pushgateway", "127.0.0.1:9" + "9" * 5000)
    assert result.exit_code == 2
    line = one_clean_line(result.stderr)
    assert line == (
        "sync-job: error: --pushgateway is 5011 characters long; give http(s)://HOST[:PORT] "
        "(at most 2048 characters)"
    )


# --- the configuration's string keys -------------------------------------------------------------

BASE = {
    "token_url": "https://auth.example.com/oauth2/token",
    "token_secret": "sync-job/sandbox/access-token",
    "credentials_secret": "sync-job/sandbox/client-credentials",
}
JWT = {"auth_method": "private_key_jwt"}
# Each string key, with the other keys it needs to be read at all.
STRING_KEYS = {
    "token_secret": {},
    "credentials_secret": {},
    "client_id": {},
    "audience": JWT,
    "key_id": JWT,
    "client_assertion_audience": {**JWT, "client_assertion_source": "aws_sts", "client_id": "c"},
}


@pytest.mark.parametrize("key", list(STRING_KEYS))
@pytest.mark.parametrize("kind", [k for k in HOSTILE if k != "not-utf8"])
def test_every_string_key_refuses_every_kind(key: str, kind: str) -> None:
    """Through parse_config, the parsed document: TOML itself refuses some of these characters
    raw (DEL, NUL) but admits every one escaped (\\u2028, \\u202e, \\u0085)."""
    value, named = HOSTILE[kind]
    table = {**BASE, **STRING_KEYS[key], key: value}
    with pytest.raises(ConfigError) as refused:
        parse_config({"environments": {"sandbox": table}}, "sync-job.toml")
    message = str(refused.value)
    assert message.startswith(f"environments.sandbox.{key}: contains {named}"), message
    assert not any(ch in message for ch in RAW)


def test_toml_escapes_reach_the_check(tmp_path: Path) -> None:
    """The same through the file: a config's "\\u2028" is the character itself once parsed."""
    from sync_job.config import load_config

    path = tmp_path / "sync-job.toml"
    path.write_text(render_toml({"sandbox": {**BASE, "client_id": "a\u2028b"}}))
    assert "\\u2028" in path.read_text()
    with pytest.raises(ConfigError, match=r"client_id: contains a line separator \(U\+2028\)"):
        load_config(path)


@pytest.mark.parametrize("key", list(STRING_KEYS))
def test_every_string_key_has_a_length_bound(key: str) -> None:
    table = {**BASE, **STRING_KEYS[key], key: "k" * (inputs.MAX_TEXT_CHARS + 1)}
    with pytest.raises(ConfigError, match=f"{key}: is 2049 characters long; at most 2048"):
        parse_config({"environments": {"sandbox": table}}, "sync-job.toml")


@pytest.mark.parametrize("kind", ["nul", "newline", "tab", "c1-nel", "line-separator", "bidi-override"])
def test_scopes_assertion_file_and_endpoint_params_refuse_every_kind(kind: str) -> None:
    value, named = HOSTILE[kind]
    cases = {
        "scopes[0]": {**BASE, "scopes": [f"read{value}"]},
        "client_assertion_file": {
            **BASE,
            **JWT,
            "client_id": "c",
            "client_assertion_file": f"/var/run/t{value}",
        },
        "endpoint_params.audience": {**BASE, "endpoint_params": {"audience": f"https://api{value}"}},
    }
    for key, table in cases.items():
        with pytest.raises(ConfigError) as refused:
            parse_config({"environments": {"sandbox": table}}, "sync-job.toml")
        message = str(refused.value)
        assert message.startswith(f"environments.sandbox.{key}: "), message
        if key != "scopes[0]":  # a scope is visible ASCII only (RFC 6749 §3.3): said as such
            assert named in message, message
        assert not any(ch in message for ch in RAW)


def test_a_config_key_with_a_control_character_is_exit_2_from_the_cli(harness: Harness) -> None:
    harness.add_env("sandbox", client_id="sandbox\r\nX-Injected: 1")
    result = harness.cli("status")
    assert result.exit_code == 2
    line = one_clean_line(result.stderr)
    assert line.startswith(f"sync-job: error: config {harness.config_path()}: "), line
    assert line.endswith(
        "environments.sandbox.client_id: contains a control character (U+000D) at character 8; "
        "write it as one line of printable text"
    )


# --- other options --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["newline", "c1-csi", "line-separator", "bidi-override", "not-utf8"])
def test_client_id_and_key_id_name_the_character(harness: Harness, kind: str) -> None:
    value, named = HOSTILE[kind]
    harness.add_env("sandbox")
    for option in ("--client-id", "--key-id"):
        result = harness.cli("credentials", "put", "sandbox", option, value)
        assert result.exit_code == 2
        line = one_clean_line(result.stderr)
        assert line.startswith(f"sync-job: error: {option} contains {named}"), line
    assert harness.token_requests("sandbox") == 0


# --- the Lambda event's fields --------------------------------------------------------------------


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.mark.parametrize("kind", ["nul", "newline", "c1-nel", "line-separator", "bidi-override", "escape"])
def test_lambda_event_names_and_ids_with_a_control_character_are_one_line(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    from sync_job import lambda_handler

    value, named = HOSTILE[kind]
    harness.add_env("sandbox")
    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", render_toml(harness.envs, harness.defaults))
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    arn = harness.sm.describe_secret(SecretId=harness.token_secret("sandbox"))["ARN"]
    events = {
        "environments": {"environments": [f"sandbox{value}"]},
        "promote_credentials": {"promote_credentials": f"sandbox{value}"},
        "SecretId": {"Step": "createSecret", "SecretId": f"{arn}{value}", "ClientRequestToken": "v" * 36},
        "ClientRequestToken": {"Step": "createSecret", "SecretId": arn, "ClientRequestToken": f"v{value}"},
    }
    for field, event in events.items():
        with pytest.raises(lambda_handler.SyncFailedError) as failed:
            lambda_handler.handler(event, _Context())
        message = str(failed.value)
        assert not any(ch in message for ch in RAW), repr(message)
        if field in ("SecretId", "ClientRequestToken"):
            assert message.startswith(f'rotation event "{field}" contains {named}'), message
        else:
            assert message.startswith("unknown environment 'sandboxa\\"), message
    assert harness.token_requests("sandbox") == 0 and harness.stored("sandbox") is None
    captured = capsys.readouterr()
    assert not any(ch in captured.out + captured.err for ch in RAW if ch not in "\n\t")


def test_a_huge_environment_name_or_key_is_one_short_line(tmp_path: Path) -> None:
    """A config of up to 1 MiB can hold a name or key of nearly that length: shown cut."""
    from sync_job.config import load_config

    for table in (
        {"x" * 500_000: BASE},
        {"sandbox": {**BASE, "k" * 400_000: 1}},
    ):
        path = tmp_path / "sync-job.toml"
        path.write_text(render_toml(table))
        with pytest.raises(ConfigError) as refused:
            load_config(path)
        message = str(refused.value)
        assert len(message) < 1200 and "…" in message, message[:300]  # not 400,000 or more
        assert not any(ch in message for ch in RAW)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("run", "--bogus"), "No such option '--bogus'; see `sync-job run --help`"),
        (("--log-level", "X", "status"), "Invalid value for '--log-level': 'X' is not one of"),
        (
            ("certificate", "sandbox", "--days", "abc"),
            "Invalid value for '--days': 'abc' is not a valid integer",
        ),
        (("token",), "Missing argument 'NAME'; see `sync-job token --help`"),
        (("nosuch",), "No such command 'nosuch'; see `sync-job --help`"),
        (("run", "--bo\x1b[31mgus"), "No such option '--bo\\x1b[31mgus'; see `sync-job run --help`"),
        (("run", "--e\u202env"), "No such option '--e\\u202env'"),
    ],
    ids=["option", "choice", "integer", "argument", "command", "escape", "bidi"],
)
def test_click_s_own_usage_errors_are_one_line_exit_2(
    harness: Harness, args: tuple[str, ...], line: str
) -> None:
    """An unknown option, a missing argument, a value of the wrong type: click's usage block
    (Usage:, Try:, a blank line, Error:) is one `sync-job: error:` line, as every error is."""
    harness.add_env("sandbox")
    for result in (harness.cli(*args), harness.cli_process(*args)):
        assert result.exit_code == 2, result.stderr
        assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
        assert one_clean_line(result.stderr).startswith(f"sync-job: error: {line}"), result.stderr
        assert "Usage:" not in result.stderr and result.stdout == ""
    assert harness.token_requests("sandbox") == 0


# --- the AWS settings from the environment ------------------------------------------------------


@pytest.mark.parametrize(
    "region", ["us-east-1\n", "us-east-1\r", "us-east-1/../x", "us east 1", "us\u202eeast-1", "u" * 70, "-us"]
)
def test_an_aws_region_that_is_no_region_name_is_one_line_exit_2(harness: Harness, region: str) -> None:
    """AWS_REGION becomes a host name in every request: botocore's own check (re.match) let a
    trailing newline through to a ValueError, the rest were an InvalidRegionError: both an
    `internal error` before."""
    harness.add_env("sandbox")
    env = {**harness.subprocess_env(), "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    for args in (("status",), ("jwks", "sandbox")):
        proc = subprocess.run(
            [sys.executable, "-m", "sync_job", "--config", str(harness.config_path()), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        line = one_clean_line(proc.stderr)
        assert line.startswith("sync-job: error: AWS region '"), line
        assert line.endswith(
            "is not a region name such as us-east-1; fix AWS_REGION (or AWS_DEFAULT_REGION, or the region in ~/.aws/config)"
        )
    assert harness.token_requests("sandbox") == 0


@pytest.mark.parametrize("endpoint", ["http://user:pw-SECRETMARK@a b", "http://127.0.0.1:1\n", "notaurl"])
def test_an_aws_endpoint_that_is_no_url_is_one_line_exit_2_and_never_echoed(
    harness: Harness, endpoint: str
) -> None:
    harness.add_env("sandbox")
    proc = subprocess.run(
        [sys.executable, "-m", "sync_job", "--config", str(harness.config_path()), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**harness.subprocess_env(), "AWS_ENDPOINT_URL": endpoint},
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    line = one_clean_line(proc.stderr)
    assert line == (
        "sync-job: error: cannot make the Secrets Manager client: its endpoint is not a valid http(s) URL; "
        "check AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (or endpoint_url in ~/.aws/config)"
    )
    assert "SECRETMARK" not in proc.stderr and "pw" not in proc.stderr


_INCOMPLETE = (
    "incomplete AWS credentials: {} is missing; set both AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY (or unset both), or fix the profile"
)
_UNPARSED = (
    "an AWS shared config or credentials file cannot be parsed (AWS_CONFIG_FILE or ~/.aws/config, "
    "AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials); fix it"
)
_NO_PROFILE = (
    "the AWS profile named by AWS_PROFILE (or AWS_DEFAULT_PROFILE) is not in ~/.aws/config or "
    "~/.aws/credentials; set an existing profile or unset it"
)


# No credentials in the environment: the chain goes on to the profile, container, web identity...
NO_KEYS: dict[str, str | None] = dict.fromkeys(
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
)


def _aws_env(
    harness: Harness,
    tmp_path: Path,
    settings: dict[str, str | None],
    *,
    config: str | None = None,
    credentials: str | None = None,
) -> dict[str, str]:
    """The job's environment with a HOME of its own (``~/.aws/config`` and ``credentials`` as
    given, else none) and ``settings`` applied (None: the variable unset)."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    for name, text in (("config", config), ("credentials", credentials)):
        if text is not None:
            (home / ".aws" / name).write_text(text)
    env = {**harness.subprocess_env(), "HOME": str(home)}
    env.pop("AWS_SHARED_CREDENTIALS_FILE", None)
    env.pop("AWS_CONFIG_FILE", None)
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _sync_job(harness: Harness, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m sync_job --config <harness's> ARGS`` in ``env``, bounded at 60 s."""
    return subprocess.run(
        [sys.executable, "-m", "sync_job", "--config", str(harness.config_path()), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "credentials_file", "line"),
    [
        ({"AWS_SECRET_ACCESS_KEY": None}, None, _INCOMPLETE.format("AWS_SECRET_ACCESS_KEY")),
        ({"AWS_SECRET_ACCESS_KEY": ""}, None, _INCOMPLETE.format("AWS_SECRET_ACCESS_KEY")),
        (
            {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None},
            "[default]\naws_access_key_id = AKIAEXAMPLE\n",
            _INCOMPLETE.format("aws_secret_access_key"),
        ),
        ({"AWS_PROFILE": "no-such-profile"}, None, _NO_PROFILE),
        ({"AWS_PROFILE": "no-such\x1b[31mprofile\n"}, None, _NO_PROFILE),
        ({"AWS_CONFIG_FILE": "/etc/passwd"}, None, _UNPARSED),
        (
            {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None},
            "aws_access_key_id = AKIAEXAMPLE with no section\n",
            _UNPARSED,
        ),
    ],
    ids=[
        "secret-unset",
        "secret-empty",
        "profile-without-secret",
        "unknown-profile",
        "profile-escape",
        "config-unparsed",
        "credentials-unparsed",
    ],
)
def test_incomplete_aws_credentials_or_an_unknown_profile_are_one_line_exit_2(
    harness: Harness,
    tmp_path: Path,
    settings: dict[str, str | None],
    credentials_file: str | None,
    line: str,
) -> None:
    """Credentials with a part missing (botocore's PartialCredentialsError) or an AWS_PROFILE
    naming no profile (ProfileNotFound) are configuration errors, raised with the session
    (botodata.make_session reads the environment's credentials) or the client: both were an
    `internal error` before, with the trimmed session and with botocore's stock one alike."""
    harness.add_env("sandbox")
    env = _aws_env(harness, tmp_path, settings, credentials=credentials_file)
    for args in (("status",), ("run",), ("jwks", "sandbox")):
        proc = _sync_job(harness, env, *args)
        assert proc.returncode == 2, proc.stderr
        assert one_clean_line(proc.stderr) == f"sync-job: error: {line}", proc.stderr
        assert "AKIAEXAMPLE" not in proc.stderr and "\x1b" not in proc.stderr
    assert harness.token_requests("sandbox") == 0


@pytest.mark.parametrize(
    ("settings", "config_file", "provider"),
    [
        (
            {
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds?SECRETMARK",
                "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "1",
                "AWS_METADATA_SERVICE_TIMEOUT": "1",
            },
            None,
            "container-role",
        ),
        ({}, "[default]\ncredential_process = /bin/false SECRETMARK\n", "custom-process"),
    ],
    ids=["container-endpoint-down", "credential-process-fails"],
)
def test_a_failing_aws_credential_provider_is_one_line_never_its_url(
    harness: Harness, tmp_path: Path, settings: dict[str, str], config_file: str | None, provider: str
) -> None:
    """With no credentials in the environment, a container endpoint that does not answer or a
    credential_process that fails (botocore's CredentialRetrievalError, raised while the client
    is made) was an `internal error`; its message (the URL, the command) is not repeated."""
    harness.add_env("sandbox")
    env = _aws_env(harness, tmp_path, {**NO_KEYS, **settings}, config=config_file)
    for args in (("status",), ("run",)):
        proc = _sync_job(harness, env, *args)
        assert proc.returncode == 1, proc.stderr
        assert one_clean_line(proc.stderr) == (
            f"sync-job: error: cannot get AWS credentials from the {provider} provider; check that "
            "source (e.g. AWS_CONTAINER_CREDENTIALS_FULL_URI, credential_process, the SSO session) "
            "or configure another in the standard AWS chain"
        ), proc.stderr
        assert "SECRETMARK" not in proc.stderr and "127.0.0.1:9" not in proc.stderr
    assert harness.token_requests("sandbox") == 0


@pytest.mark.parametrize("token_file", ["missing", "a-directory", "unreadable"])
def test_a_web_identity_token_file_that_cannot_be_read_is_one_line(
    harness: Harness, tmp_path: Path, token_file: str
) -> None:
    """AWS_WEB_IDENTITY_TOKEN_FILE is read at the first call, not while the client is made: a
    file that is missing, a directory or unreadable was `unexpected FileNotFoundError ... (a
    bug)`; now one line naming the variable, never the path, and no token request."""
    harness.add_env("sandbox")
    path = tmp_path / "SECRETMARK-token"
    if token_file == "a-directory":
        path.mkdir()
    elif token_file == "unreadable":
        path.write_text("header.SECRETMARK.signature")
        path.chmod(0)
        if os.access(path, os.R_OK):
            pytest.skip("root reads a mode-000 file")
    web_identity = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(path),
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/sync-job",
    }
    env = _aws_env(harness, tmp_path, {**NO_KEYS, **web_identity})
    for args in (("status",), ("run",)):
        proc = _sync_job(harness, env, *args)
        assert proc.returncode != 0, proc.stdout
        out = proc.stdout + proc.stderr
        assert "cannot read a file the AWS credential chain names" in out, out
        assert "AWS_WEB_IDENTITY_TOKEN_FILE" in out
        assert "a bug" not in out and "Traceback" not in out
        assert "SECRETMARK" not in out and str(tmp_path) not in out
    assert harness.token_requests("sandbox") == 0
