"""Issue 19 §3 across the real wire: providers as they really behave. Each test runs the real CLI
against moto's Secrets Manager server and a token endpoint on 127.0.0.1 (standins/), with
the provider's documented behaviour switched on in the stand-in."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from standins.aws import DUMMY_AWS, REGION
from standins.fakes import token_doc
from standins.harness import Harness
from standins.moto_server import MotoServer
from standins.raw_server import Play, RawServer, response
from standins.token_server import Fault, TokenServer
from sync_job.bearer import jwt_expiry, parse_timestamp
from sync_job.reader import TokenReader, TokenUnavailableError


@pytest.fixture
def skewed(token_server: TokenServer) -> Iterator[TokenServer]:
    """The session's token server with no assertion leeway (Keycloak's), clock restored after."""
    token_server.assertion_leeway = 0
    yield token_server
    token_server.clock_offset = 0.0
    token_server.assertion_leeway = 5


# --- clock skew: a private_key_jwt assertion is not "from the future" on a server behind ------------


@pytest.mark.parametrize("behind", [1, 2, 30, 59], ids=["1s", "2s", "30s", "59s"])
def test_assertion_accepted_by_a_server_whose_clock_is_behind(
    harness: Harness, skewed: TokenServer, behind: int
) -> None:
    # keycloak/keycloak#8966: nbf/iat = "now" is refused with "Token is not active" by a server
    # 1 s behind. The job backdates both by oauth.ASSERTION_BACKDATE_SECONDS (60 s).
    skewed.clock_offset = -behind
    harness.add_jwt_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"


def test_assertion_refused_by_a_server_far_behind_says_so(harness: Harness, skewed: TokenServer) -> None:
    # The tolerance is bounded: a server two minutes behind refuses the assertion as not yet
    # valid, and the operator reads the provider's refusal (so this test can fail).
    skewed.clock_offset = -120
    harness.add_jwt_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "invalid_client" in error and harness.stored("sandbox") is None


# --- lifetimes: a JWT access token whose exp agrees with expires_in publishes expires_in ------------


@pytest.fixture
def jwt_server(token_server: TokenServer) -> Iterator[TokenServer]:
    """The session's token server issuing JWT access tokens of 1800 s (exp - iat == expires_in,
    as Auth0, Entra ID, Keycloak and Okta issue them), restored after."""
    lifetime = token_server.lifetime
    token_server.jwt_access_tokens = True
    token_server.lifetime = 1800
    yield token_server
    token_server.jwt_access_tokens = False
    token_server.lifetime = lifetime


@pytest.mark.parametrize("run", range(3))
def test_agreeing_jwt_and_expires_in_publish_the_servers_expires_in(
    harness: Harness, jwt_server: TokenServer, run: int
) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None and stored["access_token"] in jwt_server.issued
    assert stored["expires_in"] == 1800 and "expires_in_source" not in stored
    issued, expires = parse_timestamp(stored["issued_at"]), parse_timestamp(stored["expires_at"])
    assert issued is not None and expires is not None
    assert (expires - issued).total_seconds() == 1800


def test_an_earlier_jwt_exp_still_bounds_expires_in(harness: Harness, jwt_server: TokenServer) -> None:
    # The server claims 1900 s, its token's own exp says 1800 s: the token's word wins, and the
    # published expires_at never passes exp.
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=1900)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None
    assert stored["expires_in"] == 1800 and stored["expires_in_source"] == "jwt"
    exp = jwt_expiry(stored["access_token"])
    expires = parse_timestamp(stored["expires_at"])
    assert exp is not None and expires is not None and expires.timestamp() <= exp


# --- TokenReader() without a client: the region where only AWS_REGION is set -----------------------


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer, tmp_path: Path) -> None:
    """The dummy credentials and moto's endpoint from the environment, no region anywhere yet
    (no config file either), as a consumer's process sees them."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, DUMMY_AWS[name])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETSMANAGER", moto_server.endpoint)


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_token_reader_without_a_client_takes_the_region_the_job_takes(
    aws_environment: None, monkeypatch: pytest.MonkeyPatch, sm: Any, variable: str
) -> None:
    # The README's quick start sets only AWS_REGION (what Lambda and the AWS CLI v2 read); boto3
    # alone reads only AWS_DEFAULT_REGION and failed with NoRegionError.
    monkeypatch.setenv(variable, REGION)
    name = f"reader-region-{uuid.uuid4().hex[:8]}"
    doc = token_doc("tok-LEAKMARK-region", datetime.now(UTC) + timedelta(hours=1))
    sm.create_secret(Name=name, SecretString=json.dumps(doc))
    assert TokenReader(name).token() == "tok-LEAKMARK-region"


def test_token_reader_with_no_region_at_all_says_what_to_set(aws_environment: None) -> None:
    with pytest.raises(TokenUnavailableError, match="no AWS region; set AWS_REGION"):
        TokenReader("reader-no-region").token()


# --- error wording: what was refused, by whom -------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(401),
        Fault.status(401, headers={"WWW-Authenticate": 'Basic realm="token"'}),
        Fault.status(401, "<html><body>Unauthorized</body></html>", content_type="text/html"),
        Fault.status(401, "{}", content_type="application/json"),
    ],
    ids=["empty", "www-authenticate-only", "html", "empty-json-object"],
)
def test_a_401_without_an_error_object_says_the_credentials_were_refused(
    harness: Harness, fault: Fault
) -> None:
    # RFC 6749 §5.2: 401 answers a client that failed to authenticate; it is not a wrong URL.
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [fault])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "the client credentials were refused (HTTP 401" in error, error
    assert "check client_id and the client secret" in error and "check token_url" not in error
    assert result.json()["results"][0]["attempts"] == 1  # not retried: the server meant it


