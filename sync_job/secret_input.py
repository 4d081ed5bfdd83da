"""Reading a new client secret or private key from the operator: from the terminal without echo,
or from standard input when it is not a terminal. Never from arguments or the environment, which
other users of the host can read (``ps``, ``/proc/<pid>/environ``).

Every value read is wrapped in :class:`~sync_job.redact.Secret` at once, so it is registered for
scrubbing before anything could print it. Errors say what is wrong with the input, never quote it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import BinaryIO

from sync_job.errors import CredentialsError, UsageError
from sync_job.redact import Secret

# A client secret is a few dozen bytes and a PEM key plus certificate chain a few kB; anything
# far larger is a wrong file piped in, not a credential.
MAX_INPUT_BYTES = 64 * 1024

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
# RFC 6749 appendix A.2: a client secret is VSCHAR (%x20-7E); a line break or other control
# character inside is a paste gone wrong, not part of the secret.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class NewCredentials:
    """What the operator gave: a client secret, or a private key (with an optional certificate
    chain, PEM text; public, but kept beside the key it certifies)."""

    client_secret: Secret | None = None
    private_key: Secret | None = None
    certificate: str | None = None


def read_input(stdin: BinaryIO, *, is_tty: bool, pem: bool, what: str) -> Secret:
    """The raw input: a hidden prompt on a terminal, else all of ``stdin`` (at most
    ``MAX_INPUT_BYTES``, UTF-8, one trailing newline dropped). Raises ``UsageError`` (exit 2)
    when it is empty, too large or not UTF-8."""
    if is_tty:
        text = _read_terminal(pem=pem, what=what)
    else:
        data = stdin.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise UsageError(f"the input on stdin is larger than {MAX_INPUT_BYTES // 1024} KiB; not a {what}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"the input on stdin is not UTF-8 text; not a {what}") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    secret = Secret(text)
    if not text.strip():
        raise UsageError(f"no {what} given: the input is empty")
    return secret


def _read_terminal(*, pem: bool, what: str) -> str:
    if not pem:
        import getpass

        # getpass prompts on and reads one line from /dev/tty with echo off, then restores the mode.
        try:
            return getpass.getpass(f"New {what} (not echoed): ")
        except EOFError:
            return ""
    # A PEM key is many lines: read to end of input (Ctrl-D) with echo off.
    import termios

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
    try:
        # The prompt comes after echo is off, as getpass does: what is typed once it shows is
        # never echoed, and nothing typed ahead of it is flushed away unseen.
        _prompt(f"Paste the {what}, then press Ctrl-D on a new line (nothing is echoed):\n")
        text = sys.stdin.read(MAX_INPUT_BYTES + 1)
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)
    if len(text.encode()) > MAX_INPUT_BYTES:
        raise UsageError(f"the input is larger than {MAX_INPUT_BYTES // 1024} KiB; not a {what}")
    return text


def _prompt(text: str) -> None:
    # On the terminal itself, like getpass: stderr may be redirected to a log.
    try:
        with open("/dev/tty", "w", encoding="utf-8") as tty:
            tty.write(text)
    except OSError:
        sys.stderr.write(text)
        sys.stderr.flush()


def parse_new_credentials(raw: Secret, auth_method: str) -> NewCredentials:
    """Check the input fits ``auth_method`` and split a PEM key from its certificate chain.
    Raises ``UsageError`` (exit 2) naming what is wrong, never showing the input."""
    if auth_method != "private_key_jwt":
        check_client_secret(raw.reveal(), auth_method)
        return NewCredentials(client_secret=raw)
    parts = split_pem(raw.reveal())
    private_key = Secret(parts.private_key)
    _check_key_and_certificate(private_key, parts.certificate)
    return NewCredentials(private_key=private_key, certificate=parts.certificate)


def check_client_secret(text: str, auth_method: str) -> None:
    """Refuse input that cannot be a client secret for ``auth_method``: a PEM block, or a line
    break or other control character (a client secret is VSCHAR, RFC 6749 appendix A.2).
    Raises ``UsageError``; never quotes ``text``."""
    if "-----BEGIN " in text:
        raise UsageError(
            f"the input is a PEM block, but auth_method is {auth_method}: give the client secret"
        )
    if _CONTROL.search(text):
        raise UsageError(
            "the client secret holds a line break or another control character; "
            "give it on one line (a client secret is printable ASCII)"
        )


@dataclass(frozen=True)
class PemParts:
    """A PEM input split: ``private_key`` the one key block (PEM text, newline-terminated),
    ``certificate`` the certificate blocks that follow it, concatenated (None without one)."""

    private_key: str
    certificate: str | None


def split_pem(text: str) -> PemParts:
    """The one private key block and the certificate blocks of ``text``, the key first; nothing
    else (no text outside blocks, no other block type, not an encrypted key). Pure; raises
    ``UsageError`` naming what is wrong, never quoting ``text``. Whether the key parses and
    the certificate is for it is checked after (``_check_key_and_certificate``)."""
    blocks = list(_PEM_BLOCK.finditer(text))
    if _PEM_BLOCK.sub("", text).strip():
        raise UsageError(
            "the input holds text outside PEM blocks; give the PEM private key, optionally "
            "followed by its certificate"
        )
    labels = [b.group(1) for b in blocks]
    _check_pem_labels(labels)
    certs = [b.group(0) + "\n" for b in blocks if b.group(1) == "CERTIFICATE"]
    return PemParts(private_key=blocks[0].group(0) + "\n", certificate="".join(certs) or None)


def _check_pem_labels(labels: list[str]) -> None:
    """The block labels, in order, are one private key first, then certificates only."""
    others = sorted(set(labels) - set(_KEY_LABELS) - {"CERTIFICATE"})
    if others:
        hint = " (the key must not be encrypted)" if "ENCRYPTED PRIVATE KEY" in others else ""
        raise UsageError(f"unexpected PEM block {others[0]}{hint}; give a private key and certificates only")
    keys = sum(1 for label in labels if label in _KEY_LABELS)
    if keys != 1:
        raise UsageError(
            f"the input holds {keys} PEM private keys; give exactly one, optionally "
            "followed by its certificate"
        )
    if labels[0] not in _KEY_LABELS:
        raise UsageError("give the private key first, then its certificate")


def _check_key_and_certificate(key: Secret, certificate: str | None) -> None:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_private_key,
        )
    except ImportError:  # pragma: no cover - cryptography ships with the jwt extra
        raise CredentialsError(
            "auth_method private_key_jwt needs PyJWT and cryptography: pip install 'sync-job[jwt]'"
        ) from None
    try:
        private = load_pem_private_key(key.reveal().encode(), password=None)
    except Exception:
        # Never chain: a parser's message may quote part of the key.
        raise UsageError("the input's private key is not an unencrypted PEM private key") from None
    if certificate is None:
        return
    try:
        leaf = x509.load_pem_x509_certificates(certificate.encode())[0]
    except ValueError:
        raise UsageError("the input's certificate is not a valid PEM certificate") from None
    spki = (Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if leaf.public_key().public_bytes(*spki) != private.public_key().public_bytes(*spki):
        raise UsageError("the certificate is not for the private key given (their public keys differ)")
