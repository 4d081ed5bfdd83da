"""docs/payload.schema.json, the payload contract as a JSON Schema (draft 2020-12), against what
the job really writes to moto's Secrets Manager from a real token endpoint, for every way the
lifetime can be decided; and the schema never accepts what the reader refuses."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from standins.fakes import valid_doc
from standins.harness import Harness
from standins.token_server import Fault
from sync_job.payload import InvalidPayload, parse_payload

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "payload.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def unsigned_jwt(claims: dict[str, Any]) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.LEAKMARKsig"


def errors(doc: object) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(doc)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize(
    ("tunables", "answer", "source"),
    [
        ({}, None, None),
        ({"default_lifetime_seconds": 3600}, Fault.token(expires_in=None), "configured"),
        ({}, "jwt", "jwt"),
        ({}, Fault.token(expires_in=2**63), "max_lifetime"),
        ({}, Fault.token(token_type="Bearer"), None),
    ],
    ids=["server", "configured", "jwt", "max_lifetime", "Bearer-case"],
)
def test_what_the_job_writes_matches_the_schema(
    harness: Harness, tunables: dict[str, Any], answer: Fault | str | None, source: str | None
) -> None:
    harness.add_env("sandbox", **tunables)
    if answer == "jwt":
        token = unsigned_jwt({"sub": "x", "exp": int(time.time()) + 600})
        answer = Fault.token(expires_in=3600, access_token=token)  # the exp claim bounds it
    if isinstance(answer, Fault):
        harness.tokens.script(harness.client_id("sandbox"), [answer])
    result = harness.cli("run", "--json")
    assert result.json()["results"][0]["outcome"] == "refreshed", result.stderr
    stored = harness.sm.get_secret_value(SecretId=harness.token_secret("sandbox"), VersionStage="AWSCURRENT")
    doc = json.loads(stored["SecretString"])
    assert errors(doc) == []
    assert doc.get("expires_in_source") == source


def test_a_private_key_jwt_environment_writes_the_same_contract(harness: Harness) -> None:
    harness.add_jwt_env("sandbox")
    assert harness.cli("run").exit_code == 0
    doc = harness.stored("sandbox")
    assert doc is not None and errors(doc) == []


def test_unknown_fields_are_allowed() -> None:
    doc = valid_doc("sandbox", remaining=600)
    assert errors({**doc, "token_digest": "sha256:abc", "later": {"x": 1}}) == []


@pytest.mark.parametrize(
    "change",
    [
        {"access_token": "has a space"},
        {"access_token": "crlf\r\nX-Injected: 1"},
        {"access_token": ""},
        {"access_token": "a" * 32_769},
        {"token_type": "mac"},
        {"token_type": ""},
        {"expires_at": "2026-11-29T00:00:00"},
        {"expires_at": "tomorrow"},
        {"expires_at": 1_700_000_000},
        {"access_token": None},
        {"token_type": None},
        {"expires_at": None},
    ],
)
def test_the_schema_refuses_what_the_reader_refuses(change: dict[str, Any]) -> None:
    doc = valid_doc("sandbox", remaining=600)
    doc.update(change)
    doc = {k: v for k, v in doc.items() if v is not None}
    assert errors(doc), change
    with pytest.raises(InvalidPayload):
        parse_payload(json.dumps(doc))


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": "2026-11-29T00:00:00+01:00"},  # the reader reads it; the job never writes it
        {"schema_version": 2},
        {"expires_in_source": "guessed"},
        {"expires_in": 0},
    ],
)
def test_the_schema_is_stricter_than_the_reader_where_the_job_is(change: dict[str, Any]) -> None:
    """What the job writes is narrower than what readers accept (a robust reader, a strict
    writer): these parse, but the job never writes them."""
    doc = valid_doc("sandbox", remaining=600)
    doc.update(change)
    assert errors(doc)
    parse_payload(json.dumps(doc))
