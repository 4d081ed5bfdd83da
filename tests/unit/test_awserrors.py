"""Every AWS error translated in one place (issue 17 §2): sync_job/awserrors.py is the only product
module that catches, tests for or reads a botocore exception; its translations are one line,
name what to do, and never carry AWS's message text."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from botocore.exceptions import ClientError

from sync_job import awserrors
from sync_job.errors import SigningError, StoreError, WriteUnknownError

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "sync_job"
THE_ONE_PLACE = "awserrors.py"
# Modules that may name botocore's exceptions, and why. Only ever shrinks.
ALLOWED = {
    # The consumers' TokenReader: its own error types (TokenReaderError) and a documented import
    # contract (the standard library, botocore and sync_job.bearer only; nothing of the job).
    "reader.py": "consumer library with its own errors and import contract",
    # DataNotFoundError is botocore's data loader missing a file on disk, not an AWS answer.
    "botodata.py": "botocore's data loader, no AWS call",
}


def botocore_error_uses(source: str) -> list[str]:
    """Where ``source`` imports ``botocore.exceptions``, names one of its classes (an ``except``
    clause, an ``isinstance``), or reads an error answer (``.response["Error"]`` /
    ``.response.get("Error")``): ``line: what`` for each."""
    tree = ast.parse(source)
    imported: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "botocore.exceptions":
            imported |= {alias.asname or alias.name for alias in node.names}
            found.append(f"{node.lineno}: from botocore.exceptions import")
        elif isinstance(node, ast.Import) and any(a.name == "botocore.exceptions" for a in node.names):
            found.append(f"{node.lineno}: import botocore.exceptions")
        elif isinstance(node, ast.Attribute) and node.attr == "exceptions":
            if isinstance(node.value, ast.Name) and node.value.id == "botocore":
                found.append(f"{node.lineno}: botocore.exceptions")
        elif isinstance(node, ast.Name) and node.id in imported and isinstance(node.ctx, ast.Load):
            found.append(f"{node.lineno}: {node.id}")
        elif _reads_error_answer(node):
            found.append(f"{getattr(node, 'lineno', 0)}: .response error answer")
    return found


def _reads_error_answer(node: ast.AST) -> bool:
    # exc.response["Error"] or exc.response.get("Error", ...)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
        key = node.slice
        return node.value.attr == "response" and isinstance(key, ast.Constant) and key.value == "Error"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        owner = node.func.value
        first = node.args[0] if node.args else None
        return (
            isinstance(owner, ast.Attribute)
            and owner.attr == "response"
            and isinstance(first, ast.Constant)
            and first.value == "Error"
        )
    return False


def test_only_awserrors_catches_or_reads_botocore_errors() -> None:
    offenders = {
        path.name: uses
        for path in sorted(PRODUCT.glob("*.py"))
        if path.name != THE_ONE_PLACE and path.name not in ALLOWED
        for uses in [botocore_error_uses(path.read_text(encoding="utf-8"))]
        if uses
    }
    assert not offenders, (
        f"botocore errors handled outside sync_job/{THE_ONE_PLACE}: {offenders}; call through "
        "awserrors.secretsmanager_call / kms_call / sts_call (or add a translation there)"
    )
    # The allow-list is kept honest: each entry still needs it.
    for name in ALLOWED:
        assert botocore_error_uses((PRODUCT / name).read_text(encoding="utf-8")), f"drop {name} from ALLOWED"
    assert botocore_error_uses((PRODUCT / THE_ONE_PLACE).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "source",
    [
        "import botocore.exceptions\n",
        "from botocore.exceptions import ClientError\ntry:\n    f()\nexcept ClientError:\n    pass\n",
        "import botocore\ntry:\n    f()\nexcept botocore.exceptions.BotoCoreError:\n    pass\n",
        "from botocore.exceptions import NoRegionError as Missing\nisinstance(e, Missing)\n",
        "code = exc.response['Error']['Code']\n",
        "code = exc.response.get('Error', {}).get('Code')\n",
    ],
)
def test_the_scan_sees_each_way_of_handling_a_botocore_error(source: str) -> None:
    assert botocore_error_uses(source)


def test_the_scan_leaves_other_code_alone() -> None:
    assert not botocore_error_uses(
        "import botocore.session\nresponse = r.get('Errors')\nx.response['Body']\n"
    )


# --- the translations ---------------------------------------------------------------------------


def _answer(
    code: str, message: str = "LEAKMARK in AWS's words\nsecond line", status: int = 400
) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
    }
    return ClientError(response, "Op")


_HOSTILE = "Weird\x1b[31m\nCode"  # an endpoint anywhere (AWS_ENDPOINT_URL) sends anything


@pytest.mark.parametrize(
    "exc",
    [
        _answer("ResourceNotFoundException"),
        _answer("AccessDeniedException"),
        _answer("ThrottlingException"),
        _answer("LimitExceededException"),
        _answer(
            "InvalidRequestException", "You can't perform this operation on a secret marked for deletion"
        ),
        _answer(_HOSTILE),
        _answer("InternalServiceError", status=500),
        botocore.exceptions.NoCredentialsError(),
        botocore.exceptions.EndpointConnectionError(endpoint_url="https://127.0.0.1:1"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="https://127.0.0.1:1"),
    ],
)
def test_every_translation_is_one_line_without_aws_s_words(exc: Exception) -> None:
    errors: list[StoreError | SigningError] = [
        awserrors.secretsmanager_error(exc, "PutSecretValue", "paxos/sandbox/access-token"),
        awserrors.secretsmanager_error(exc, "PutSecretValue", "paxos/sandbox/access-token", version_id="v1"),
        awserrors.kms_error(exc, "Sign", "alias/sync-job"),
        awserrors.sts_error(exc, "GetWebIdentityToken"),
    ]
    for error in errors:
        text = str(error)
        assert text and "\n" not in text and "\x1b" not in text
        assert "LEAKMARK" not in text and "second line" not in text


def test_a_lost_answer_of_a_write_is_write_unknown_and_a_refusal_is_not() -> None:
    lost = awserrors.secretsmanager_error(
        _answer("InternalServiceError", status=500), "PutSecretValue", "s", version_id="v1"
    )
    assert isinstance(lost, WriteUnknownError) and lost.version_id == "v1"
    refused = awserrors.secretsmanager_error(
        _answer("LimitExceededException"), "PutSecretValue", "s", version_id="v1"
    )
    assert not isinstance(refused, WriteUnknownError) and "quota reached" in refused.message
    # Without a version id (not a write), never WriteUnknownError.
    read = awserrors.secretsmanager_error(_answer("InternalServiceError", status=500), "GetSecretValue", "s")
    assert not isinstance(read, WriteUnknownError)


@pytest.mark.parametrize(
    ("code", "transient"),
    [("ThrottlingException", True), ("KMSInternalException", True), ("LimitExceededException", False)],
)
def test_kms_transient_only_when_trying_later_may_help(code: str, transient: bool) -> None:
    assert awserrors.kms_error(_answer(code), "Sign", "k").transient is transient
