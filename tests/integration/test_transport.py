"""Issue 18 §1, the one bounded transport (sync_job/transport.py) on its own, against raw-socket
peers on 127.0.0.1: bounded as a whole request whatever the peer does, cut by an interrupt in
scope (sync_job/waits.py) after the request's grace, its body capped."""

from __future__ import annotations

import threading
import time

import pytest

from standins.raw_server import Play, RawServer, response
from sync_job import waits
from sync_job.executor import Interrupt
from sync_job.transport import HttpRequest, RequestsTransport, TransportError, build_session


def _request(url: str, *, timeout: float = 1.0, grace: float | None = 0.0, cap: int = 1024) -> HttpRequest:
    return HttpRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "text/plain"},
        body=b"x",
        timeout=timeout,
        max_body=cap,
        interrupt_grace=grace,
    )


@pytest.mark.parametrize(
    "play",
    [Play.trickle(response(200, b"ok"), interval=0.3), Play.hang(), Play.silent()],
    ids=["trickle", "hang", "silent"],
)
def test_a_request_is_bounded_as_a_whole(play: Play) -> None:
    transport = RequestsTransport(build_session(1))
    with RawServer(play) as peer:
        started = time.monotonic()
        with pytest.raises(TransportError) as failed:
            transport.send(_request(peer.endpoint, timeout=1.0))
        elapsed = time.monotonic() - started
    assert failed.value.fault == "timeout"
    assert 0.9 <= elapsed < 1.6, elapsed


def _set_later(flag: Interrupt, after: float) -> threading.Timer:
    timer = threading.Timer(after, flag.set, args=("SIGTERM", time.monotonic()))
    timer.start()
    return timer


def test_an_interrupt_in_scope_cuts_a_request_after_its_grace() -> None:
    transport = RequestsTransport(build_session(1))
    with RawServer(Play.hang()) as peer:
        for grace in (0.0, 0.5):
            flag = Interrupt()
            with waits.interruptible(flag):
                timer = _set_later(flag, 0.3)
                started = time.monotonic()
                with pytest.raises(TransportError) as failed:
                    transport.send(_request(peer.endpoint, timeout=10.0, grace=grace))
                elapsed = time.monotonic() - started
                timer.join()
            assert (failed.value.fault, failed.value.detail) == ("interrupted", "SIGTERM")
            assert 0.3 + grace <= elapsed < 0.3 + grace + 0.5, (grace, elapsed)


def test_a_request_without_grace_is_not_sent_once_interrupted_and_one_with_none_is_not_cut() -> None:
    transport = RequestsTransport(build_session(1))
    with RawServer(Play.hang()) as peer:
        flag = Interrupt()
        flag.set("SIGINT", time.monotonic())
        with waits.interruptible(flag):
            with pytest.raises(TransportError) as refused:
                transport.send(_request(peer.endpoint, timeout=5.0, grace=0.0))
            assert peer.connections == 0
            started = time.monotonic()
            with pytest.raises(TransportError) as timed_out:
                transport.send(_request(peer.endpoint, timeout=0.8, grace=None))
            elapsed = time.monotonic() - started
    assert (refused.value.fault, refused.value.detail) == ("interrupted", "SIGINT")
    assert timed_out.value.fault == "timeout" and elapsed >= 0.7


def test_the_body_is_capped() -> None:
    transport = RequestsTransport(build_session(1))
    with RawServer(Play.send(response(502, b"z" * 5000))) as peer, pytest.raises(TransportError) as failed:
        transport.send(_request(peer.endpoint, cap=1000))
    assert (failed.value.fault, failed.value.status) == ("too_large", 502)
    with RawServer(Play.send(response(202, b"accepted"))) as peer:
        answer = transport.send(_request(peer.endpoint))
    assert (answer.status, answer.body) == (202, b"accepted")
