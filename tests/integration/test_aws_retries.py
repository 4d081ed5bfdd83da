"""Which AWS refusals botocore retries for the job, across the real wire (moto's server, its
documented limits in standins/sm_limits.py): throttling and 5xx are retried within one call, a
quota refusal is not (sync_job/awserrors.py ``retry_only_what_may_pass``). botocore's standard
retry mode counts LimitExceededException among its throttling codes, so without it one refused
write is sent ``aws_max_attempts`` times, backing off up to 20 s each, and cannot pass."""

from __future__ import annotations

import json
from typing import Any

import pytest

from standins.moto_server import MotoServer
from standins.sm_limits import VERSION_QUOTA
from sync_job.awserrors import FINAL_CODES
from sync_job.errors import StoreError, WriteUnknownError
from sync_job.store import SecretStore, make_client

ATTEMPTS = 4


@pytest.fixture
def moto(moto_server: MotoServer) -> Any:
    moto_server.clear()
    yield moto_server
    moto_server.clear()


def _store() -> SecretStore:
    """The job's own client (store.make_client: standard retry mode, ATTEMPTS attempts a call)."""
    return SecretStore(make_client(max_attempts=ATTEMPTS, budget_seconds=60))


def test_a_version_quota_refusal_is_sent_once_and_keeps_the_stored_value(
    moto: MotoServer, sm: Any, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name)
    moto.freeze()
    for i in range(VERSION_QUOTA):  # the real limit: 100 versions within 24 hours
        moto.advance(0.05)
        sm.put_secret_value(SecretId=secret_name, SecretString=json.dumps({"n": i}))
    moto.advance(1)
    before = moto.count("PutSecretValue", secret_name)
    with pytest.raises(StoreError) as refused:
        _store().put_document(secret_name, {"n": "one too many"})
    assert moto.count("PutSecretValue", secret_name) - before == 1
    # Refused on its only attempt: sure it was not applied, so not "answer lost".
    assert not isinstance(refused.value, WriteUnknownError)
    assert refused.value.message == (
        f"Secrets Manager quota reached for PutSecretValue on secret {secret_name} "
        "(too many versions?); avoid forced refreshes more than every 10 minutes"
    )
    current = sm.get_secret_value(SecretId=secret_name)["SecretString"]
    assert json.loads(current) == {"n": VERSION_QUOTA - 1}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),  # the 50 writes/s rate quota (CommonErrors)
        ("InternalServiceError", 500),  # Secrets Manager's 5xx
    ],
)
def test_throttling_and_5xx_are_still_retried(
    moto: MotoServer, sm: Any, secret_name: str, code: str, status: int
) -> None:
    sm.create_secret(Name=secret_name, SecretString="{}")
    moto.inject("PutSecretValue", code, secret_id=secret_name, times=ATTEMPTS - 1, status=status)
    before = moto.count("PutSecretValue", secret_name)
    _store().put_document(secret_name, {"n": "passes on the last attempt"})
    assert moto.count("PutSecretValue", secret_name) - before == ATTEMPTS
    assert json.loads(sm.get_secret_value(SecretId=secret_name)["SecretString"]) == {
        "n": "passes on the last attempt"
    }


def test_an_injected_limit_refusal_of_a_read_is_not_retried_either(
    moto: MotoServer, sm: Any, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name, SecretString="{}")
    moto.inject("DescribeSecret", "LimitExceededException", secret_id=secret_name, times=ATTEMPTS)
    with pytest.raises(StoreError, match="quota reached for DescribeSecret"):
        _store().describe(secret_name)
    assert moto.count("DescribeSecret", secret_name) == 1


def test_only_the_quota_refusals_are_final() -> None:
    # The request-rate refusals must stay retried: only LimitExceededException is final.
    assert FINAL_CODES["secrets-manager"] == {"LimitExceededException"}
    assert FINAL_CODES["kms"] == {"LimitExceededException"}
    assert "sts" not in FINAL_CODES
