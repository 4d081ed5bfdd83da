"""Keeps secret values out of every string the job emits.

Two layers: values are carried in :class:`Secret`, whose ``repr``/``str`` never show them, and
every value that ever becomes a ``Secret`` is registered so that log output can be scrubbed of it
as a last line of defence (a library's debug log, an exception text from a dependency).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
# Shorter values would make scrubbing destroy ordinary words; no real secret is this short.
_MIN_LENGTH = 6

_lock = threading.Lock()
_known: set[str] = set()
_ordered: tuple[str, ...] = ()
_dirty = False


def _variants(value: str) -> set[str]:
    # The same value as it appears form-encoded, JSON-escaped (once and, inside a JSON string
    # inside a JSON document, twice) and base64'd (an HTTP Basic header).
    once = json.dumps(value)[1:-1]
    twice = json.dumps(once)[1:-1]
    out = {value, quote_plus(value), quote(value, safe=""), once, twice}
    out.add(base64.b64encode(value.encode()).decode())
    return {v for v in out if len(v) >= _MIN_LENGTH}


def register(value: str) -> None:
    """Remember ``value`` (and its common encodings) so :func:`scrub` removes it."""
    global _dirty
    if len(value) < _MIN_LENGTH:
        return
    with _lock:
        new = _variants(value) - _known
        if new:
            _known.update(new)
            _dirty = True


def _values() -> tuple[str, ...]:
    # Sorted when first needed after a change, not on every registration: a run registers
    # several values per environment and may print nothing in between.
    global _ordered, _dirty
    if _dirty:
        with _lock:
            # Longest first, so a value is removed before any shorter value it contains.
            _ordered = tuple(sorted(_known, key=len, reverse=True))
            _dirty = False
    return _ordered


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
    for value in _values():
        if value in text:
            text = text.replace(value, REDACTED)
    text = _FIELD_PATTERN.sub(lambda m: m.group("key") + REDACTED, text)
    return _AUTH_HEADER.sub(lambda m: m.group("key") + REDACTED, text)


class Secret:
    """A secret string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
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
