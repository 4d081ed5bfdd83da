"""`credentials put` keeps the run's promises, across the real wire (moto's server, the token
server on 127.0.0.1): one publish path (issue 18 §2), one credentials reader (§3), and reports
that say what is known when a write's answer is lost (§4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from standins.fakes import token_doc
from standins.harness import Harness
from standins.keys import certificate_pem, keypair
from standins.token_server import ClientRequest, Refusal
from tests.integration.test_credentials_put import creds_doc, creds_name, new_secret, put

SCOPES = ["funding:read_profile", "transfer:read_transfer"]


def stored_good(harness: Harness, name: str, seconds_left: int) -> dict[str, Any]:
    """A good stored token with ``seconds_left`` (issued an hour before it expires)."""
    doc = token_doc(
        f"tok-LEAKMARK-stored-{name}",
        datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds_left),
        environment=name,
        client_id=harness.client_id(name),
        token_url=str(harness.envs[name]["token_url"]),
    )
    harness.put_stored(name, doc)
    return doc


def rotate_at_provider(harness: Harness, name: str, *, lifetime: int | None = None) -> str:
    secret = new_secret()
    harness.tokens.add_client(harness.client_id(name), secret, scopes=SCOPES, lifetime=lifetime)
    return secret


def cred_versions(harness: Harness, name: str) -> int:
    answer = harness.sm.list_secret_version_ids(SecretId=creds_name(harness, name), IncludeDeprecated=True)
    return len(answer["Versions"])


# --- §2: one publish path ------------------------------------------------------------------------


def test_put_keeps_a_longer_lived_stored_token_unless_forced(harness: Harness) -> None:
    harness.add_env("sandbox")
    good = stored_good(harness, "sandbox", 3000)
    secret = rotate_at_provider(harness, "sandbox", lifetime=600)
    result = put(harness, "sandbox", secret)
    assert result.exit_code == 0, result.stderr
    assert "not published" in result.stdout and "kept the stored token" in result.stdout
    assert harness.stored("sandbox") == good  # the 3000 s token is still there
    assert creds_doc(harness, "sandbox")["client_secret"] == secret  # the rotation itself happened
    forced = put(harness, "sandbox", secret, "--force")
    assert forced.exit_code == 0, forced.stderr
    stored = harness.stored("sandbox")
    assert stored is not None and stored["access_token"] == harness.tokens.issued[-1]


@pytest.fixture
def slow_tokens(harness: Harness) -> Iterator[None]:
    # Each answer takes longer than the 1 s tokens live: expired when they arrive.
    harness.tokens.latency = 1.2
    try:
        yield
    finally:
        harness.tokens.latency = 0.0


def test_put_never_publishes_an_expired_test_token_even_forced(harness: Harness, slow_tokens: None) -> None:
    # The example: the test token had expired by publishing time, over a good token.
    harness.add_env("sandbox")
    good = stored_good(harness, "sandbox", 3000)
    secret = rotate_at_provider(harness, "sandbox", lifetime=1)
    result = put(harness, "sandbox", secret, "--force", "--json")
    assert result.exit_code == 1, result.stderr
    doc = result.json()
    assert doc["stored"] is True and doc["published"] is False
    assert "the token was not published" in doc["error"]
    assert harness.stored("sandbox") == good


# --- §3: one credentials reader -----------------------------------------------------------------


def test_put_of_a_new_key_and_certificate_names_it_by_thumbprint(harness: Harness) -> None:
    # Entra-like: the provider finds the key by the certificate's x5t / x5t#S256 only.
    harness.add_jwt_env("sandbox")
    private, _ = keypair("rsa")
    key: Any = serialization.load_pem_private_key(private.encode(), password=None)
    certificate = certificate_pem(key, name="sync-job-test")
    harness.tokens.add_client(
        harness.client_id("sandbox"),
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        certificate_pem=certificate,
    )
    result = put(harness, "sandbox", private + certificate, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["published"] is True
    assert creds_doc(harness, "sandbox")["certificate"] == certificate
    assert harness.cli("run", "--force").exit_code == 0  # a run sends the same assertion


@pytest.mark.parametrize(
    ("valid", "message"),
    [
        ((-40, -1), "expired at"),  # days from now: not_before, not_after
        ((2, 30), "not valid before"),
    ],
)
def test_put_refuses_a_certificate_outside_its_validity(
    harness: Harness, valid: tuple[int, int], message: str
) -> None:
    old = harness.add_jwt_env("sandbox")
    private, _ = keypair("rsa")
    key: Any = serialization.load_pem_private_key(private.encode(), password=None)
    now = datetime.now(UTC)
    certificate = certificate_pem(
        key, not_before=now + timedelta(days=valid[0]), not_after=now + timedelta(days=valid[1])
    )
    before = harness.token_requests("sandbox")
    result = put(harness, "sandbox", private + certificate)
    assert result.exit_code == 1
    assert message in result.stderr and "nothing stored" in result.stderr
    assert harness.token_requests("sandbox") == before  # refused before any request
    assert creds_doc(harness, "sandbox")["private_key"] == old


def test_put_sends_and_stores_the_stored_client_id_stripped(harness: Harness) -> None:
    harness.add_env("sandbox")
    doc = creds_doc(harness, "sandbox")
    doc["client_id"] += "\n"  # a pasted newline, which runs strip
    harness.sm.put_secret_value(SecretId=creds_name(harness, "sandbox"), SecretString=json.dumps(doc))
    secret = rotate_at_provider(harness, "sandbox")
    result = put(harness, "sandbox", secret)
    assert result.exit_code == 0, result.stderr
    assert "whitespace" in result.stderr
    seen = [r for r in harness.tokens.requests if r.client_id == harness.client_id("sandbox")]
    assert seen and seen[-1].form.get("client_id") == harness.client_id("sandbox")
    assert creds_doc(harness, "sandbox")["client_id"] == harness.client_id("sandbox")


@pytest.mark.parametrize("pasted", ["  {}  ", "  {}  \n", " {}"])
def test_blanks_around_a_pasted_secret_are_neither_sent_nor_stored(harness: Harness, pasted: str) -> None:
    harness.add_env("sandbox")
    secret = rotate_at_provider(harness, "sandbox")  # the provider has it without blanks
    result = put(harness, "sandbox", pasted.format(secret))
    assert result.exit_code == 0, result.stderr
    assert "whitespace" in result.stderr
    assert creds_doc(harness, "sandbox")["client_secret"] == secret


def kid_required(kid: str) -> Any:
    """A provider that selects the verification key by the assertion's ``kid``."""

    def check(request: ClientRequest) -> Refusal | None:
        assertion = request.form.get("client_assertion", [""])[0]
        if jwt.get_unverified_header(assertion).get("kid") != kid:
            return Refusal(400, "invalid_client", "unknown kid")
        return None

    return check