PROXY_407 = response(
    407,
    headers=[("Proxy-Authenticate", 'Basic realm="corp"')],
    reason="Proxy Authentication Required",
)


@pytest.fixture
def refusing_proxy(monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer) -> Iterator[RawServer]:
    """A proxy on 127.0.0.1 that answers every request (and CONNECT) with 407; moto's endpoint
    is exempt (NO_PROXY), so only token requests meet it."""
    with RawServer(Play.send(PROXY_407)) as proxy:
        moto_port = moto_server.endpoint.rsplit(":", 1)[1]
        monkeypatch.setenv("NO_PROXY", f"127.0.0.1:{moto_port}")
        yield proxy


def test_a_proxys_407_to_a_plain_request_is_reported_against_the_proxy(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, refusing_proxy: RawServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", refusing_proxy.endpoint)
    harness.add_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert error.startswith("the HTTP proxy refused the request to 127.0.0.1"), error
    assert "HTTP 407 Proxy Authentication Required" in error and "check token_url" not in error
    assert refusing_proxy.requests >= 1 and harness.token_requests("sandbox") == 0


def test_a_proxys_407_to_connect_is_reported_against_the_proxy(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, refusing_proxy: RawServer
) -> None:
    # An https:// token URL goes through the proxy's CONNECT tunnel (RFC 9110 §9.3.6); the
    # token host (nothing listens there) is never reached.
    monkeypatch.setenv("HTTPS_PROXY", refusing_proxy.endpoint)
    harness.add_env("sandbox")
    harness.envs["sandbox"]["token_url"] = "https://127.0.0.1:9/oauth2/token"
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert error.startswith("the HTTPS proxy refused the tunnel to 127.0.0.1:9 (HTTP 407"), error
    assert "cannot reach" not in error
    assert refusing_proxy.requests >= 1


@pytest.mark.parametrize(
    "settings",
    [
        {"REQUESTS_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": "  "},
        {"AWS_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""},
    ],
    ids=["requests-empty", "requests-blank", "aws-empty", "requests-and-curl-empty"],
)
def test_a_blank_ca_bundle_variable_counts_as_unset(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]
) -> None:
    # botocore refuses REQUESTS_CA_BUNDLE= with InvalidConfigError when a client is made (an
    # "internal error" of every command); requests counts it as unset. Now both do.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    harness.add_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"
    assert harness.cli("status", "--json").exit_code == 0
    stored = harness.stored("sandbox")
    assert stored is not None
    assert TokenReader(harness.token_secret("sandbox")).token() == stored["access_token"]


# --- rate limits: Okta's own header ------------------------------------------------------------------


def test_okta_rate_limit_reset_is_honoured_without_retry_after(harness: Harness) -> None:
    # Okta answers 429 with X-Rate-Limit-Reset (UTC epoch seconds) and no Retry-After: the job
    # waits until then (about 2 s here), not the 300 s it assumes without either header.
    harness.defaults["run_timeout_seconds"] = 20  # a wait past the run's budget ends the run at once
    harness.add_env("sandbox", max_attempts=3)
    reset = str(int(time.time()) + 2)
    harness.tokens.script(
        harness.client_id("sandbox"),
        [Fault.status(429, '{"errorCode": "E0000047"}', {"X-Rate-Limit-Reset": reset}, "application/json")],
    )
    started = time.monotonic()
    result = harness.cli("run", "--json")
    took = time.monotonic() - started
    assert result.exit_code == 0, result.stdout
    assert result.json()["results"][0]["outcome"] == "refreshed"
    assert result.json()["results"][0]["attempts"] == 2
    assert 0.5 < took < 10


@pytest.mark.parametrize(
    ("reset_in", "shown"),
    [(3600, "retry after 3600 s"), (7 * 86400, "retry after 86400 s")],
    ids=["an-hour", "capped-at-a-day"],
)
def test_okta_rate_limit_reset_far_ahead_is_reported_as_the_wait(
    harness: Harness, reset_in: int, shown: str
) -> None:
    harness.defaults["run_timeout_seconds"] = 20  # a wait past the run's budget ends the run at once
    harness.add_env("sandbox", max_attempts=3)
    reset = str(int(time.time()) + reset_in)
    harness.tokens.script(
        harness.client_id("sandbox"), [Fault.status(429, "", {"X-Rate-Limit-Reset": reset})]
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    # Within a second or two of the header's reset (the run takes a moment).
    wanted = int(shown.split()[2])
    found = int(error.split("retry after ")[1].split(" s")[0])
    assert wanted - 5 <= found <= wanted, error


@pytest.mark.parametrize(
    "value", ["120", "soon", "-5", "1" * 20], ids=["a-delta-not-an-epoch", "text", "negative", "huge"]
)
def test_an_unreadable_rate_limit_reset_falls_back_to_the_lockout(harness: Harness, value: str) -> None:
    harness.defaults["run_timeout_seconds"] = 20  # a wait past the run's budget ends the run at once
    harness.add_env("sandbox", max_attempts=3, rate_limit_lockout_seconds=300)
    harness.tokens.script(
        harness.client_id("sandbox"), [Fault.status(429, "", {"X-Rate-Limit-Reset": value})]
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "retry after 300 s" in result.json()["results"][0]["error"]
