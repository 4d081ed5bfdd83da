"""Keeps secret values out of every string the job emits.

Two layers: values are carried in :class:`Secret`, whose ``repr``/``str`` never show them, and
every value that ever becomes a ``Secret`` is registered so that log output can be scrubbed of it
as a last line of defence (a library's debug log, an exception text from a dependency).
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import functools
import html
import json
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
# Shorter values would make scrubbing destroy ordinary words: text that may echo a secret this
# short is withheld instead (see scrub_safe).
MIN_LENGTH = 6

_lock = threading.Lock()


class _Index:
    """The registered values by their first MIN_LENGTH characters, and within a prefix by
    length: a long line is scanned once, and at a position whose prefix matches, each distinct
    length is one set lookup, longest first (a run of many environments registers thousands of
    values, and many share a prefix: every JWT starts ``eyJhbG``). Adding or removing a value
    costs O(1) plus, for a new length, an insertion into that prefix's short list of lengths:
    nothing is re-sorted. Not thread-safe: used under ``_lock``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: dict[str, None] = {}  # an insertion-ordered set
        self._lengths: dict[str, list[int]] = {}  # prefix -> its values' lengths, longest first
        self._sets: dict[tuple[str, int], set[str]] = {}  # (prefix, length) -> values
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        if value in self.values:
            return
        self.values[value] = None
        prefix, length = value[:MIN_LENGTH], len(value)
        same = self._sets.get((prefix, length))
        if same is None:
            same = self._sets[(prefix, length)] = set()
            bisect.insort(self._lengths.setdefault(prefix, []), length, key=_longest_first)
        same.add(value)

    def remove(self, value: str) -> None:
        if value not in self.values:
            return
        del self.values[value]
        prefix, length = value[:MIN_LENGTH], len(value)
        same = self._sets[(prefix, length)]
        same.discard(value)
        if not same:
            del self._sets[(prefix, length)]
            lengths = self._lengths[prefix]
            lengths.remove(length)
            if not lengths:
                del self._lengths[prefix]

    def prefixes(self) -> int:
        return len(self._lengths)

    def scan(self, text: str) -> list[tuple[int, int]]:
        """[start, end) of the longest value at each position where one starts."""
        spans: list[tuple[int, int]] = []
        lengths_of, sets = self._lengths, self._sets
        for at in range(len(text) - MIN_LENGTH + 1):
            prefix = text[at : at + MIN_LENGTH]
            lengths = lengths_of.get(prefix)
            if lengths:
                for length in lengths:
                    if text[at : at + length] in sets[(prefix, length)]:
                        spans.append((at, at + length))
                        break
        return spans


def _longest_first(length: int) -> int:
    return -length


# Every registered value. Kept up to date value by value (no re-sort on a registration).
_index = _Index()
# Open scopes (innermost last), each with the values first registered while it was innermost.
_scopes: list[set[str]] = []
# What the last outermost scope registered: released when the next one ends (see scope).
_lingering: set[str] = set()


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Values first registered while inside are forgotten after it ends: a run's entry point
    (``sync-job run``, the Lambda handler) opens one, so a warm Lambda's thousandth invocation
    scrubs against what its last two registered, not what every earlier one did (memory flat,
    the same cost each time). Values registered before the scope (or in an enclosing one) stay.

    An outermost scope's values linger until the next outermost scope ends (unless that one
    registers them again, which keeps them): a thread the run gave up on at its deadline can
    resume in the next invocation of a warm Lambda and print what it held, before that one has
    read its credentials again. A nested scope's values go when it ends."""
    global _lingering
    mine: set[str] = set()
    with _lock:
        _scopes.append(mine)
    try:
        yield
    finally:
        with _lock:
            _scopes.remove(mine)
            if _scopes:
                released = mine
            else:
                released, _lingering = _lingering, mine
            for value in released:
                _index.remove(value)


def registered_count() -> int:
    """How many values (forms of secrets) are registered now."""
    return len(_index.values)


_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _b64_forms(raw: bytes) -> set[str]:
    # Standard and URL-safe alphabets, with and without "=" padding: servers echo either.
    std = base64.b64encode(raw).decode("ascii")
    url = base64.urlsafe_b64encode(raw).decode("ascii")
    return {std, std.rstrip("="), url, url.rstrip("=")}


def _variants(value: str) -> set[str]:
    # The same value as it appears form-encoded, JSON-escaped (once and, inside a JSON string
    # inside a JSON document, twice), base64'd, and with its whitespace collapsed (the way an
    # error line shows it).
    once = json.dumps(value)[1:-1]
    twice = json.dumps(once)[1:-1]
    out = {value, once, twice, " ".join(value.split())}
    # Percent-encodings servers use: form (quote_plus), strict, Python's default (safe "/"),
    # JavaScript's encodeURIComponent, each with upper- and lower-case hex.
    for encoded in (
        quote_plus(value),
        quote(value, safe=""),
        quote(value),
        quote(value, safe="!'()*-._~"),
    ):
        out |= {encoded, _PERCENT.sub(lambda m: m.group(0).lower(), encoded)}
    out |= {html.escape(value), html.escape(value, quote=False)}
    out |= {unicodedata.normalize(form, value) for form in ("NFC", "NFD", "NFKC", "NFKD")}
    out |= _b64_forms(value.encode())
    return {v for v in out if len(v) >= MIN_LENGTH}


