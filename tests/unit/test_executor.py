"""The bounded pool on its own, with plain items (it knows nothing of tokens): one result per item
in order, the deadline and the interrupt kept whatever the work does, a later retry, stragglers
reported once and their late results dropped; ``call_bounded`` woken by the deadline and the
interrupt. Real threads and the real clock, waits of a fraction of a second."""

from __future__ import annotations

import threading
import time

import pytest

from sync_job.clock import SystemClock
from sync_job.executor import (
    INTERRUPT_GRACE_SECONDS,
    STRAGGLER_GRACE_SECONDS,
    Activity,
    Interrupt,
    Later,
    Pool,
    Unfinished,
    call_bounded,
)

CLOCK = SystemClock()


def _pool(budget: float, workers: int = 2, interrupt: Interrupt | None = None) -> Pool:
    return Pool(CLOCK, workers, CLOCK.monotonic() + budget, budget, interrupt)


def _stuck(item: int, why: str, began: bool) -> str:
    return f"stuck {item} began={began}: {why}"


def test_results_come_back_in_the_order_given_each_settled_once() -> None:
    settled: list[int] = []

    def settle(item: int, result: str) -> str:
        settled.append(item)
        return result.upper()

    out = _pool(5, workers=3).map(
        [3, 1, 2], lambda item, previous: f"done {item}", stuck=_stuck, settle=settle
    )
    assert out == ["DONE 3", "DONE 1", "DONE 2"]
    assert sorted(settled) == [1, 2, 3]


def test_an_item_that_never_returns_is_cut_off_at_the_deadline_and_its_late_result_dropped() -> None:
    release = threading.Event()
    settled: list[str] = []

    def settle(item: int, result: str) -> str:
        settled.append(result)
        return result

    def work(item: int, previous: str | None) -> str:
        if item == 0:
            release.wait(5)
        return f"done {item}"

    activity = Activity()
    activity.note("0", "waiting on a peer")
    started = time.monotonic()
    out = _pool(0.3, workers=1).map(
        [0, 1],
        work,
        stuck=_stuck,
        doing=lambda item: activity.of(str(item)),
        settle=settle,
    )
    elapsed = time.monotonic() - started
    release.set()
    time.sleep(0.2)  # the straggler finishes now: nothing more is settled
    assert elapsed < 0.3 + STRAGGLER_GRACE_SECONDS + 0.5
    assert out == [
        "stuck 0 began=True: did not finish within the run's budget of 0.3 s (still waiting on a peer)",
        "stuck 1 began=False: not started: the run's budget of 0.3 s ran out",
    ]
    assert settled == out


def test_an_interrupt_starts_nothing_new_and_gives_what_is_in_flight_its_grace() -> None:
    interrupt = Interrupt()
    in_flight = threading.Event()

    def work(item: int, previous: str | None) -> str:
        in_flight.set()
        interrupt.set("SIGTERM", CLOCK.monotonic() - INTERRUPT_GRACE_SECONDS + 2.0)
        time.sleep(0.1)  # inside the grace: its result stands
        return f"done {item}"

    out = _pool(30, workers=1, interrupt=interrupt).map([0, 1, 2], work, stuck=_stuck)
    assert in_flight.is_set()
    assert out == [
        "done 0",
        "stuck 1 began=False: not started: the run was interrupted by SIGTERM",
        "stuck 2 began=False: not started: the run was interrupted by SIGTERM",
    ]


def test_a_later_retry_is_worked_again_with_its_first_result_and_goes_ahead_of_later_items() -> None:
    seen: list[tuple[int, str | None]] = []

    def work(item: int, previous: str | None) -> str | Later[str]:
        seen.append((item, previous))
        if item == 0 and previous is None:
            return Later("first round failed", CLOCK.monotonic() + 0.2)
        return f"done {item} after {previous}"

    out = _pool(5, workers=1).map([0, 1], work, stuck=_stuck)
    assert out == ["done 0 after first round failed", "done 1 after None"]
    assert seen == [(0, None), (1, None), (0, "first round failed")]


def test_a_retry_whose_time_never_comes_keeps_its_first_result() -> None:
    out = _pool(0.3, workers=1).map(
        [0],
        lambda item, previous: Later("first round failed", CLOCK.monotonic() + 60),
        stuck=_stuck,
    )
    assert out == ["first round failed"]


def test_call_bounded_returns_the_result_or_reraises() -> None:
    assert call_bounded(lambda: 42, clock=CLOCK, deadline=CLOCK.monotonic() + 5, budget=5) == 42

    def broken() -> int:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        call_bounded(broken, clock=CLOCK, deadline=CLOCK.monotonic() + 5, budget=5)


@pytest.mark.parametrize("by", ["deadline", "interrupt"])
def test_call_bounded_wakes_for_the_deadline_and_at_once_for_an_interrupt(by: str) -> None:
    release = threading.Event()
    interrupt = Interrupt()
    budget = 0.2 if by == "deadline" else 30.0
    if by == "interrupt":
        threading.Timer(0.2, lambda: interrupt.set("SIGINT", CLOCK.monotonic())).start()
    started = time.monotonic()
    try:
        answer = call_bounded(
            lambda: release.wait(30),
            clock=CLOCK,
            deadline=CLOCK.monotonic() + budget,
            budget=budget,
            interrupt=interrupt,
        )
    finally:
        release.set()
    elapsed = time.monotonic() - started
    assert isinstance(answer, Unfinished)
    if by == "deadline":
        assert answer.reason == "did not finish within the run's budget of 0.2 s (still reading secrets)"
        assert elapsed < 0.2 + STRAGGLER_GRACE_SECONDS + 0.5
    else:
        assert answer.reason == "interrupted by SIGINT while reading secrets"
        assert elapsed < 1.0  # no grace: a read loses nothing when abandoned
