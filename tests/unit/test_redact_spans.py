"""`redact.scrub` finds registered values in one of two ways (each value looked for, or one pass
indexed by prefix, for many values): both give the union of every occurrence of every value."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_job import redact
from sync_job.redact import MIN_LENGTH, REDACTED

ALPHABET = "abcAB12=%-_ ."


def _registry(values: set[str]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    ordered = tuple(sorted(values, key=len, reverse=True))
    by_prefix: dict[str, list[str]] = {}
    for value in ordered:
        by_prefix.setdefault(value[:MIN_LENGTH], []).append(value)
    return ordered, {k: tuple(v) for k, v in by_prefix.items()}


def _reference(text: str, values: set[str]) -> set[int]:
    """Every index of ``text`` inside some occurrence of some value, the slow obvious way."""
    covered: set[int] = set()
    for value in values:
        for at in range(len(text) - len(value) + 1):
            if text[at : at + len(value)] == value:
                covered |= set(range(at, at + len(value)))
    return covered


@settings(max_examples=300, deadline=None)
@given(
    values=st.sets(st.text(ALPHABET, min_size=MIN_LENGTH, max_size=12), min_size=1, max_size=12),
    pieces=st.lists(st.one_of(st.text(ALPHABET, max_size=8), st.integers(0, 11)), max_size=14),
)
def test_both_ways_cover_exactly_every_occurrence(values: set[str], pieces: list[str | int]) -> None:
    ordered = sorted(values)
    # Text made of registered values (possibly overlapping once joined) and noise.
    text = "".join(p if isinstance(p, str) else ordered[p % len(ordered)] for p in pieces)
    registry = _registry(values)
    want = _reference(text, values)
    for padded in (text, text + "~" * (len(values) * 4)):  # short text: prefix scan; long: find
        spans = redact._secret_spans(padded, *registry)
        got = {i for start, end in spans for i in range(start, end)}
        assert got == want
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_scrub_leaves_no_part_of_overlapping_values() -> None:
    left, right = "xyzabc-6f1e", "abc-6f1e-tail-9d"  # overlapping where they meet
    redact.register(left)
    redact.register(right)
    out = redact.scrub(f"line xyzabc-6f1e-tail-9d end and {left} and {right}")
    assert out == f"line {REDACTED} end and {REDACTED} and {REDACTED}"


def test_many_values_are_scanned_once_per_line() -> None:
    values = [f"tok-many-{i:05d}-secret" for i in range(3000)]
    for value in values:
        redact.register(value)
    line = f'{{"event": "sync.result", "environment": "e1", "token": "{values[1234]}"}}' * 3
    out = redact.scrub(line)
    assert values[1234] not in out and out.count(REDACTED) == 3
