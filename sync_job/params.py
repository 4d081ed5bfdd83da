"""``endpoint_params``: extra form fields sent with every token request.

The name follows golang.org/x/oauth2's ``clientcredentials.Config.EndpointParams``. Providers need
them for things RFC 6749 leaves open: Auth0 issues a token for an API only when the request names
it in ``audience``; RFC 8707 resource indicators are repeated ``resource`` fields.

In TOML a value is a string, or a list of strings sent as repeated fields::

    endpoint_params = { audience = "https://api.example.com" }
    endpoint_params = { resource = ["https://api.example.com/a", "https://api.example.com/b"] }

Validated here into a tuple of ``(name, value)`` pairs (a list becomes one pair per item, in
order) so that ``EnvironmentConfig`` stays frozen and hashable. Values are never echoed in
errors: a config file is the wrong place for a secret, and a message must not spread one.
"""

from __future__ import annotations

import re

from sync_job import inputs
from sync_job.errors import ConfigError

# Fields the client-credentials grant and client authentication set themselves; a config that
# sets one would either be overridden silently or send a second, conflicting copy.
GRANT_FIELDS = frozenset(
    {"grant_type", "scope", "client_id", "client_secret", "client_assertion", "client_assertion_type"}
)
# Names that say "credential": such a value belongs in the credentials secret, never in a file
# that is committed, rendered by Terraform and logged.
_SECRET_NAME = re.compile(
    r"secret|passw|token|private[_-]?key|api[_-]?key|assertion|credential", re.IGNORECASE
)
# Values shaped like a credential, whatever the name: a PEM block, a JWT, an Authorization value.
_SECRET_VALUE = re.compile(
    r"-----BEGIN |^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.|^(basic|bearer) [A-Za-z0-9+/=._~-]{8,}$",
    re.IGNORECASE,
)
# Visible ASCII only: a form field name with spaces or controls is a typo, not a provider's API.
_NAME = re.compile(r"^[!-~]{1,128}$")
MAX_VALUE_CHARS = 2048
MAX_FIELDS = 32


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: {problem}")


def _check_value(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must be a string, got {type(value).__name__}")
    if not value or value != value.strip():
        raise _fail(where, "must be a non-empty string without surrounding spaces")
    if len(value) > MAX_VALUE_CHARS:
        raise _fail(where, f"is longer than {MAX_VALUE_CHARS} characters")
    # C0, DEL, C1, U+2028/2029, bidi overrides, bytes that were not UTF-8 (inputs.problem).
    wrong = inputs.problem(value, max_chars=MAX_VALUE_CHARS, spaces=True)
    if wrong is not None:
        raise _fail(where, f"must not contain control characters (newline, tab, ...): it {wrong}")
    if _SECRET_VALUE.search(value):
        raise _fail(
            where,
            "looks like a credential (PEM, JWT or Authorization value); secrets belong in the "
            "credentials secret, not in the config file",
        )
    return value


def check_endpoint_params(where: str, value: object) -> tuple[tuple[str, str], ...]:
    """Validate an ``endpoint_params`` table.

    ``value``: the parsed TOML, ``{name: str | list[str]}``. Returns ``((name, value), ...)``
    with one pair per list item. Raises ``ConfigError`` (naming ``where`` and the field, never
    the value) for a non-table, a bad name, a field the grant sets itself, a credential-like
    name or value, a non-string or empty value, an empty list, or control characters.
    """
    if not isinstance(value, dict):
        example = '{ audience = "https://api.example.com" }'
        raise _fail(where, f"must be a table, e.g. {example}, got {type(value).__name__}")
    if len(value) > MAX_FIELDS:
        raise _fail(where, f"has more than {MAX_FIELDS} fields")
    pairs: list[tuple[str, str]] = []
    for name, item in value.items():
        if not _NAME.match(name):
            raise _fail(where, "field names are 1-128 visible ASCII characters (no spaces or controls)")
        field = f"{where}.{name}"
        # Compared as a server may: case and blanks ignored (SCOPE, Grant_Type, " scope").
        if name.strip().lower() in GRANT_FIELDS:
            raise _fail(
                field,
                "is set by the grant itself; use scopes, auth_method and the credentials secret instead",
            )
        if _SECRET_NAME.search(name):
            raise _fail(
                field,
                "looks like a credential; secrets belong in the credentials secret "
                "(credentials_secret), not in the config file",
            )
        if isinstance(item, list):
            if not item:
                raise _fail(field, "is an empty list; remove it or give at least one value")
            pairs.extend((name, _check_value(f"{field}[{i}]", v)) for i, v in enumerate(item))
        else:
            pairs.append((name, _check_value(field, item)))
    return tuple(pairs)


def form_fields(params: tuple[tuple[str, str], ...]) -> dict[str, str | list[str]]:
    """``endpoint_params`` pairs as a form dict: a repeated name maps to a list, which requests
    sends as repeated fields (``resource=a&resource=b``)."""
    out: dict[str, str | list[str]] = {}
    for name, value in params:
        seen = out.get(name)
        if seen is None:
            out[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            out[name] = [seen, value]
    return out
