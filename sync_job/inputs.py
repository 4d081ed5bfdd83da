"""One rule for user-supplied text that becomes a Prometheus label, a URL path segment (the
Pushgateway's grouping key), a file path, an AWS request field or part of a log line: the CLI's
options and arguments, the configuration's string keys, the Lambda event's names and the
environment variables the job reads.

Such text must be one printable line. A control character (C0, DEL, C1 U+0080-U+009F) breaks a
log line or a header in two or drives a terminal; a line or paragraph separator (U+2028/2029) is
a line break to JSON-lines readers and editors; a format character (bidi overrides such as
U+202E, zero-width spaces, U+FEFF) makes the shown text differ from the value; a lone surrogate
is a byte that was not UTF-8 (Python decodes command-line arguments and environment variables
with ``surrogateescape``, PEP 383) and cannot be encoded into a URL, a label or a JSON log line.
``str.isprintable`` is False for every one of these (Unicode categories Cc, Cf, Cs, Zl, Zp, Zs
other than the ASCII space, and unassigned code points), so it is the test.

The functions are pure: they say what is wrong (``problem``) and the caller raises its own error
with what to do (``UsageError`` for an option, ``ConfigError`` for a key), so each message names
the option or key it is about.
"""

from __future__ import annotations

import unicodedata

# A label or a name: a Prometheus `instance` is a host[:port]; 256 leaves room and keeps the
# Pushgateway's URL and every log line short.
MAX_NAME_CHARS = 256
# Free text (a client id, a JWT `kid`, an audience, an RFC 4514 subject, a secret ARN: Secrets
# Manager's SecretId is at most 2048 characters, API_GetSecretValue.html).
MAX_TEXT_CHARS = 2048
# A file path: Linux's PATH_MAX.
MAX_PATH_CHARS = 4096


def describe(ch: str) -> str:
    """``ch`` named for a message, never itself (it may be what breaks the line):
    ``"a control character (U+000A)"``, ``"a byte that is not UTF-8 (0xFF)"``."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        # surrogateescape's stand-in for an undecodable byte (PEP 383).
        return f"a byte that is not UTF-8 (0x{code - 0xDC00:02X})"
    category = unicodedata.category(ch)
    kind = {
        "Cc": "a control character",
        "Cf": "an invisible formatting character (bidi override, zero-width)",
        "Cs": "a lone surrogate",
        "Zl": "a line separator",
        "Zp": "a paragraph separator",
        "Zs": "a space other than ' '",
        "Cn": "an unassigned code point",
        "Co": "a private-use character",
    }.get(category, "a character that cannot be shown")
    return f"{kind} (U+{code:04X})"


def problem(value: str, *, max_chars: int = MAX_NAME_CHARS, spaces: bool = False) -> str | None:
    """What makes ``value`` unfit as one printable token, as a clause that completes "X ..."
    (``"is empty"``, ``"contains a control character (U+000A) at character 3"``), or None when
    it is fit. ``spaces``: inner ASCII spaces are allowed (a file path, a DN, a client id);
    surrounding blanks never are. At most ``max_chars`` characters."""
    if not value.strip():
        return "is empty"
    if len(value) > max_chars:
        return f"is {len(value)} characters long; at most {max_chars}"
    for index, ch in enumerate(value, start=1):
        if ch == " " and spaces:
            continue
        if ch == " ":
            return f"contains a space at character {index}"
        if not ch.isprintable():
            return f"contains {describe(ch)} at character {index}"
    if value != value.strip():
        return "has leading or trailing spaces"
    return None


def path_problem(value: str) -> str | None:
    """``problem`` for a file path: spaces allowed, no control or invisible character (NUL
    included: the kernel would cut the path there), at most ``MAX_PATH_CHARS``."""
    if value and value.strip() and value != value.strip():
        # A path may legitimately end in a space, but a pasted one almost always did by mistake.
        return "has leading or trailing spaces"
    return problem(value, max_chars=MAX_PATH_CHARS, spaces=True)


def shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for a message: escaped (``repr``, so a control character is ``\\n``) and
    cut to about ``limit`` characters, so a 5,000-character value still gives one short line."""
    text = repr(value[:limit])
    return text if len(value) <= limit else text + "…"
