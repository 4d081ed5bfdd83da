"""Issue 9, "What must be shown": a property over token-endpoint answers (status, headers,
body), each served across the real wire by a raw-socket server and judged by the real job
(in-process, real boto3 against moto's server). Whatever the answer:

* either the outcome is ``refreshed`` and the published token is the one served, and
  ``TokenReader`` (real boto3 client) accepts it;
* or the outcome is ``failed`` or ``kept`` with the stored token untouched, with one line of
  error (never ``unexpected ...``);
* and no token or client secret appears in any result or log record.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standins.fakes import valid_doc
from standins.harness import MARKERS, Harness
from standins.raw_server import Play, RawServer, response
from sync_job.config import load_config
from sync_job.factory import build_job
from sync_job.reader import TokenReader
from sync_job.timeutil import parse_rfc3339

SCOPES = "funding:read_profile transfer:read_transfer"

# --- answers ------------------------------------------------------------------------------------

_header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"))
_content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/json; charset=latin-1",
        "application/problem+json",
        "text/plain",
        "text/html; charset=utf-8",
        "application/x-www-form-urlencoded",
        "",
    ]
)
_retry_after = st.one_of(
    st.sampled_from(["0", "1", "2", "-1", "1.5", "abc", "9" * 40, "1e309", "Wed, 21 Oct 2015 07:28:00 GMT"]),
    st.integers(min_value=0, max_value=10**12).map(str),
    _header_text,
)
_headers = st.lists(
    st.one_of(
        st.tuples(st.just("Content-Type"), _content_types),
        st.tuples(st.just("Retry-After"), _retry_after),
        st.tuples(st.sampled_from(["Cache-Control", "X-Junk", "WWW-Authenticate"]), _header_text),
        st.just(("X-Huge", "h" * 16000)),
    ),
    max_size=4,
)

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([9223372036854775807, 10000000000, 10**30, 0, -1, 1, 30, 3600, 86400 * 400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_json_values = st.one_of(_json_scalars, st.lists(_json_scalars, max_size=3))
_token_text = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from("abcXYZ019-._~+/= \t\r\n\x00é€\u202e"), max_size=40),
)
# Tokens carry the leak marker wherever they are strings, so any echo of one is caught.
_access_token = st.one_of(
    st.tuples(_token_text, _token_text).map(lambda ab: f"{ab[0]}LEAKMARK{ab[1]}"),
    st.just("tok-LEAKMARK-fine"),
    _json_values,
)
_fields: dict[str, Any] = {
    "access_token": _access_token,
    "token_type": st.one_of(st.sampled_from(["bearer", "Bearer", "BEARER", "mac", "", " bearer"]), st.text()),
    "expires_in": _json_values,
    "scope": st.one_of(
        st.sampled_from([SCOPES, "funding:read_profile", "", f"{SCOPES} extra"]), _json_values
    ),
}
_MISSING = object()


@st.composite
def _token_doc(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "access_token": "tok-LEAKMARK-fine",
        "token_type": "bearer",
        "expires_in": 3600,
        "scope": SCOPES,
    }
    for name in draw(st.sets(st.sampled_from(sorted(_fields)))):
        value = draw(st.one_of(st.just(_MISSING), _fields[name]))
        if value is _MISSING:
            doc.pop(name)
        else:
            doc[name] = value
    if draw(st.booleans()) and draw(st.booleans()):  # an RFC 6749 §5.2 error object, maybe with 200
        doc["error"] = draw(
            st.one_of(st.sampled_from(["invalid_client", "server_error"]), st.text(max_size=30))
        )
        doc["error_description"] = draw(st.text(max_size=60))
    return doc


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


_bodies = st.one_of(
    _token_doc().map(_dumps),
    _token_doc().map(lambda d: json.dumps(d).encode()),  # \u escapes instead of raw characters
    st.tuples(_token_doc().map(_dumps), st.floats(0, 1)).map(lambda bf: bf[0][: int(len(bf[0]) * bf[1])]),
    st.binary(max_size=200),
    _json_values.map(_dumps),
)
_answers = st.tuples(
    st.one_of(st.just(200), st.sampled_from([200, 201, 204, 400, 401, 403, 429, 500, 503])),
    _headers,
    _bodies,
    st.sampled_from(["content-length", "chunked", "until-close"]),  # how the body is framed
    st.booleans(),  # a `100 Continue` interim answer first
)


def _wire(status: int, headers: list[tuple[str, str]], body: bytes, framing: str, interim: bool) -> bytes:
    """The raw bytes of one answer, framed as asked."""
    if framing == "chunked":
        chunks = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        raw = response(status, chunks, [*headers, ("Transfer-Encoding", "chunked")], length=False)
    else:
        raw = response(status, body, headers, length=framing == "content-length")
    return (b"HTTP/1.1 100 Continue\r\n\r\n" if interim else b"") + raw


# --- the property -------------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        from sync_job.logs import JsonFormatter

        self.lines.append(JsonFormatter().format(record))


@pytest.fixture
def records() -> Iterator[_Records]:
    """The job's own log records, formatted as the CLI would print them. The libraries' DEBUG
    chatter (left on by earlier in-process CLI runs) is turned down: it is slow, and the leak
    scan of library output is test_leaks.py's job."""
    handler = _Records()
    logger = logging.getLogger("sync_job")
    quiet = [logging.getLogger(name) for name in ("botocore", "boto3", "urllib3")]
    old = [lg.level for lg in (logger, *quiet)]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    for lg in quiet:
        lg.setLevel(logging.WARNING)
    yield handler
    logger.removeHandler(handler)
    for lg, level in zip((logger, *quiet), old, strict=True):
        lg.setLevel(level)


