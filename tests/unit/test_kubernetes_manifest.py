"""examples/kubernetes/cronjob.yaml: valid against the Kubernetes schema (the kubernetes-validate
package ships the JSON schemas of each Kubernetes release: offline, strict, so an unknown or
misspelt field fails), and the settings that keep a token alive hold together."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sync_job.config import load_config_text
from tests.unit.test_shipped_schedules import interval_seconds

kubernetes_validate = pytest.importorskip("kubernetes_validate.utils")

MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "kubernetes" / "cronjob.yaml"
# EKS standard support covers 1.31 and later; the schema of 1.31 is what the manifest must meet.
KUBERNETES_VERSION = "1.31.0"


def _docs() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}


def _validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("kind", ["ServiceAccount", "ConfigMap", "CronJob"])
def test_every_document_is_valid_against_the_kubernetes_schema(kind: str) -> None:
    _validate(_docs()[kind])


def test_the_validation_fails_a_broken_manifest() -> None:
    broken = copy.deepcopy(_docs()["CronJob"])
    broken["spec"]["concurencyPolicy"] = "Forbid"  # misspelt: strict validation refuses it
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(broken)
    wrong_type = copy.deepcopy(_docs()["CronJob"])
    wrong_type["spec"]["startingDeadlineSeconds"] = "120"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(wrong_type)


def test_one_run_at_a_time_and_every_run_ends_before_the_next() -> None:
    docs = _docs()
    spec = docs["CronJob"]["spec"]
    interval = interval_seconds(spec["schedule"])
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] < interval
    assert job["activeDeadlineSeconds"] < interval
    assert job["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    # The job's own deadline (run_timeout_seconds, plus 1 s and the 10 s SIGTERM grace) fits
    # inside Kubernetes' deadline, so the job reports every environment before it is killed.
    config = load_config_text(docs["ConfigMap"]["data"]["sync-job.toml"], "configmap")
    assert config.run_timeout_seconds + 1 + 10 < job["activeDeadlineSeconds"]
    assert pod["terminationGracePeriodSeconds"] > 10
    # The token margin leaves room for one failed run at this schedule.
    assert min(e.refresh_margin_seconds for e in config.environments) - interval >= 600


def test_the_pod_runs_as_the_service_account_with_an_aws_role() -> None:
    docs = _docs()
    account = docs["ServiceAccount"]
    pod = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["namespace"] == docs["CronJob"]["metadata"]["namespace"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = container["volumeMounts"][0]["mountPath"]
    assert env["SYNC_JOB_CONFIG"] == f"{mount}/sync-job.toml"
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
