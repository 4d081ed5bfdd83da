"""Every credential's end seen coming (issue 20 §3), across the wire: a client secret's
client_secret_expires_at (RFC 7591 §3.2.1) and a certificate's notAfter reach run --json,
status --json (from the token secret, without reading the credentials), check --json, and the
Prometheus textfile; an end that is not known reports nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from standins.harness import Harness
from standins.keys import certificate_pem, new_key, private_pem, public_pem
from sync_job.prometheus import CREDENTIAL_DAYS_LEFT, CREDENTIAL_EXPIRY, parse_samples


def set_credentials(harness: Harness, name: str, **extra: object) -> None:
    secret = harness.envs[name]["credentials_secret"]
    doc = json.loads(harness.sm.get_secret_value(SecretId=secret)["SecretString"])
    harness.sm.put_secret_value(SecretId=secret, SecretString=json.dumps({**doc, **extra}))


def entry(result: object, key: str) -> dict[str, object]:
    doc = result.json()  # type: ignore[attr-defined]
    entries = doc[key]
    assert len(entries) == 1
    return entries[0]  # type: ignore[no-any-return]


def test_client_secret_end_reaches_run_status_check_and_prometheus(harness: Harness, tmp_path: Path) -> None:
    harness.add_env("sandbox")
    ends = int(time.time()) + 20 * 86400 + 3600  # 20 days and an hour
    set_credentials(harness, "sandbox", client_secret_expires_at=ends)
    stamp = datetime.fromtimestamp(ends, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    prom = tmp_path / "sync_job.prom"

    run = harness.cli("run", "--json", "--metrics-file", str(prom))
    assert run.exit_code == 0, run.stderr
    result = entry(run, "results")
    assert (result["credential_expires_at"], result["credential_days_left"]) == (stamp, 20)
    stored = harness.stored("sandbox")
    assert stored is not None and stored["credential_expires_at"] == stamp

    # status reads only the token secret: take the credentials away and it still knows.
    harness.sm.put_secret_value(SecretId=harness.envs["sandbox"]["credentials_secret"], SecretString="gone")
    status = harness.cli("status", "--json")
    assert status.exit_code == 0, status.stderr
    shown = entry(status, "environments")
    assert (shown["credential_expires_at"], shown["credential_days_left"]) == (stamp, 20)

    set_credentials_doc = {
        "client_id": harness.client_id("sandbox"),
        "client_secret": harness.secrets["sandbox"],
    }
    harness.sm.put_secret_value(
        SecretId=harness.envs["sandbox"]["credentials_secret"],
        SecretString=json.dumps({**set_credentials_doc, "client_secret_expires_at": ends}),
    )
    check = harness.cli("check", "--json")
    assert check.exit_code == 0, check.stderr
    checked = entry(check, "environments")
    assert (checked["credential_expires_at"], checked["credential_days_left"]) == (stamp, 20)
    assert checked["credential"] == "client_secret"

    samples = parse_samples(prom.read_text())
    key = (("environment", "sandbox"),)
    assert samples[CREDENTIAL_EXPIRY][key] == ends and samples[CREDENTIAL_DAYS_LEFT][key] == 20


def test_certificate_not_after_is_the_end_of_a_key(harness: Harness) -> None:
    key = new_key("rsa")
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5, hours=1)
    cert = certificate_pem(key, not_after=not_after)
    harness.add_env(
        "sandbox",
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public_pem(key),
        credentials={
            "client_id": harness.client_id("sandbox"),
            "private_key": private_pem(key),
            "certificate": cert,
        },
    )
    run = harness.cli("run", "--json")
    assert run.exit_code == 0, run.stderr
    result = entry(run, "results")
    assert result["credential_expires_at"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["credential_days_left"] == 5


@pytest.mark.parametrize("value", [0, None])
def test_no_known_end_reports_nothing(harness: Harness, value: int | None) -> None:
    harness.add_env("sandbox")
    if value is not None:
        set_credentials(harness, "sandbox", client_secret_expires_at=value)  # 0: never (RFC 7591)
    run = harness.cli("run", "--json")
    assert run.exit_code == 0, run.stderr
    assert "credential_expires_at" not in entry(run, "results")
    assert "credential_days_left" not in entry(harness.cli("status", "--json"), "environments")


@pytest.mark.parametrize("value", ["2030-01-01", -5, 1.5, True])
def test_unreadable_end_is_one_line_naming_the_key(harness: Harness, value: object) -> None:
    harness.add_env("sandbox")
    set_credentials(harness, "sandbox", client_secret_expires_at=value)
    run = harness.cli("run", "--json")
    assert run.exit_code == 1
    error = str(entry(run, "results")["error"])
    assert "client_secret_expires_at" in error and "RFC 7591" in error