@pytest.mark.parametrize("explicit", [False, True])
def test_a_new_key_is_sent_with_its_own_kid(harness: Harness, explicit: bool) -> None:
    harness.add_jwt_env("sandbox", key_id="kid-of-the-old-key")
    private, public = keypair("rsa")
    kid = "kid-2026-12" if explicit else kid_of(private)
    harness.tokens.add_client(
        harness.client_id("sandbox"),
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public,
        require=kid_required(kid),
    )
    result = put(harness, "sandbox", private, *(["--key-id", kid] if explicit else []))
    assert result.exit_code == 0, result.stderr
    assert f"key_id {kid}" in result.stdout
    assert creds_doc(harness, "sandbox")["key_id"] == kid
    assert harness.cli("run", "--force").exit_code == 0  # runs send the stored kid


# --- §4: lost answers ---------------------------------------------------------------------------


def lose_credential_writes(harness: Harness) -> None:
    """Every PutSecretValue of the credentials secret is applied, its answer lost (a 500 after
    the commit), through all of botocore's retries."""
    harness.moto.inject(
        "PutSecretValue",
        "InternalServiceError",
        secret_id=creds_name(harness, "sandbox"),
        times=50,
        status=500,
        apply=True,
    )


def test_a_lost_answer_is_read_back_and_a_rerun_writes_nothing(harness: Harness) -> None:
    harness.add_env("sandbox")
    old = harness.secrets["sandbox"]
    versions = cred_versions(harness, "sandbox")
    secret = rotate_at_provider(harness, "sandbox")
    lose_credential_writes(harness)
    result = put(harness, "sandbox", secret)
    assert result.exit_code == 0, result.stderr
    assert "unchanged" not in result.stdout + result.stderr
    assert "answer was lost" in result.stdout and "AWSCURRENT" in result.stdout
    # botocore's retries carried the same ClientRequestToken: one version, whatever was retried.
    assert cred_versions(harness, "sandbox") == versions + 1
    assert creds_doc(harness, "sandbox", "AWSPREVIOUS")["client_secret"] == old

    harness.moto.clear()
    again = put(harness, "sandbox", secret)  # the runbook's re-run
    assert again.exit_code == 0, again.stderr
    assert "already AWSCURRENT; nothing written" in again.stdout
    assert cred_versions(harness, "sandbox") == versions + 1
    # Rolling back to AWSPREVIOUS still rolls back to the real old secret.
    assert creds_doc(harness, "sandbox", "AWSPREVIOUS")["client_secret"] == old


