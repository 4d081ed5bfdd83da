"""Pacing per host and the redaction layer, on a manual clock."""

from __future__ import annotations

import json
import logging

import pytest

from sync_job.clock import ManualClock
from sync_job.errors import DeadlineError, RateLimitedError
from sync_job.logs import JsonFormatter
from sync_job.pacing import HostPacer, bucket_wait
from sync_job.redact import REDACTED, Secret, register, scrub


def test_bucket_allows_burst_then_paces() -> None:
    clock = ManualClock()
    pacer = HostPacer(clock)
    starts = []
    for _ in range(6):
        pacer.acquire("https://h:443", host="h", rate=0.5, burst=3, latest_start=1000)
        starts.append(clock.monotonic())
    assert starts[:3] == [0, 0, 0]
    assert starts[3:] == pytest.approx([2, 4, 6])


def test_no_slot_before_deadline_fails_fast_without_sleeping() -> None:
    clock = ManualClock()
    pacer = HostPacer(clock)
    pacer.acquire("o", host="h", rate=0.1, burst=1, latest_start=5)
    with pytest.raises(DeadlineError, match="no request slot for h before the run deadline"):
        pacer.acquire("o", host="h", rate=0.1, burst=1, latest_start=5)
    assert clock.monotonic() == 0


def test_closed_host_fails_fast_and_other_hosts_are_unaffected() -> None:
    clock = ManualClock()
    pacer = HostPacer(clock)
    pacer.close("o", 300)
    with pytest.raises(RateLimitedError, match="rate limited by h, retry after 300 s"):
        pacer.acquire("o", host="h", rate=1, burst=1, latest_start=100)
    pacer.acquire("other", host="x", rate=1, burst=1, latest_start=100)
    assert clock.monotonic() == 0


def test_short_close_is_waited_out() -> None:
    clock = ManualClock()
    pacer = HostPacer(clock)
    pacer.close("o", 3)
    pacer.acquire("o", host="h", rate=1, burst=1, latest_start=100)
    assert clock.monotonic() == pytest.approx(3)


def test_bucket_wait() -> None:
    assert bucket_wait(1.0, 0.5) == 0
    assert bucket_wait(0.0, 0.5) == 2
    assert bucket_wait(-1.0, 0.5) == 4


def test_secret_does_not_print_itself() -> None:
    s = Secret("s3cr3t-value-LEAKMARK")
    assert "LEAKMARK" not in repr(s) and "LEAKMARK" not in str(s) and "LEAKMARK" not in f"{s}"
    assert s.reveal() == "s3cr3t-value-LEAKMARK"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


def test_scrub_removes_registered_values_in_every_encoding() -> None:
    register("p@ss:w/rd&LEAK=1")
    raw = "p@ss:w/rd&LEAK=1"
    texts = [
        raw,
        "client_secret=p%40ss%3Aw%2Frd%26LEAK%3D1",
        json.dumps({"SecretString": json.dumps({"client_secret": raw})}),
    ]
    for text in texts:
        assert "LEAK" not in scrub(text), text


def test_scrub_removes_secret_fields_it_never_saw() -> None:
    text = 'b\'{"access_token": "abcdefghijk", "expires_in": 3599}\' client_secret=zzzzzzzz&x=1'
    out = scrub(text)
    assert "abcdefghijk" not in out and "zzzzzzzz" not in out and REDACTED in out
    assert "Bearer " + REDACTED == scrub("Bearer abc.def.ghi")


def test_library_body_dumps_are_elided() -> None:
    record = logging.LogRecord(
        "botocore.parsers",
        logging.DEBUG,
        __file__,
        1,
        'Response body:\nb\'{"SecretString":"{\\\\"client_secret\\\\": \\\\"q\\\\"}"}\'',
        None,
        None,
    )
    line = JsonFormatter().format(record)
    assert "client_secret" not in line.split("Response body:")[1].replace("[body elided", "")
    assert "body elided" in line
