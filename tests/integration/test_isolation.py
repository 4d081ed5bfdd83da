"""Identity and isolation across environments (issue 18 §5), across the real wire: secrets
compared by identity not spelling, one environment's trouble its own, no cookie shared between
environments' token requests, endpoint_params names compared as a server may."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from standins.harness import Harness
from standins.keys import certificate_pem, keypair
from standins.token_server import ClientRequest, Fault, Refusal
from sync_job.config import parse_config
from sync_job.errors import ConfigError
from sync_job.secret_ids import may_be_same, secret_ref

ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:"


def config(alpha: str, beta: str) -> dict[str, Any]:
    def env(token_secret: str) -> dict[str, Any]:
        return {
            "token_url": "https://oauth.example.com/token",
            "credentials_secret": "c",
            "token_secret": token_secret,
        }

    return {"environments": {"alpha": env(alpha), "beta": env(beta)}}


@pytest.mark.parametrize(
    ("alpha", "beta"),
    [
        ("prod/token", "prod/token"),
        ("prod/token", ARN + "prod/token"),  # partial ARN
        ("prod/token", ARN + "prod/token-a1B2c3"),  # full ARN (name + 6-character suffix)
        (ARN + "prod/token", ARN + "prod/token-a1B2c3"),
        (ARN + "prod/token-a1B2c3", "prod/token"),
    ],
)
def test_one_token_secret_under_two_spellings_is_refused(alpha: str, beta: str) -> None:
    with pytest.raises(ConfigError, match=r"environments\.beta\.token_secret: is also environment alpha's"):
        parse_config(config(alpha, beta))


@pytest.mark.parametrize(
    ("alpha", "beta"),
    [
        ("prod/token", "prod/token-2"),
        (ARN + "prod/token", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/token"),  # region
        (ARN + "prod/token", "arn:aws:secretsmanager:us-east-1:444455556666:secret:prod/token"),  # account
        ("Prod/Token", "prod/token"),  # secret names are case-sensitive
    ],
)
def test_distinct_secrets_pass(alpha: str, beta: str) -> None:
    assert len(parse_config(config(alpha, beta)).environments) == 2
    assert not may_be_same(alpha, beta)


def test_secret_ref_reads_names_region_and_account() -> None:
    ref = secret_ref(ARN + "a/b-XyZ123")
    assert ref.names == {"a/b-XyZ123", "a/b"} and ref.region == "us-east-1" and ref.account == "111122223333"
    assert secret_ref("a/b").names == {"a/b"} and secret_ref("a/b").region is None


def test_token_of_another_environment_spelled_differently_is_refused_across_the_wire(
    harness: Harness,
) -> None:
    # The example: `token beta` printed alpha's token. Now the config is refused first.
    harness.add_env("alpha")
    harness.add_env("beta", create_token_secret=False)
    arn = harness.sm.describe_secret(SecretId=harness.token_secret("alpha"))["ARN"]
    harness.envs["beta"]["token_secret"] = arn
    assert harness.cli("run", "--env", "alpha").exit_code == 2
    out = harness.cli("token", "beta")
    assert out.exit_code == 2 and "is also environment alpha's" in out.stderr
    assert out.stdout == ""


# --- one environment's trouble stays its own --------------------------------------------------


def test_a_certificate_only_one_environment_uses_fails_only_that_one(harness: Harness) -> None:
    # alpha (client_secret_post) and beta (private_key_jwt) share one credentials secret; the
    # certificate beta's key carries has expired.
    harness.add_env("alpha")
    shared = str(harness.envs["alpha"]["credentials_secret"])
    private, public = keypair("rsa")
    key: Any = serialization.load_pem_private_key(private.encode(), password=None)
    now = datetime.now(UTC)
    doc = json.loads(harness.sm.get_secret_value(SecretId=shared)["SecretString"])
    doc["private_key"] = private
    doc["certificate"] = certificate_pem(
        key, not_before=now - timedelta(days=40), not_after=now - timedelta(days=1)
    )
    harness.sm.put_secret_value(SecretId=shared, SecretString=json.dumps(doc))
    table = harness.add_env(
        "beta", auth_method="private_key_jwt", public_key_pem=public, credentials={"client_id": "x"}
    )
    table["credentials_secret"] = shared
    out = harness.cli("run", "--json")
    assert out.exit_code == 1
    results = {r["environment"]: r for r in out.json()["results"]}
    assert results["alpha"]["outcome"] == "refreshed", results["alpha"]
    assert results["beta"]["outcome"] == "failed" and "expired" in results["beta"]["error"]


# --- cookies -----------------------------------------------------------------------------------


def test_a_cookie_one_environment_got_never_goes_with_another_s_request(harness: Harness) -> None:
    harness.defaults["max_workers"] = 1  # alpha's answer (and its cookie) before beta's request
    harness.add_env("alpha")
    seen: list[str] = []

    def no_cookie(request: ClientRequest) -> Refusal | None:
        cookies = [v for k, v in request.headers.items() if k.lower() == "cookie"]
        seen.extend(cookies)
        return Refusal(400, "invalid_request", "a cookie came with the request") if cookies else None

    table = harness.add_env("beta")
    harness.tokens.add_client(
        harness.client_id("beta"), harness.secrets["beta"], scopes=table["scopes"], require=no_cookie
    )
    token = {"access_token": "alpha-cookie-token", "token_type": "bearer", "expires_in": 3600}
    harness.tokens.script(
        harness.client_id("alpha"),
        [
            Fault.status(
                200,
                json.dumps(token),
                headers={"Set-Cookie": "session=alpha-session; Path=/"},
                content_type="application/json",
            )
        ],
    )
    out = harness.cli("run", "--json")
    assert out.exit_code == 0, out.stderr
    assert harness.token_requests("beta") == 1  # after alpha's, over the same session
    assert seen == []


# --- endpoint_params ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SCOPE", "Grant_Type", "CLIENT_ID", "Client_Assertion_Type", "sCoPe"])
def test_endpoint_params_naming_a_grant_field_in_any_case_are_refused(name: str) -> None:
    raw = config("a", "b")
    raw["environments"]["alpha"]["endpoint_params"] = {name: "x"}
    with pytest.raises(ConfigError, match="is set by the grant itself"):
        parse_config(raw)


@pytest.mark.parametrize("name", [" scope", "scope ", "grant type"])
def test_endpoint_params_names_with_blanks_are_refused(name: str) -> None:
    raw = config("a", "b")
    raw["environments"]["alpha"]["endpoint_params"] = {name: "x"}
    with pytest.raises(ConfigError):
        parse_config(raw)


def test_a_token_secret_holding_another_environment_s_token_is_never_served_as_its_own(
    harness: Harness,
) -> None:
    # Whatever the spelling check cannot see (a token copied by hand, an environment renamed):
    # `token beta` must not print alpha's token, and a run replaces it with beta's own.
    harness.add_env("alpha")
    harness.add_env("beta")
    assert harness.cli("run", "--env", "alpha").exit_code == 0
    alpha = harness.stored("alpha")
    assert alpha is not None
    harness.put_stored("beta", alpha)
    out = harness.cli("token", "beta")
    assert out.exit_code == 1 and out.stdout == ""
    assert alpha["access_token"] not in out.stderr
    status = harness.cli("status", "--env", "beta", "--json")
    assert '"invalid"' in status.stdout and "holds environment 'alpha'" in status.stdout
    run = harness.cli("run", "--env", "beta", "--json")
    assert run.exit_code == 0 and run.json()["results"][0]["outcome"] == "refreshed"
    beta = harness.stored("beta")
    assert beta is not None and beta["environment"] == "beta"
    printed = harness.cli("token", "beta")
    assert printed.exit_code == 0 and printed.stdout.strip() == beta["access_token"]
