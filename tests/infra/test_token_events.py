"""infra/examples/token-events: the EventBridge rule that tells consumers a new token is
published. Its pattern matches Secrets Manager's native "Secret Label Updated" event for
AWSCURRENT only (the job's own staging label fires the event too), on the token secrets only;
the example passes `terraform init` + `validate` offline (skipped, with the reason, without
Terraform or its provider mirror; `make infra-check` also validates every example)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from standins.terraform import Terraform, TerraformUnavailable
from sync_job import store

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "infra" / "examples" / "token-events"


def test_the_pattern_is_the_native_event_for_awscurrent_only() -> None:
    pattern = json.loads((EXAMPLE / "event_pattern.json").read_text())
    # Secrets Manager User Guide, "Secret Label Updated event": source, detail-type, detail fields.
    assert pattern == {
        "source": ["aws.secretsmanager"],
        "detail-type": ["Secret Label Updated"],
        "detail": {"labelUpdated": [store.CURRENT_STAGE]},
    }
    assert store.CURRENT_STAGE == "AWSCURRENT"
    # The job's own staging label is a label like any other: the event fires for it, the rule not.
    assert store.PENDING_STAGE not in pattern["detail"]["labelUpdated"]
    assert store.PENDING_STAGE not in ("AWSPENDING", "AWSPREVIOUS")
    main = (EXAMPLE / "main.tf").read_text()
    assert 'file("${path.module}/event_pattern.json")' in main
    assert "resources = var.token_secret_arns" in main  # only the token secrets
    assert store.PENDING_STAGE in main  # the reason for the filter is stated where it is made


def test_the_guide_shows_the_same_pattern() -> None:
    guide = (ROOT / "docs" / "consumers.md").read_text()
    assert '"detail-type": ["Secret Label Updated"]' in guide
    assert '"detail": {"labelUpdated": ["AWSCURRENT"]}' in guide
    assert store.PENDING_STAGE in guide and "infra/examples/token-events" in guide


def test_terraform_validate(tmp_path: Path) -> None:
    copy = tmp_path / "token-events"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    try:
        tf = Terraform.offline(copy, tmp_path / "tf")
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))
    tf.run("init", "-backend=false", "-input=false", "-no-color", timeout=180)
    validate = tf.run("validate", "-json", "-no-color", timeout=120, check=False)
    result = json.loads(validate.stdout)
    assert result["valid"] is True, validate.stdout
    assert result["error_count"] == 0 and result["warning_count"] == 0, validate.stdout
