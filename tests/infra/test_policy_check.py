"""The least-privilege checker that tests/infra/test_terraform_apply.py runs on the applied state:
shown here to catch what it must catch, on documents shaped like `terraform show -json`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from standins.policy_check import check_document, find_wildcard_grants

pytestmark = pytest.mark.infra

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:paxos/sandbox/access-token-AbCdEf"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def show_json(
    resources: list[dict[str, Any]], children: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "values": {
            "root_module": {
                "resources": [],
                "child_modules": [
                    {"address": "module.sync_job", "resources": resources, "child_modules": children or []}
                ],
            }
        }
    }


def resource(type_: str, name: str, **values: Any) -> dict[str, Any]:
    return {
        "address": f"module.sync_job.{type_}.{name}",
        "mode": "managed",
        "type": type_,
        "name": name,
        "values": values,
    }


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s*:Get*", "Resource": "*"},
        {"Effect": "Allow", "Action": "KMS:GenerateDataKey", "Resource": ["arn:aws:kms:*:*:key/*"]},
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
        },
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "NotResource": SECRET},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue"],
            "Resource": "*",
        },
    ],
)
def test_flags_sensitive_actions_on_every_resource(statement: dict[str, Any]) -> None:
    assert check_document("x", doc(statement)), statement


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY},
        {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": ["logs:PutLogEvents", "xray:PutTraceSegments"], "Resource": "*"},
        {"Effect": "Allow", "NotAction": ["secretsmanager:*", "kms:*"], "Resource": "*"},
        # Has no resource type and grants nothing without GetSecretValue on each secret.
        {"Effect": "Allow", "Action": "secretsmanager:BatchGetSecretValue", "Resource": "*"},
    ],
)
def test_passes_scoped_denied_and_unrelated_statements(statement: dict[str, Any]) -> None:
    assert check_document("x", doc(statement)) == []


def test_reads_every_policy_carrying_resource_and_exempts_key_policies() -> None:
    bad = doc({"Sid": "Oops", "Effect": "Allow", "Action": "secretsmanager:PutSecretValue", "Resource": "*"})
    good = doc({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET})
    key_policy = doc(
        {
            "Effect": "Allow",
            "Action": "kms:*",
            "Resource": "*",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        }
    )
    state = show_json(
        [
            resource("aws_iam_role_policy", "job", policy=json.dumps(good)),
            resource("aws_kms_key", "this", policy=json.dumps(key_policy)),
            resource(
                "aws_iam_role",
                "job",
                assume_role_policy=json.dumps(doc()),
                inline_policy=[{"name": "inline", "policy": json.dumps(bad)}],
            ),
        ],
        children=[
            {
                "address": "module.sync_job.module.extra",
                "resources": [
                    resource("aws_secretsmanager_secret_policy", "token", policy=json.dumps(bad)),
                ],
            }
        ],
    )
    findings, documents = find_wildcard_grants(state)
    assert documents == 4  # job policy, trust policy, inline policy, secret policy; not the key's
    assert sorted(f.address for f in findings) == [
        "module.sync_job.aws_iam_role.job.inline_policy[inline]",
        "module.sync_job.aws_secretsmanager_secret_policy.token.policy",
    ]
    assert all(f.sid == "Oops" for f in findings)
    assert "allows secretsmanager:PutSecretValue on *" in str(findings[0])


def test_data_sources_are_not_read() -> None:
    """Only what is attached counts; the key policy's data source is exempt with its key."""
    wide = doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    data = {
        "address": "data.aws_iam_policy_document.key",
        "mode": "data",
        "type": "aws_iam_policy_document",
        "name": "key",
        "values": {"json": json.dumps(wide)},
    }
    assert find_wildcard_grants(show_json([data])) == ([], 0)
