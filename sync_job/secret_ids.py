"""Secrets Manager secret ids compared by identity, not spelling.

A ``SecretId`` is a secret's name, its full ARN (``arn:aws:secretsmanager:REGION:ACCOUNT:secret:
NAME-XXXXXX``, the name plus a hyphen and six random characters Secrets Manager appends), or a
partial ARN (the full ARN without the suffix). AWS API reference, "SecretId" of GetSecretValue;
Secrets Manager User Guide, "Secret ARN". So ``prod/token``,
``arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/token`` and ``...:secret:prod/token-a1b2c3``
name one secret in that account and region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):secretsmanager:(?P<region>[^:]*):(?P<account>[^:]*):secret:(?P<rest>.+)$"
)
# The suffix Secrets Manager adds to a secret's name in its ARN: a hyphen and six characters.
_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


@dataclass(frozen=True)
class SecretRef:
    """What a ``SecretId`` says about the secret: the names it may have (a full ARN's last part
    with and without the suffix: which one it is cannot be told from the text alone), and the
    region and account when it is an ARN (None for a bare name: the job's own)."""

    names: frozenset[str]
    region: str | None = None
    account: str | None = None


def secret_ref(secret_id: str) -> SecretRef:
    """Parse ``secret_id`` (a name, full ARN or partial ARN) into a :class:`SecretRef`."""
    found = _ARN.match(secret_id)
    if found is None:
        return SecretRef(names=frozenset({secret_id}))
    rest = found["rest"]
    names = {rest}
    if _SUFFIX.search(rest):
        names.add(_SUFFIX.sub("", rest))
    return SecretRef(names=frozenset(names), region=found["region"] or None, account=found["account"] or None)


def may_be_same(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` may name the same secret: a common name, and no region or
    account on which both are explicit and differ. A bare name is in the job's own account and
    region, which the config does not say, so it may be any ARN's secret of that name."""
    ra, rb = secret_ref(a), secret_ref(b)
    if not ra.names & rb.names:
        return False
    for x, y in ((ra.region, rb.region), (ra.account, rb.account)):
        if x is not None and y is not None and x != y:
            return False
    return True
