"""BatchGetSecretValue as the store uses it: only AWSCURRENT answers are used, and anything the
batch did not return as AWSCURRENT is read on its own (a fake client: the cases AWS and moto
rarely produce on demand)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import botocore.exceptions

from standins.fakes import valid_doc
from sync_job.store import CURRENT_STAGE, SecretStore

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class BatchClient:
    """Answers BatchGetSecretValue from ``batch`` (entries) and ``errors``; GetSecretValue from
    ``current``; records every call."""

    def __init__(
        self, current: dict[str, str], batch: list[dict[str, Any]], errors: list[dict[str, str]]
    ) -> None:
        self.current, self.batch, self.errors = current, batch, errors
        self.calls: list[tuple[str, Any]] = []

    def batch_get_secret_value(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("BatchGetSecretValue", tuple(params["SecretIdList"])))
        if self.batch is None:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchGetSecretValue"
            )
        return {"SecretValues": self.batch, "Errors": self.errors}

    def get_secret_value(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("GetSecretValue", params))
        assert params["VersionStage"] == CURRENT_STAGE
        return {"VersionId": "v-current", "SecretString": self.current[params["SecretId"]]}


def doc(name: str, token: str) -> str:
    return json.dumps(valid_doc(name, remaining=3000, token=token))


def test_only_awscurrent_answers_of_a_batch_are_used() -> None:
    current = {"a": doc("a", "tok-a-current"), "b": doc("b", "tok-b-current"), "c": doc("c", "tok-c-current")}
    batch = [
        {
            "Name": "a",
            "ARN": "arn:a",
            "VersionId": "v1",
            "VersionStages": ["AWSCURRENT"],
            "SecretString": current["a"],
        },
        # A stale version (as moto 5 answers after a label move): never used.
        {
            "Name": "b",
            "ARN": "arn:b",
            "VersionId": "v0",
            "VersionStages": ["AWSPREVIOUS"],
            "SecretString": doc("b", "tok-b-old"),
        },
    ]
    errors = [{"SecretId": "c", "ErrorCode": "InternalServiceError", "Message": "try again"}]
    client = BatchClient(current, batch, errors)
    found = SecretStore(cast("SecretsManagerClient", client)).read_tokens(["a", "b", "c"])
    tokens = {
        k: v.payload.access_token.reveal()
        for k, v in found.items()
        if not isinstance(v, Exception) and v.payload
    }
    assert tokens == {"a": "tok-a-current", "b": "tok-b-current", "c": "tok-c-current"}
    assert [c[0] for c in client.calls] == ["BatchGetSecretValue", "GetSecretValue", "GetSecretValue"]


def test_a_refused_batch_reads_each_secret_and_chunks_are_twenty() -> None:
    names = [f"s{i}" for i in range(45)]
    client = BatchClient({n: doc(n, f"tok-{n}") for n in names}, None, [])  # type: ignore[arg-type]
    found = SecretStore(cast("SecretsManagerClient", client)).read_tokens(names)
    assert len(found) == 45
    batches = [c for c in client.calls if c[0] == "BatchGetSecretValue"]
    assert [len(c[1]) for c in batches] == [20, 20, 5]
    assert sum(1 for c in client.calls if c[0] == "GetSecretValue") == 45