def register_basic(client_id: str, client_secret: str) -> None:
    """Remember every form of an HTTP Basic credential (RFC 6749 §2.3.1, RFC 7617): the
    base64 of ``id:secret`` both form-urlencoded first (what the job sends) and raw (what a
    server may echo), with and without padding."""
    raws = {
        f"{quote_plus(client_id)}:{quote_plus(client_secret)}",
        f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}",
        f"{client_id}:{client_secret}",
    }
    forms: set[str] = set()
    for raw in raws:
        forms.add(raw)
        forms |= _b64_forms(raw.encode())
    _remember({v for v in forms if len(v) >= MIN_LENGTH})


def _remember(values: set[str]) -> None:
    with _lock:
        new = [v for v in values if v not in _index.values]
        for value in new:
            _index.add(value)
        if _scopes:
            _scopes[-1].update(new)
            # Registered again: no longer the previous run's to release, but this one's.
            again = [v for v in values if v in _lingering]
            _lingering.difference_update(again)
            _scopes[-1].update(again)


def register(value: str) -> None:
    """Remember ``value`` (and its common encodings) so :func:`scrub` removes it."""
    _remember(_variants(value))


def scrub_safe(value: str) -> bool:
    """Whether :func:`scrub` can remove ``value``: shorter values would make it destroy ordinary
    words, so text that may echo them must not be shown at all."""
    return len(value) >= MIN_LENGTH


def _secret_spans(
    text: str, ordered: Sequence[str], by_prefix: Mapping[str, Iterable[str]]
) -> list[tuple[int, int]]:
    """Every [start, end) of ``text`` that a registered value covers, overlapping ones merged:
    the union of all occurrences of all values, so no part of any value survives, whatever the
    overlaps. Few values (``ordered``, any order): each is looked for (str.find, in C). Many:
    one pass over the text, looking up each position's first MIN_LENGTH characters (an
    :class:`_Index` of ``by_prefix``'s values). Both find the same; :func:`scrub` chooses the
    same way over the live registry."""
    if len(ordered) * 4 <= len(text):
        return _merged(_found(text, ordered))
    return _merged(_Index(v for group in by_prefix.values() for v in group).scan(text))


def _found(text: str, values: Iterable[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for value in values:
        at = text.find(value)
        while at != -1:
            spans.append((at, at + len(value)))
            at = text.find(value, at + 1)
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# Fields whose values are secret in any payload we or our libraries might print.
_FIELD_PATTERN = re.compile(
    r"""(?P<key>(?:access_token|client_secret|client_assertion|private_key|refresh_token|id_token)
        \\*["']?\s*[:=]\s*\\*["']?)
        (?P<value>[^"'&\s,}\\]+)""",
    re.VERBOSE | re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"(?P<key>\b(?:Basic|Bearer)\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})")


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret and every secret-looking field value removed."""
    # As _secret_spans: few values against this text, each is looked for (in C); many, the
    # index is scanned once. Under the lock: a registration from another thread waits.
    with _lock:
        count = len(_index.values)
        if not count:
            spans: list[tuple[int, int]] = []
        elif count * 4 <= len(text):
            spans = _merged(_found(text, _index.values))
        else:
            spans = _merged(_index.scan(text))
    if spans:
        parts, last = [], 0
        for start, end in spans:
            parts += [text[last:start], REDACTED]
            last = end
        parts.append(text[last:])
        text = "".join(parts)
    text = _FIELD_PATTERN.sub(lambda m: m.group("key") + REDACTED, text)
    return _AUTH_HEADER.sub(lambda m: m.group("key") + REDACTED, text)


# Terminal escape sequences (ECMA-48): CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC, the 8-bit
# CSI and OSC, and two-byte escapes. Stripped whole, so no half-sequence survives.
@functools.cache
def _escapes() -> re.Pattern[str]:
    # Compiled on first use: only server text (``untrusted``) needs it, and every run loads this module.
    return re.compile(
        r"\x1b\[[0-?]*[ -/]*[@-~]?"
        r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
        r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
        r"|\x9b[0-?]*[ -/]*[@-~]?"
        r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
        r"|\x1b.?",
        re.DOTALL,
    )


# Unicode categories that never belong in a log line: controls, format characters (bidi
# overrides, zero-width), surrogates (unprintable), private use.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co"})


def untrusted(text: str, *, limit: int) -> str:
    """Server-provided text made fit for one log or error line: scrubbed of every registered
    secret first (before any transform could split an echoed value), terminal escape sequences
    and control, format and surrogate characters removed, whitespace collapsed, at most
    ``limit`` characters (an ellipsis marks a cut), and scrubbed once more."""
    text = scrub(text)
    text = _escapes().sub("", text)
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _UNPRINTABLE
    )
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return scrub(text)


class Secret:
    """A secret string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        """The value itself: only where it must go on the wire or into a secret."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the value somewhere we cannot see.
        raise TypeError("Secret values cannot be pickled")