def _make_current(harness: Harness, doc: dict[str, Any]) -> None:
    """Store ``doc`` as AWSCURRENT the way the job does (a new version, then the label moved
    from the current one). ``Harness.put_stored`` is not enough after the job has published:
    moto's PutSecretValue demotes the version it last made current itself, not the one that
    UpdateSecretVersionStage made current, and two versions end up labelled AWSCURRENT."""
    sm, secret_id = harness.sm, harness.token_secret("sandbox")
    stages = sm.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    current = next((v for v, labels in stages.items() if "AWSCURRENT" in labels), None)
    version = sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps(doc), VersionStages=["SEED"])
    if "AWSCURRENT" in version.get("VersionStages", []):
        return
    move: dict[str, Any] = {"VersionStage": "AWSCURRENT", "MoveToVersionId": version["VersionId"]}
    if current:
        move["RemoveFromVersionId"] = current
    sm.update_secret_version_stage(SecretId=secret_id, **move)


def test_any_answer_gives_a_usable_token_or_a_clean_failure(harness: Harness, records: _Records) -> None:
    raw = RawServer().start()
    try:
        harness.defaults.update(run_timeout_seconds=10, timeout_seconds=2, max_attempts=1)
        harness.add_env("sandbox", server=raw, rate_limit_per_second=1000, rate_limit_burst=10000)  # type: ignore[arg-type]
        config = load_config(harness.config_path())
        secret_id = harness.token_secret("sandbox")
        sm = boto3.client("secretsmanager", endpoint_url=harness.moto.endpoint)
        seen = {"refreshed": 0, "failed": 0, "kept": 0}
        timings: list[float] = []

        @settings(
            max_examples=int(os.environ.get("ANSWER_PROPERTY_EXAMPLES", "50")),  # more to explore
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        )
        @given(answer=_answers, stored_left=st.sampled_from([120, -60]))
        def check(answer: tuple[int, list[tuple[str, str]], bytes, str, bool], stored_left: int) -> None:
            status, headers, body, framing, interim = answer
            # Inside the refresh margin (a shorter new token is kept back), or already expired.
            before = valid_doc("sandbox", remaining=stored_left, token="tok-LEAKMARK-stored")
            _make_current(harness, before)
            raw.default = Play.send(_wire(status, headers, body, framing, interim))
            records.lines.clear()
            t0 = time.monotonic()
            result = build_job(config).run().results[0]
            timings.append(time.monotonic() - t0)
            after = harness.stored("sandbox")
            outcome = str(result.outcome)
            seen[outcome] = seen.get(outcome, 0) + 1
            texts = [result.error or "", result.warning or "", *records.lines]
            for marker in MARKERS:
                assert not any(marker in t for t in texts), (marker, texts)
            if outcome == "refreshed":
                assert after is not None and after != before
                served = json.loads(body)["access_token"]
                assert after["access_token"] == served
                # One validity rule (bearer.EXPIRY_SKEW_SECONDS): the job publishes only a
                # token with more than 60 s left, and the reader accepts what it published.
                left = (parse_rfc3339(after["expires_at"]) - datetime.now(UTC)).total_seconds()
                assert left > 59, left  # up to a second passed since the publish
                if left > 61:
                    assert TokenReader(secret_id, client=sm).token() == served
            else:
                assert outcome in ("failed", "kept"), result
                assert after == before
                if outcome == "failed":
                    assert result.error and result.error == result.error.strip()
                    assert not any(c in result.error for c in "\r\n\x1b"), result.error
                    assert not result.error.startswith("unexpected"), result.error

        started = time.monotonic()
        check()
        print(
            f"{len(timings)} examples, {time.monotonic() - started:.1f} s, job {sum(timings):.1f} s, {seen}"
        )
        assert seen["failed"] > 0 and seen["refreshed"] > 0, seen  # both sides were exercised
    finally:
        raw.stop()
