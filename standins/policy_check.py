"""Find IAM policy statements that allow a Secrets Manager or KMS action on every resource.

Reads Terraform's JSON (``terraform show -json``: state or plan) and looks at every policy
document a resource carries: IAM role inline policies, managed policies, user/group policies,
Secrets Manager resource policies, SQS/SNS/Lambda resource policies. KMS key policies are
exempt: in a key policy, ``"Resource": "*"`` means the key the policy is attached to, and AWS
allows nothing else there.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# resource type -> attributes that hold a JSON policy document
POLICY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "aws_iam_role_policy": ("policy",),
    "aws_iam_policy": ("policy",),
    "aws_iam_user_policy": ("policy",),
    "aws_iam_group_policy": ("policy",),
    "aws_iam_role": ("assume_role_policy",),
    "aws_secretsmanager_secret_policy": ("policy",),
    "aws_secretsmanager_secret": ("policy",),
    "aws_sqs_queue_policy": ("policy",),
    "aws_sqs_queue": ("policy",),
    "aws_sns_topic_policy": ("policy",),
    "aws_lambda_permission": (),
}
EXEMPT_TYPES = {"aws_kms_key": "key policy: Resource '*' means this key"}
# Actions that have no resource type, so can only be granted on "*", and that grant nothing by
# themselves: BatchGetSecretValue returns only the secrets the caller may GetSecretValue on
# (AWS Secrets Manager API reference, BatchGetSecretValue, "Required permissions").
NEEDS_STAR = {"secretsmanager:batchgetsecretvalue"}
SENSITIVE_SERVICES = ("secretsmanager", "kms")


@dataclass(frozen=True)
class Finding:
    address: str
    sid: str | None
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.address} statement {self.sid or '(no Sid)'} allows "
            f"{', '.join(self.actions)} on {', '.join(self.resources)}"
        )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def is_sensitive_action(action: str) -> bool:
    """True when the action pattern can match a secretsmanager:* or kms:* action."""
    action = action.lower()
    if action == "*":
        return True
    service, _, name = action.partition(":")
    return any(fnmatch.fnmatchcase(s, service) for s in SENSITIVE_SERVICES) and bool(name)


def is_wildcard_resource(resource: str) -> bool:
    """``*``, or an ARN pattern naming every secret or every key."""
    if resource == "*":
        return True
    lowered = resource.lower()
    return lowered.endswith((":secret:*", ":key/*", ":alias/*", ":secretsmanager:*", ":kms:*"))


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    found = document.get("Statement", [])
    yield from ([found] if isinstance(found, dict) else found)


def check_document(address: str, document: dict[str, Any]) -> list[Finding]:
    findings = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = [
            a
            for a in _as_list(statement.get("Action"))
            if is_sensitive_action(a) and a.lower() not in NEEDS_STAR
        ]
        if "NotAction" in statement:
            # "everything but ..." includes secretsmanager and kms unless it excludes them all.
            excluded = _as_list(statement["NotAction"])
            if not all(
                any(fnmatch.fnmatchcase(f"{s}:x", e.lower()) for e in excluded) for s in SENSITIVE_SERVICES
            ):
                actions.append(f"NotAction {excluded}")
        if not actions:
            continue
        if "NotResource" in statement:
            broad = [f"NotResource {_as_list(statement['NotResource'])}"]
        else:
            broad = [r for r in _as_list(statement.get("Resource")) if is_wildcard_resource(r)]
        if broad:
            findings.append(Finding(address, statement.get("Sid"), tuple(actions), tuple(broad)))
    return findings


def _resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _resources(child)


def policy_documents(show_json: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(address, parsed document) for every policy of a managed resource, key policies excluded."""
    values = show_json.get("values") or show_json.get("planned_values") or {}
    for resource in _resources(values.get("root_module", {})):
        if resource.get("mode") != "managed" or resource["type"] in EXEMPT_TYPES:
            continue
        attributes = resource.get("values") or {}
        for name in POLICY_ATTRIBUTES.get(resource["type"], ()):
            text = attributes.get(name)
            if text:
                yield f"{resource['address']}.{name}", json.loads(text)
        for inline in attributes.get("inline_policy") or []:
            if inline.get("policy"):
                where = f"{resource['address']}.inline_policy[{inline.get('name')}]"
                yield where, json.loads(inline["policy"])


def find_wildcard_grants(show_json: dict[str, Any]) -> tuple[list[Finding], int]:
    """The offending statements, and how many policy documents were read."""
    findings: list[Finding] = []
    count = 0
    for address, document in policy_documents(show_json):
        count += 1
        findings.extend(check_document(address, document))
    return findings, count