def test_a_lost_answer_that_cannot_be_read_back_is_reported_unknown(harness: Harness) -> None:
    harness.add_env("sandbox")
    old = harness.secrets["sandbox"]
    versions = cred_versions(harness, "sandbox")
    secret = new_secret()

    def then_secrets_manager_fails_reads(request: ClientRequest) -> None:
        # Called while the test request is served: after put read the credentials, before it
        # writes them. From now on the credentials secret cannot be read.
        harness.moto.inject(
            "GetSecretValue",
            "InternalServiceError",
            secret_id=creds_name(harness, "sandbox"),
            times=50,
            status=500,
        )
        return None

    harness.tokens.add_client(
        harness.client_id("sandbox"), secret, scopes=SCOPES, require=then_secrets_manager_fails_reads
    )
    lose_credential_writes(harness)
    result = put(harness, "sandbox", secret)
    assert result.exit_code == 1
    error = result.error_lines[0]
    assert "unchanged" not in error and "nothing stored" not in error
    assert "unknown" in error and "describe-secret" in error and "re-running this same put is safe" in error

    harness.moto.clear()
    harness.tokens.add_client(harness.client_id("sandbox"), secret, scopes=SCOPES)
    again = put(harness, "sandbox", secret)
    assert again.exit_code == 0, again.stderr
    assert "nothing written" in again.stdout
    assert cred_versions(harness, "sandbox") == versions + 1
    assert creds_doc(harness, "sandbox", "AWSPREVIOUS")["client_secret"] == old


def test_a_refused_write_still_says_unchanged(harness: Harness) -> None:
    harness.add_env("sandbox")
    versions = cred_versions(harness, "sandbox")
    secret = rotate_at_provider(harness, "sandbox")
    harness.moto.inject("PutSecretValue", "AccessDeniedException", secret_id=creds_name(harness, "sandbox"))
    result = put(harness, "sandbox", secret)
    assert result.exit_code == 1
    assert "the credentials secret is unchanged" in result.error_lines[0]
    assert cred_versions(harness, "sandbox") == versions


def kid_of(private_pem: str) -> str:
    """The RFC 7638 thumbprint of a PEM key's public half, by the jwks command's code."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from sync_job.jwks import thumbprint

    return thumbprint(load_pem_private_key(private_pem.encode(), password=None).public_key())


@pytest.mark.parametrize("value", ["", " kid", "kid\n", "k\x1b[31mid", "k\u202eid"])
def test_a_key_id_or_client_id_that_would_break_a_line_is_a_usage_error(harness: Harness, value: str) -> None:
    harness.add_env("sandbox")
    before = harness.token_requests("sandbox")
    for option in ("--key-id", "--client-id"):
        result = put(harness, "sandbox", new_secret(), option, value)
        assert result.exit_code == 2 and "must be non-empty printable text" in result.stderr
        assert "\x1b" not in result.stderr
    assert harness.token_requests("sandbox") == before
