"""Issue 9 across the real wire: what a token endpoint (or the store, or an operator's input) can
send that must never become a published token, a leaked secret, a traceback or a wrong exit.

Each parametrized case is one member of a kind; every case asserts the stored token (unchanged,
or the new valid one), the exit code, the error line, and no leak (the harness scans every output
for the token and secret markers and every encoding of every client secret)."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from standins.fakes import valid_doc
from standins.harness import Harness, Result, assert_no_leak
from standins.token_server import Fault
from sync_job.bearer import parse_timestamp
from sync_job.reader import TokenReader, TokenUnavailableError

ONE_LINE_CONTROL = ("\x1b", "\x07", "\r", "\x9b")


def outcome(result: Result) -> dict[str, Any]:
    return result.json()["results"][0]  # type: ignore[no-any-return]


def assert_one_clean_line(result: Result) -> None:
    assert len(result.error_lines) == 1, result.stderr
    for ch in ONE_LINE_CONTROL:
        assert ch not in result.stdout and ch not in result.stderr


def jwt(claims: dict[str, Any]) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.LEAKMARKsig"


# --- 2. only usable tokens, never worse than the stored one ---------------------------------------

_HEADER_RULE = "characters an Authorization header cannot carry safely"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"token_type": "mac"}, "token_type 'mac' is not bearer"),
        ({"token_type": "DPoP"}, "token_type 'DPoP' is not bearer"),
        ({"token_type": "bearer "}, "is not bearer"),
        ({"access_token": "LEAKMARK-abc\r\nX-Injected: yes"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-abc\nX-Injected: yes"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-abc\r"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-with space"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-tab\there"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-nul\x00"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-del\x7f"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-esc\x1b[31m"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-ünïcode"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-nbsp\u00a0x"}, _HEADER_RULE),
        ({"access_token": "LEAKMARK-" + "x" * 40_000}, "longer than 32768"),
        ({"access_token": 12345}, "non-empty string access_token"),
    ],
    ids=[
        "mac",
        "dpop",
        "trailing-space",
        "crlf",
        "lf",
        "cr",
        "space",
        "tab",
        "nul",
        "del",
        "escape",
        "unicode",
        "nbsp",
        "huge",
        "number",
    ],
)
def test_unusable_tokens_are_never_published(harness: Harness, overrides: dict[str, Any], error: str) -> None:
    harness.add_env("sandbox", max_attempts=3)
    before = harness.put_due(remaining=600)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(**overrides)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert outcome(result)["outcome"] == "failed"
    assert error in outcome(result)["error"]
    assert outcome(result)["attempts"] == 1  # not retried: the server meant it
    assert harness.stored("sandbox") == before
    assert_one_clean_line(result)


@pytest.mark.parametrize(
    "token",
    [
        # Salesforce's documented client-credentials token shape: org id, "!", then the rest
        # (Salesforce Help, "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration").
        "00D5g000004LEAK!AQ0AQLEAKMARK.x_y-z~1+2/3=",
        'LEAKMARK-"quoted"',
        "LEAKMARK-!#$%&'()*,:;<=>?@[\\]^`{|}",
        "=LEAKMARK=padding=inside",
    ],
    ids=["salesforce", "quote", "every-punctuation", "equals-anywhere"],
)
def test_every_visible_ascii_token_is_published_and_read_back(harness: Harness, token: str) -> None:
    # RFC 9110 §5.5 VCHAR: what an Authorization header carries as it is. The job publishes it
    # and TokenReader (the same rule, bearer.py) serves it.
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(access_token=token)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None and stored["access_token"] == token
    reader = TokenReader(harness.token_secret("sandbox"), client=harness.sm)
    assert reader.authorization_header() == {"Authorization": f"Bearer {token}"}


def test_bearer_in_any_case_is_published(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(token_type="BEARER")])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None and stored["token_type"] == "BEARER"


@pytest.mark.parametrize(
    "expires_in",
    [10_000_000_000, 9_223_372_036_854_775_807, 10**400, 1e300, "99999999999999999999999"],
    ids=["1e10", "int64-max", "400-digits", "float-1e300", "digit-string"],
)
def test_absurd_lifetimes_are_capped_with_a_warning(harness: Harness, expires_in: Any) -> None:
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=expires_in)])
    started = datetime.now(UTC)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    doc = outcome(result)
    assert doc["outcome"] == "refreshed" and doc["attempts"] == 1
    assert "max_lifetime_seconds = 2592000" in doc["warning"]
    stored = harness.stored("sandbox")
    assert stored is not None
    expires_at = parse_timestamp(stored["expires_at"])
    assert expires_at is not None
    assert expires_at <= started + timedelta(days=30, seconds=5)
    assert stored["expires_in"] == 2_592_000 and stored["expires_in_source"] == "max_lifetime"
    # The consumer accepts what the job published.
    reader = TokenReader(harness.token_secret("sandbox"), client=harness.sm)
    assert reader.token() == stored["access_token"]


def test_max_lifetime_seconds_is_configurable(harness: Harness) -> None:
    harness.add_env("sandbox", max_lifetime_seconds=7200)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=86400)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert "max_lifetime_seconds = 7200" in outcome(result)["warning"]
    assert 7100 < outcome(result)["seconds_remaining"] <= 7200


def test_expired_jwt_is_never_published(harness: Harness) -> None:
    harness.add_env("sandbox", default_lifetime_seconds=3600)
    before = harness.put_due(remaining=300)
    expired = jwt({"sub": "x", "exp": int(time.time()) - 120})
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=None, access_token=expired)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "exp claim passed" in outcome(result)["error"]
    assert harness.stored("sandbox") == before
    assert_one_clean_line(result)


@pytest.mark.parametrize("server_expires_in", [3599, None], ids=["with-expires_in", "without"])
def test_jwt_exp_bounds_a_longer_lifetime(harness: Harness, server_expires_in: int | None) -> None:
    harness.add_env("sandbox", default_lifetime_seconds=3600)
    token = jwt({"sub": "x", "exp": int(time.time()) + 600})
    harness.tokens.script(
        harness.client_id("sandbox"), [Fault.token(expires_in=server_expires_in, access_token=token)]
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None and stored["expires_in_source"] == "jwt"
    assert 590 <= outcome(result)["seconds_remaining"] <= 600


def test_a_shorter_lived_token_does_not_replace_a_valid_stored_one(harness: Harness) -> None:
    harness.add_env("sandbox")
    before = harness.put_due(remaining=600)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=300)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    doc = outcome(result)
    assert doc["outcome"] == "kept"
    assert "before the stored one" in doc["warning"] and "kept the stored token" in doc["warning"]
    assert harness.stored("sandbox") == before
    assert 590 <= doc["seconds_remaining"] <= 600
    # --force publishes it anyway: the operator asked for a new token.
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=300)])
    forced = harness.cli("run", "--force", "--json")
    assert outcome(forced)["outcome"] == "refreshed"
    stored = harness.stored("sandbox")
    assert stored is not None and stored["expires_in"] == 300


def test_an_expired_stored_token_is_replaced_by_a_short_one(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.put_due(remaining=-10)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=120)])
    result = harness.cli("run", "--json")
    assert outcome(result)["outcome"] == "refreshed", result.stderr


@pytest.mark.parametrize("stored_left", [-10, 30, 600])
@pytest.mark.parametrize("expires_in", [1, 30, 60])
def test_a_token_consumers_would_refuse_is_never_published(
    harness: Harness, expires_in: int, stored_left: int
) -> None:
    """The one validity rule (bearer.EXPIRY_SKEW_SECONDS, 60 s): a new token with 60 s or fewer
    left is refused by `token`, `status` and every reader, so the job does not publish it, even
    with --force and whatever is stored; the stored token stays."""
    harness.add_env("sandbox")
    before = harness.put_due(remaining=stored_left)
    versions = harness.versions("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=expires_in)])
    result = harness.cli("run", "--force", "--json")
    assert result.exit_code == 1, result.stderr
    doc = outcome(result)
    assert doc["outcome"] == "failed"
    assert "not published" in doc["error"]
    assert harness.stored("sandbox") == before and harness.versions("sandbox") == versions


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            {
                "error": "incorrect_client_credentials",
                "error_description": "The client credentials are invalid",
            },
            "incorrect_client_credentials: The client credentials are invalid",
        ),
        ({"error": "invalid_client"}, "invalid_client"),
        ({"error": "access_denied", "access_token": "tok-LEAKMARK-confused"}, "access_denied"),
    ],
    ids=["github-style", "code-only", "with-a-token-too"],
)
def test_an_error_object_sent_with_200_is_reported_by_its_code(
    harness: Harness, body: dict[str, str], shown: str
) -> None:
    harness.add_env("sandbox")
    before = harness.put_due(remaining=600)
    fault = Fault.status(200, json.dumps(body), content_type="application/json")
    harness.tokens.script(harness.client_id("sandbox"), [fault])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert shown in outcome(result)["error"]
    assert harness.stored("sandbox") == before
    assert_one_clean_line(result)


# --- 3. tokens that live shorter than the margin ---------------------------------------------------


def test_short_lived_tokens_are_refreshed_at_half_their_lifetime(harness: Harness) -> None:
    # A lifetime under the margin, refreshed at half of it (1,200 s): 72 versions a day, inside
    # Secrets Manager's version budget (docs/behaviour.md), so check passes.
    harness.add_env("sandbox", refresh_margin_seconds=3000)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=2400)])
    first = harness.cli("run", "--json")
    assert outcome(first)["outcome"] == "refreshed"
    assert "refreshed at half its lifetime" in outcome(first)["warning"]
    time.sleep(1)
    second = harness.cli("run", "--json")
    assert outcome(second)["outcome"] == "fresh"
    assert harness.token_requests("sandbox") == 1
    status = harness.cli("status", "--json")
    entry = status.json()["environments"][0]
    assert entry["state"] == "valid" and "half its lifetime" in entry["warning"]
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=2400)])
    check = harness.cli("check")
    assert check.exit_code == 0 and "half its lifetime" in check.stderr


# --- 4. nothing secret in any output, whatever the server echoes -----------------------------------


def _echo_forms(client_id: str, secret: str) -> list[str]:
    raw = f"{client_id}:{secret}".encode()
    from urllib.parse import quote_plus

    encoded = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    b64 = base64.b64encode(encoded).decode()
    return [
        b64,  # what the job sent, without "Basic "
        b64.rstrip("="),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(encoded).decode().rstrip("="),
        "Basic " + b64,
    ]


@pytest.mark.parametrize("form", range(5), ids=["b64", "unpadded", "raw-b64", "urlsafe", "with-prefix"])
def test_echoed_basic_credentials_are_scrubbed(harness: Harness, form: int) -> None:
    harness.add_env("sandbox", auth_method="client_secret_basic", secret="SECRETMARKpadXY")
    before = harness.put_due(remaining=600)
    echoed = _echo_forms(harness.client_id("sandbox"), harness.secrets["sandbox"])[form]
    harness.tokens.script(
        harness.client_id("sandbox"),
        [Fault.oauth_error(401, "invalid_client", f"credentials {echoed} rejected")],
    )
    result = harness.cli("run", "--json")  # the harness scans every form, at DEBUG
    assert result.exit_code == 1
    assert "invalid_client" in outcome(result)["error"] and "[REDACTED]" in outcome(result)["error"]
    assert harness.stored("sandbox") == before
    harness.tokens.script(
        harness.client_id("sandbox"),
        [Fault.oauth_error(401, "invalid_client", f"credentials {echoed} rejected")],
    )
    check = harness.cli("check")
    assert check.exit_code == 1 and "[REDACTED]" in check.stderr


@pytest.mark.parametrize(
    "secret", ["SECRETMARK\twith-tab", "SECRETMARK\nwith-newline", "SECRETMARK  two-spaces"]
)
def test_echoed_secrets_with_whitespace_are_scrubbed(harness: Harness, secret: str) -> None:
    harness.add_env("sandbox", secret=secret)
    harness.put_due(remaining=600)
    harness.tokens.script(
        harness.client_id("sandbox"), [Fault.oauth_error(401, "invalid_client", f"bad secret {secret}!")]
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "[REDACTED]" in outcome(result)["error"]
    assert "with-tab" not in result.stderr and "with-newline" not in result.stderr
    assert "two-spaces" not in result.stderr


def test_a_secret_too_short_to_scrub_withholds_server_text(harness: Harness) -> None:
    harness.add_env("sandbox", secret="Zq7!x")
    before = harness.put_due(remaining=600)
    harness.tokens.script(
        harness.client_id("sandbox"),
        [Fault.oauth_error(401, "invalid_client", "the secret Zq7!x is wrong")],
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = outcome(result)["error"]
    assert "invalid_client" in error and "withheld" in error
    for text in (result.stdout, result.stderr):
        assert "Zq7!x" not in text and "Zq7%21x" not in text
    assert harness.stored("sandbox") == before


@pytest.mark.parametrize(
    "description",
    [
        "\x1b]0;x\x07 evil title",
        "\x1b[31mred\x1b[0m text",
        "bell\x07 and \x9b2J csi",
        "bidi \u202eevil",
        "x" * 5000,
    ],
    ids=["osc", "csi", "c1", "bidi", "long"],
)
def test_server_text_is_stripped_and_capped(harness: Harness, description: str) -> None:
    harness.add_env("sandbox")
    harness.put_due(remaining=600)
    harness.tokens.script(
        harness.client_id("sandbox"), [Fault.oauth_error(400, "invalid_request", description)]
    )
    result = harness.cli("run", "--json")
    error = outcome(result)["error"]
    assert result.exit_code == 1 and error.startswith("token request rejected by")
    for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert ch not in error and ch not in result.stderr
    assert len(error) < 400
    assert_one_clean_line(result)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:PWLEAKSECRET@example.com:99999/token",
        "https://user:PWLEAKSECRET@example.com/token",
        "https://:PWLEAKSECRET@example.com/token",
        "https://example.com/token?client_secret=PWLEAKSECRET",
        "http://user:PWLEAKSECRET@example.com/token",
    ],
)
def test_config_errors_never_echo_url_credentials(harness: Harness, url: str) -> None:
    harness.add_env("sandbox")
    harness.envs["sandbox"]["token_url"] = url
    result = harness.cli("run")
    assert result.exit_code == 2
    assert "PWLEAKSECRET" not in result.stdout + result.stderr
    assert_one_clean_line(result)


# --- 5. odd stored state heals -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"expires_at": "9999-12-31T23:59:59-23:59"},
        {"expires_at": "0001-01-01T00:00:00+23:59"},
        {"expires_at": "2026-13-45T00:00:00Z"},
        {"expires_at": 1_900_000_000},
        {"access_token": "tok-\ud800-surrogate"},
        {"access_token": "tok-LEAKMARK-\r\ninjected"},
        {"token_type": "mac"},
    ],
    ids=[
        "overflow-max",
        "overflow-min",
        "impossible-date",
        "number",
        "surrogate",
        "crlf",
        "mac",
    ],
)
def test_odd_stored_payloads_are_invalid_and_healed(harness: Harness, fields: dict[str, Any]) -> None:
    harness.add_env("sandbox")
    harness.add_env("other")
    doc = {**valid_doc("sandbox", remaining=3000, token="tok-LEAKMARK-odd"), **fields}
    harness.put_stored("sandbox", json.dumps(doc))
    status = harness.cli("status", "--json")
    states = {e["environment"]: e["state"] for e in status.json()["environments"]}
    assert states == {"sandbox": "invalid", "other": "missing"}
    reader = TokenReader(harness.token_secret("sandbox"), client=harness.sm)
    with pytest.raises(TokenUnavailableError):
        reader.token()
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert {r["outcome"] for r in result.json()["results"]} == {"refreshed"}
    warnings = [e for e in result.events() if e.get("event") == "sync.stored_payload_invalid"]
    assert len(warnings) == 1
    assert harness.token_requests("sandbox") == 1
    assert reader.token() == harness.stored("sandbox")["access_token"]  # type: ignore[index]


# --- 6. input hygiene at the edges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("{cid}\n", "SECRETMARK-ok"), ("{cid}", "SECRETMARK-ok\n"), ("  {cid}", " SECRETMARK-ok\t")],
    ids=["id-newline", "secret-newline", "both-padded"],
)
def test_credentials_with_surrounding_whitespace_are_sent_stripped(
    harness: Harness, client_id: str, secret: str
) -> None:
    harness.add_env("sandbox", secret="SECRETMARK-ok")
    cid = harness.client_id("sandbox")
    harness.sm.put_secret_value(
        SecretId=harness.envs["sandbox"]["credentials_secret"],
        SecretString=json.dumps({"client_id": client_id.format(cid=cid), "client_secret": secret}),
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert "leading or trailing whitespace" in outcome(result)["warning"]
    assert harness.token_requests("sandbox") == 1
    assert harness.tokens.requests[-1].status == 200  # the provider accepted the stripped values


def test_environment_names_with_control_characters_are_refused(harness: Harness) -> None:
    harness.add_env("sandbox")
    path = harness.config_path()
    text = path.read_text().replace("[environments.sandbox]", '[environments."prod\\n"]')
    path.write_text(text)
    from click.testing import CliRunner

    from sync_job.cli import main

    result = CliRunner().invoke(main, ["--config", str(path), "run"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "environments.prod\\n" in lines[0]


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "too-big", "directory"])
def test_config_must_be_a_small_regular_file(harness: Harness, tmp_path: Path, kind: str) -> None:
    from click.testing import CliRunner

    from sync_job.cli import main

    if kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        path = tmp_path / "fifo.toml"
        os.mkfifo(path)
    elif kind == "too-big":
        path = tmp_path / "big.toml"
        path.write_text("# padding\n" * 200_000)
    else:
        path = tmp_path
    started = time.monotonic()
    result = CliRunner().invoke(main, ["--config", str(path), "status"])
    assert time.monotonic() - started < 5
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and "config file" in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_workers", 10_000_000, "must be at most 256"),
        ("timeout_seconds", 1e300, "must be at most 300"),
        ("run_timeout_seconds", 1e300, "must be at most 86400"),
        ("refresh_margin_seconds", 10**30, "must be at most"),
        ("max_attempts", 1000, "must be at most 20"),
        ("rate_limit_burst", 10**9, "must be at most"),
    ],
)
def test_absurd_numbers_are_refused(harness: Harness, key: str, value: object, message: str) -> None:
    harness.add_env("sandbox")
    harness.defaults[key] = value
    started = time.monotonic()
    result = harness.cli("run")
    assert time.monotonic() - started < 5
    assert result.exit_code == 2 and message in result.stderr
    assert_one_clean_line(result)


@pytest.mark.parametrize(
    "retry_after", ["0", "0.2", "Thu, 01 Jan 2015 00:00:00 GMT"], ids=["zero", "decimal", "past-date"]
)
def test_retry_after_zero_means_now(harness: Harness, retry_after: str) -> None:
    harness.add_env("sandbox", max_attempts=2)
    harness.defaults["run_timeout_seconds"] = 60
    fault = Fault.status(
        429, '{"error": "slow_down"}', headers={"Retry-After": retry_after}, content_type="application/json"
    )
    harness.tokens.script(harness.client_id("sandbox"), [fault])
    started = time.monotonic()
    result = harness.cli("run", "--json")
    assert time.monotonic() - started < 5
    assert result.exit_code == 0, result.stderr
    assert outcome(result)["outcome"] == "refreshed" and outcome(result)["attempts"] == 2


def test_no_output_of_the_new_cases_carries_a_marker() -> None:
    # The scanner the cases above rely on does catch each form it claims to.
    from standins.harness import assert_no_secret_forms, secret_forms

    forms = secret_forms("cid", "SECRETMARK:%+/=&")
    sent = base64.b64encode(b"cid:SECRETMARK%3A%25%2B%2F%3D%26").decode()
    for text in (sent, sent.rstrip("="), "SECRETMARK%3A%25%2B%2F%3D%26", '"SECRETMARK:%+/=&"'):
        with pytest.raises(AssertionError):
            assert_no_secret_forms(forms, f"x {text} y")
    assert_no_leak("clean")
    _ = boto3  # the reader above uses the harness's real boto3 client


# --- found by review: more echo forms, the granted scope, shared secrets, deep TOML ----------------

ODD_SECRET = "SECRETMARKpL/x!k&y<z(é)"


@pytest.mark.parametrize(
    "form",
    [
        lambda s: quote(s, safe="!'()*-._~"),  # JavaScript's encodeURIComponent
        lambda s: quote(s),  # Python's default, "/" left alone
        lambda s: re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(s, safe="")),  # lower-case hex
        lambda s: s.replace("&", "&amp;").replace("<", "&lt;"),  # HTML entities
        lambda s: unicodedata.normalize("NFD", s),
    ],
    ids=["encodeURIComponent", "quote-default", "lowercase-hex", "html", "nfd"],
)
def test_more_echo_forms_are_scrubbed(harness: Harness, form: Any) -> None:
    harness.add_env("sandbox", secret=ODD_SECRET)
    harness.put_due(remaining=600)
    echoed = form(ODD_SECRET)
    harness.tokens.script(
        harness.client_id("sandbox"), [Fault.oauth_error(401, "invalid_client", f"bad {echoed} end")]
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert echoed not in result.stdout + result.stderr
    assert "[REDACTED]" in outcome(result)["error"]


def test_a_granted_scope_that_echoes_the_secret_is_never_published(harness: Harness) -> None:
    harness.add_env("sandbox", secret="SECRETMARK-Zq7pLmKw9xQQ")
    before = harness.put_due(remaining=600)
    scope = "funding:read_profile transfer:read_transfer SECRETMARK-Zq7pLmKw9xQQ"
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(scope=scope)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "scope that echoes a credential" in outcome(result)["error"]
    assert harness.stored("sandbox") == before
    harness.cli_process("status", "--json")  # the harness scans it for the secret


def test_two_environments_may_not_share_a_token_secret(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.add_env("production")
    harness.envs["production"]["token_secret"] = harness.envs["sandbox"]["token_secret"]
    result = harness.cli("run", "--json")
    assert result.exit_code == 2
    assert "token_secret: is also environment sandbox's" in result.stderr
    assert_one_clean_line(result)


def test_a_deeply_nested_config_is_a_config_error(harness: Harness, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sync_job.cli import main

    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    result = CliRunner().invoke(main, ["--config", str(path), "status"])
    assert result.exit_code == 2
    assert "not valid TOML: nested too deeply" in result.stderr
