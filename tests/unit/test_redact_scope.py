"""Issue 18 §7: the scrub registry is indexed value by value (no re-sort of every value on each
registration) and what a run registered is released when it ends (``redact.scope``), so a warm
Lambda's thousandth invocation costs what its first did and its memory stays flat."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from sync_job import redact
from sync_job.redact import REDACTED


def _invocation(n: int, envs: int = 20) -> None:
    """What one run registers: per environment a client secret (Basic and form forms) and a
    new access token; then a line that echoes some of them is scrubbed."""
    with redact.scope():
        for e in range(envs):
            secret = f"SECRETMARK-{n}-{e}-{'x' * 16}"
            redact.Secret(secret)
            redact.register_basic(f"client-{e}", secret)
            redact.Secret(f"tok-{n}-{e}-{'y' * 24}")
        line = f"echo tok-{n}-0-{'y' * 24} and SECRETMARK-{n}-1-{'x' * 16}"
        assert redact.scrub(line) == f"echo {REDACTED} and {REDACTED}"


def _registry_bytes(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes still held that were allocated in sync_job/redact.py."""
    only = snapshot.filter_traces([tracemalloc.Filter(True, redact.__file__)])
    return sum(stat.size for stat in only.statistics("filename"))


def test_a_thousand_invocations_leave_the_registry_as_they_found_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A registry of its own: what earlier tests left registered (outside any scope) would make
    # the dicts' one-off resizes show up as allocations here.
    monkeypatch.setattr(redact, "_index", redact._Index())
    _invocation(-1)  # the previous invocation, whose values linger until this one ends
    baseline = (redact.registered_count(), redact._index.prefixes())
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        _invocation(0)
        first_memory = _registry_bytes(tracemalloc.take_snapshot())
        durations = []
        for n in range(1, 1000):
            start = time.perf_counter()
            _invocation(n)
            durations.append(time.perf_counter() - start)
            assert (redact.registered_count(), redact._index.prefixes()) == baseline
        last_memory = _registry_bytes(tracemalloc.take_snapshot())
    finally:
        if not was_tracing:
            tracemalloc.stop()
    # Flat: what redact.py holds after 999 more invocations is what it held after the first
    # (the last invocation's values, give or take a dict resize), not 999 x 20 environments'
    # values (several MB).
    assert last_memory - first_memory < 64 * 1024, (first_memory, last_memory)
    # The 1000th costs what the first ones did (medians of 50, generous for a shared machine).
    early, late = sorted(durations[:50])[25], sorted(durations[-50:])[25]
    assert late < early * 2 + 0.001, (early, late)


def test_values_registered_before_a_scope_stay_and_nested_scopes_release_their_own() -> None:
    outer, inner = "SECRETMARK-outer-0123456789", "SECRETMARK-inner-0123456789"
    with redact.scope():
        redact.register(outer)
        with redact.scope():
            redact.register(inner)
            redact.register(outer)  # already known: stays the outer scope's
            assert redact.scrub(f"{outer} {inner}") == f"{REDACTED} {REDACTED}"
        assert redact.scrub(f"{outer} {inner}") == f"{REDACTED} {inner}"
    # An outermost scope's values linger until the next one ends (a straggler thread of the
    # last run may still print them), unless that one registers them again.
    assert redact.scrub(outer) == REDACTED
    with redact.scope():
        assert redact.scrub(outer) == REDACTED
    assert redact.scrub(outer) == outer


def test_a_value_registered_again_by_the_next_run_stays_with_it() -> None:
    kept, dropped = "SECRETMARK-kept-0123456789", "SECRETMARK-dropped-0123456789"
    with redact.scope():
        redact.register(kept)
        redact.register(dropped)
    with redact.scope():
        redact.register(kept)  # the same client secret, read again
    assert redact.scrub(f"{kept} {dropped}") == f"{REDACTED} {dropped}"
    with redact.scope():
        pass
    assert redact.scrub(kept) == kept


def test_registration_does_not_re_sort_every_value() -> None:
    """Per-registration cost at 10,000 values is about that at 1,000 (it was a sort of all)."""

    def cost(count: int) -> float:
        with redact.scope():
            for i in range(count - 100):
                redact.register(f"SECRETMARK-{count}-{i:08d}-fill")
            start = time.perf_counter()
            for i in range(100):
                redact.register(f"SECRETMARK-{count}-{i:08d}-timed")
                redact.scrub("a short line")  # a scrub between registrations (logs)
            return time.perf_counter() - start

    small, large = cost(1000), cost(10_000)
    assert large < small * 4 + 0.01, (small, large)


def test_longest_value_first_within_a_prefix() -> None:
    with redact.scope():
        short, long = "SECRETMARK-p", "SECRETMARK-p-longer-value"
        redact.register(short)
        redact.register(long)
        assert redact._index.scan(long) == [(0, len(long))]
        many = " ".join(["filler"] * 3)  # a short text: the prefix scan path
        assert redact.scrub(f"{long}{many}") == f"{REDACTED}{many}"
