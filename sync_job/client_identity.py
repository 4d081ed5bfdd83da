"""Where an environment's ``client_id`` comes from: the credentials secret, the config's
``client_id``, or both (issue 20 §2: a keyless client needs no credentials secret at all).

The client identifier is not a secret (RFC 6749 §2.2), so it may sit in the config. A KMS-signed
or federated ``private_key_jwt`` client (``kms_key_id``, ``client_assertion_source``,
``client_assertion_file``) with ``client_id`` in the config reads no credentials secret; every
other kind reads it as before. When both name a client id they must agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sync_job.config import EnvironmentConfig, shown
from sync_job.errors import CredentialsError, SyncJobError, UsageError

if TYPE_CHECKING:
    from sync_job.credentials import Credentials

# Credential kinds that keep nothing in the credentials secret (config.credential_kind).
SECRETLESS_KINDS = ("kms_key", "aws_sts", "assertion_file")


def needs_secret(env: EnvironmentConfig) -> bool:
    """True when ``env``'s credentials come from its credentials secret (it names one)."""
    return env.credentials_secret is not None


def from_config(env: EnvironmentConfig) -> Credentials:
    """The credentials of an environment without a credentials secret: just the config's
    ``client_id`` (``keyless.complete`` adds the KMS key or the assertion source).
    Config validation guarantees ``client_id`` is set and the kind needs no secret."""
    assert env.client_id is not None and env.credentials_secret is None
    from sync_job.credentials import Credentials  # a run that finds every token fresh needs none

    return Credentials(client_id=env.client_id, source=f"config environments.{shown(env.name)}.client_id")


def reconcile(env: EnvironmentConfig, creds: Credentials) -> Credentials:
    """``creds`` read from ``env``'s credentials secret, checked against the config's
    ``client_id``: equal (or absent in the config) → ``creds``. Raises :class:`CredentialsError`
    naming both places (never a value) when they differ: which one is meant is the operator's call."""
    if env.client_id is None or env.client_id == creds.client_id:
        return creds
    raise CredentialsError(
        f"credentials secret {creds.source}: 'client_id' differs from the config's "
        f"environments.{shown(env.name)}.client_id; keep one (remove it from the secret, or from the config)"
    )


def credentials_of(env: EnvironmentConfig, read: Callable[[str, str], Credentials]) -> Credentials:
    """``env``'s credentials: from the config when it has no credentials secret (nothing is
    read), else ``read(credentials_secret, auth_method)`` reconciled with the config's
    ``client_id``. Raises what ``read`` raises, or :class:`CredentialsError` (see ``reconcile``)."""
    if env.credentials_secret is None:
        return from_config(env)
    return reconcile(env, read(env.credentials_secret, env.auth_method))


def secret_of(env: EnvironmentConfig) -> str:
    """``env``'s credentials secret, for the commands that write it (``credentials put``,
    ``stage``, ``promote``). Raises :class:`UsageError` when it has none (a keyless
    environment whose client id is in the config keeps nothing to put)."""
    if env.credentials_secret is None:
        raise UsageError(
            f"environment {shown(env.name)} has no credentials_secret (its client_id is in the config "
            f"and a {env.credential_kind} credential keeps nothing secret); nothing to put"
        )
    return env.credentials_secret


def credentials_from(
    env: EnvironmentConfig, read: Mapping[tuple[str, str], Credentials | SyncJobError]
) -> Credentials | str:
    """``env``'s credentials out of a batched read (``store.read_credentials_many``, keyed by
    (credentials_secret, auth_method)), or the one-line reason they cannot be used: the config's
    for an environment without a credentials secret, else the read reconciled (``reconcile``)."""
    if env.credentials_secret is None:
        return from_config(env)
    found = read[(env.credentials_secret, env.auth_method)]
    if isinstance(found, SyncJobError):
        return found.message
    try:
        return reconcile(env, found)
    except CredentialsError as exc:
        return exc.message
