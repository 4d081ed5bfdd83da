"""Secrets Manager's documented limits, enforced by the one moto wrapper (standins/moto_server.py
with standins/sm_limits.py), proven across the real wire with boto3; AWS sources in sm_limits.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from standins.aws import client
from standins.moto_server import MotoServer
from standins.sm_limits import MAX_SECRET_STRING_BYTES, VERSION_QUOTA, WRITE_RATE_PER_SECOND
from sync_job.awserrors import secretsmanager_error
from sync_job.errors import SecretDeletedError, ThrottledError
from sync_job.store import SecretStore


@pytest.fixture
def limits(moto_server: MotoServer) -> Iterator[MotoServer]:
    """The session's moto server, its limits' clock back to real time afterwards."""
    moto_server.clear()
    yield moto_server
    moto_server.clear()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _no_retries(moto: MotoServer) -> Any:
    """A client that does not retry: boto3's default retries ThrottlingException, and a test of
    the refusal itself must see the first answer."""
    import boto3

    from standins.aws import DUMMY_AWS

    return boto3.client(
        "secretsmanager",
        endpoint_url=moto.endpoint,
        region_name=DUMMY_AWS["AWS_REGION"],
        aws_access_key_id=DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_AWS["AWS_SESSION_TOKEN"],
        config=BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def _versions(sm: Any, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"SecretId": name, "IncludeDeprecated": True}
    for _ in range(10):  # bounded: a few pages at most here
        page = sm.list_secret_version_ids(**kwargs)
        out += page["Versions"]
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]
    raise AssertionError("ListSecretVersionIds kept paging")


def test_the_101st_version_within_24_hours_is_refused_and_ages_out(
    limits: MotoServer, sm: Any, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name)  # no value: no version yet
    limits.freeze()  # the clock moves only as the test says, so the ages below are exact
    for i in range(VERSION_QUOTA):
        limits.advance(0.05)  # 20 writes/s: under the write rate, so only the quota can refuse
        sm.put_secret_value(SecretId=secret_name, SecretString=f'{{"n": {i}}}')
    held = _versions(sm, secret_name)
    assert len(held) == VERSION_QUOTA  # every one listed with IncludeDeprecated, over two pages
    labelled = sm.list_secret_version_ids(SecretId=secret_name)["Versions"]
    assert {s for v in labelled for s in v["VersionStages"]} == {"AWSCURRENT", "AWSPREVIOUS"}
    assert len(labelled) == 2  # without IncludeDeprecated the unlabelled ones are left out
    limits.advance(1)
    with pytest.raises(ClientError) as refused:
        sm.put_secret_value(SecretId=secret_name, SecretString='{"n": "one too many"}')
    assert _code(refused) == "LimitExceededException"
    assert "quota reached" in secretsmanager_error(refused.value, "PutSecretValue", secret_name).message
    # An idempotent retry of an existing version creates none: not refused.
    token = held[0]["VersionId"]
    current = sm.get_secret_value(SecretId=secret_name, VersionId=token)["SecretString"]
    sm.put_secret_value(SecretId=secret_name, SecretString=current, ClientRequestToken=token)
    # Moving a label creates no version either.
    current_id = next(v["VersionId"] for v in held if "AWSCURRENT" in v["VersionStages"])
    other = next(v["VersionId"] for v in held if not v["VersionStages"])
    sm.update_secret_version_stage(
        SecretId=secret_name, VersionStage="AWSCURRENT", MoveToVersionId=other, RemoveFromVersionId=current_id
    )
    # 24 hours after the first of them, one has aged out: exactly one more fits.
    limits.advance(86400 - (VERSION_QUOTA * 0.05 + 1) + 0.05 + 0.01)
    sm.put_secret_value(SecretId=secret_name, SecretString='{"n": "next day"}')
    with pytest.raises(ClientError) as again:
        sm.put_secret_value(SecretId=secret_name, SecretString='{"n": "and one more"}')
    assert _code(again) == "LimitExceededException"


def test_versions_are_listed_with_their_own_creation_dates(
    limits: MotoServer, sm: Any, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name, SecretString="{}")
    limits.advance(3600)
    sm.put_secret_value(SecretId=secret_name, SecretString='{"a": 1}')
    dates = sorted(v["CreatedDate"].timestamp() for v in _versions(sm, secret_name))
    assert len(dates) == 2
    assert 3599 <= dates[1] - dates[0] <= 3601


@pytest.mark.parametrize("fill", ["a", "é", "🔑"])  # 1, 2 and 4 bytes a character: the limit is bytes
def test_secret_string_over_65536_bytes_is_a_validation_error(
    limits: MotoServer, sm: Any, secret_name: str, fill: str
) -> None:
    sm.create_secret(Name=secret_name)
    width = len(fill.encode())
    at_limit = fill * (MAX_SECRET_STRING_BYTES // width)
    sm.put_secret_value(SecretId=secret_name, SecretString=at_limit)
    with pytest.raises(ClientError) as refused:
        sm.put_secret_value(SecretId=secret_name, SecretString=at_limit + fill)
    assert _code(refused) == "ValidationException"
    with pytest.raises(ClientError) as update:
        sm.update_secret(SecretId=secret_name, SecretString=at_limit + fill)
    assert _code(update) == "ValidationException"


def test_no_new_value_for_a_secret_scheduled_for_deletion(
    limits: MotoServer, sm: Any, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name, SecretString="{}")
    sm.delete_secret(SecretId=secret_name, RecoveryWindowInDays=7)
    with pytest.raises(ClientError) as refused:
        sm.put_secret_value(SecretId=secret_name, SecretString='{"a": 1}')
    assert _code(refused) == "InvalidRequestException"
    # The job says what it is and how to undo it.
    store = SecretStore(client("secretsmanager", limits.endpoint))
    with pytest.raises(SecretDeletedError, match="restore-secret"):
        store.put_document(secret_name, {"a": 1})
    sm.restore_secret(SecretId=secret_name)
    sm.put_secret_value(SecretId=secret_name, SecretString='{"a": 2}')


def test_more_than_50_writes_a_second_are_throttled_reads_are_not(
    limits: MotoServer, secret_name: str
) -> None:
    sm = _no_retries(limits)
    sm.create_secret(Name=secret_name, SecretString="{}")
    limits.freeze()  # every call below falls in one second of the window
    current = sm.get_secret_value(SecretId=secret_name)["VersionId"]
    for i in range(WRITE_RATE_PER_SECOND // 2):  # the job's publish: a put, then a label move
        answer = sm.put_secret_value(SecretId=secret_name, SecretString=f'{{"n": {i}}}', VersionStages=["P"])
        sm.update_secret_version_stage(
            SecretId=secret_name,
            VersionStage="AWSCURRENT",
            MoveToVersionId=answer["VersionId"],
            RemoveFromVersionId=current,
        )
        current = answer["VersionId"]
    with pytest.raises(ClientError) as refused:
        sm.update_secret(SecretId=secret_name, Description="one write too many")
    assert _code(refused) == "ThrottlingException"
    for _ in range(WRITE_RATE_PER_SECOND + 10):  # reads have their own, far higher quota
        sm.get_secret_value(SecretId=secret_name)
    # Another second: room again. The refused write did not take a place in the window.
    limits.advance(1.001)
    for i in range(WRITE_RATE_PER_SECOND):
        sm.update_secret(SecretId=secret_name, Description=f"write {i}")
    with pytest.raises(ClientError):
        sm.update_secret(SecretId=secret_name, Description="51st")


def test_the_job_names_a_throttled_write(limits: MotoServer, secret_name: str) -> None:
    sm = _no_retries(limits)
    sm.create_secret(Name=secret_name, SecretString="{}")
    limits.freeze()
    for _ in range(WRITE_RATE_PER_SECOND):
        assert limits.rules.refusal("UpdateSecret") is None  # another writer took this second's places
    with pytest.raises(ThrottledError, match="throttled PutSecretValue"):
        SecretStore(sm).put_document(secret_name, {"a": 1})
