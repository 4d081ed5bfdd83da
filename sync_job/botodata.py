"""A botocore data ``Loader`` that serves only what the job's clients need.

botocore's first client creation pays for every service it ships, not just the one asked for:
``Loader.load_service_model`` first lists every service folder (about 450, each listed again
for its API versions, once for ``service-2`` and once for ``endpoint-rule-set-1``: about 10 ms
warm, 80 ms from a cold page cache), and the session's endpoint resolver parses the whole
1.25 MB ``endpoints.json`` (about 15 ms). Measured on this project's machine, about 30 of a
37 ms client creation.

:class:`TrimmedLoader` skips both for the services the job calls (:data:`SERVICES`): it finds a
service's API version with ``list_api_versions`` (one folder listed per search path, so a model
in ``~/.aws/models`` or ``AWS_DATA_PATH`` still wins, as with the stock loader), and serves
``endpoints`` from ``sync_job/_botocore_data/<botocore version>/endpoints.json``: botocore's own
file with only :data:`SERVICES` kept in each partition, generated from the installed botocore
by ``python -m scripts.gen_botocore_data``, and each of their ``service-2`` models from
``<botocore version>/<service>/<API version>/service-2.json``: botocore's model without its
documentation text (:func:`trim_model`; Secrets Manager's 174 kB gzipped model parses in a
third of the time). Everything else (other services, other data, an ``endpoints.json`` or a
model of the user's own in a search path) goes to the stock loader unchanged.

:func:`make_loader` falls back to botocore's stock loader when no generated file matches the
installed botocore's version, so an unpinned install still works, only slower.
``tests/unit/test_botodata.py`` checks that every region of botocore's partitions resolves the
same endpoint URL and signing region for each of :data:`SERVICES` with either loader.

:func:`make_session` makes the job's session (under the same version condition) as
``botocore.session.get_session()`` does, less two costs of a first client that are not the
job's services' (about 6 of its 13 ms): :class:`TrimmedSession` registers only the built-in
event handlers that can fire for :data:`SERVICES` (11 of botocore 1.44's 127; the rest belong
to S3, EC2, Glacier, ... and are registered before a client of any other service is made), and
when the environment holds credentials (``AWS_ACCESS_KEY_ID``, as on Lambda), the credential
chain is that one provider, which is what botocore's full chain returns then, without building
the instance-metadata and container providers it never reaches.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import botocore
import botocore.exceptions
import botocore.session
from botocore import handlers
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials, EnvProvider
from botocore.loaders import ExtrasProcessor, Loader, create_loader, instance_cache
from botocore.utils import EVENT_ALIASES

# The AWS services whose clients the job makes (store.make_client: Secrets Manager;
# awsclient.bounded_client: KMS signing and STS web-identity federation, keyless.py). A client
# of any other service must be added here and the data regenerated.
SERVICES = ("secretsmanager", "kms", "sts")

# How botocore's events name SERVICES (``ServiceModel.service_id`` hyphenized, e.g.
# "before-call.secrets-manager.GetSecretValue"), and the older names it aliases to them.
EVENT_NAMES = frozenset({"secrets-manager", "secretsmanager", "kms", "sts"})

DATA_ROOT = Path(__file__).resolve().parent / "_botocore_data"
ENDPOINTS = "endpoints"
MODEL = "service-2"
_DOC_KEYS = frozenset({"documentation", "documentationUrl"})


def endpoints_path(version: str | None = None) -> Path:
    """Where the trimmed ``endpoints.json`` generated for botocore ``version`` (default: the
    installed one) lives; it need not exist."""
    return DATA_ROOT / (version or botocore.__version__) / f"{ENDPOINTS}.json"


def model_path(service: str, api_version: str, version: str | None = None) -> Path:
    """Where the trimmed ``service-2.json`` of ``service`` at ``api_version``, generated for
    botocore ``version`` (default: the installed one), lives; it need not exist."""
    return endpoints_path(version).parent / service / api_version / f"{MODEL}.json"


def trim_model(model: Any) -> Any:
    """A botocore service model (``service-2``) without its documentation: every
    ``documentation`` and ``documentationUrl`` whose value is text removed, at any depth (a
    member *named* ``documentation`` maps to a shape reference, an object, and stays). What
    botocore reads from a model to serialize, sign and parse is left as it is; only the
    docstrings of the client's methods (``help(client.get_secret_value)``) lose their text."""
    if isinstance(model, dict):
        return {
            key: trim_model(value)
            for key, value in model.items()
            if not (key in _DOC_KEYS and isinstance(value, str))
        }
    if isinstance(model, list):
        return [trim_model(item) for item in model]
    return model


def trim_endpoints(endpoints: dict[str, Any], services: tuple[str, ...] = SERVICES) -> dict[str, Any]:
    """botocore's ``endpoints.json`` document with only ``services`` left in each partition's
    ``services`` table; every other key (regions, defaults, DNS suffix, version) as it is."""
    partitions = [
        {
            **partition,
            "services": {s: partition["services"][s] for s in services if s in partition["services"]},
        }
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


class TrimmedLoader(Loader):
    """A stock botocore ``Loader`` (same search paths, same answers) that loads the models of
    ``services`` without listing every service folder first, and serves ``endpoints`` from
    ``endpoints_file`` (a trimmed copy of the built-in one, see the module docstring) and the
    ``service-2`` models of ``services`` from beside it (:func:`model_path`) unless a search
    path ahead of botocore's own holds that data."""

    def __init__(
        self,
        endpoints_file: Path,
        services: tuple[str, ...] = SERVICES,
        extra_search_paths: list[str] | None = None,
    ) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self._endpoints_file = endpoints_file
        self._services = frozenset(services)

    @instance_cache
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        """As ``Loader.load_service_model``; for one of the job's services without
        ``list_available_services`` (a listing of every service folder)."""
        if service_name not in self._services:
            return super().load_service_model(service_name, type_name, api_version)
        if api_version is None:
            try:
                api_version = self.determine_latest_version(service_name, type_name)
            except botocore.exceptions.DataNotFoundError:
                # No such model type (e.g. waiters-2): the stock path raises the stock error.
                return super().load_service_model(service_name, type_name, api_version)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        # What the stock method adds next: each extras file (e.g. service-2.sdk-extras) merged in.
        extras = []
        for extras_type in self.extras_types:
            path = os.path.join(service_name, api_version, f"{type_name}.{extras_type}-extras")
            with contextlib.suppress(botocore.exceptions.DataNotFoundError):
                extras.append(self.load_data(path))
        ExtrasProcessor().process(model, extras)
        return model

    @instance_cache
    def load_data_with_path(self, name: str) -> tuple[Any, str]:
        """As ``Loader.load_data_with_path``; ``endpoints`` and the job's services' ``service-2``
        models from the trimmed files when botocore's built-in ones are what the stock loader
        would have found."""
        trimmed = self._trimmed_file(name)
        if trimmed is not None and not self._overridden(name):
            return json.loads(trimmed.read_bytes()), str(trimmed)
        return super().load_data_with_path(name)

    def is_builtin_path(self, path: str) -> bool:
        """The trimmed files count as botocore's own data (each a subset of it): the endpoint
        resolver treats built-in and custom endpoint data differently."""
        return path.startswith(str(self._endpoints_file.parent) + os.sep) or bool(
            super().is_builtin_path(path)
        )

    def _trimmed_file(self, name: str) -> Path | None:
        """The generated file standing for botocore's data ``name``, if there is one."""
        if name == ENDPOINTS:
            return self._endpoints_file
        parts = name.split("/")
        if len(parts) == 3 and parts[0] in self._services and parts[2] == MODEL:
            path = self._endpoints_file.parent.joinpath(*parts[:2], f"{MODEL}.json")
            return path if path.is_file() else None
        return None

    def _overridden(self, name: str) -> bool:
        """Whether a search path ahead of botocore's data (``AWS_DATA_PATH``, ``~/.aws/models``)
        holds data ``name`` of its own, which the stock loader would load instead."""
        return any(
            self.file_loader.exists(os.path.join(path, name))
            for path in self.search_paths
            if path != self.BUILTIN_DATA_PATH
        )


def make_loader(data_path: str | None = None) -> Loader:
    """The data loader for the job's botocore session: a :class:`TrimmedLoader` when data was
    generated for the installed botocore version, else botocore's stock loader. ``data_path`` is
    the session's ``data_path`` setting (``AWS_DATA_PATH``: extra search paths separated by
    ``os.pathsep``), handled as ``botocore.loaders.create_loader`` does."""
    trimmed = endpoints_path()
    if not trimmed.is_file():
        return create_loader(data_path)
    extra = None
    if data_path is not None:
        extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
    return TrimmedLoader(trimmed, SERVICES, extra_search_paths=extra)


def handler_service(event_name: str) -> str | None:
    """The service a built-in handler's event name is scoped to, as botocore's events name it
    (aliases applied): ``"before-call.s3.PutObject"`` → ``"s3"``, ``"docs.*.ec2.*.complete-section"``
    → ``"ec2"``; None for an event of every service (``"before-call"``) or of any (``"*"``)."""
    parts = event_name.split(".")
    index = 2 if parts[0] == "docs" else 1
    if len(parts) <= index or parts[index] == "*":
        return None
    return str(EVENT_ALIASES.get(parts[index], parts[index]))


def job_handlers(
    specs: list[tuple[Any, ...]] | None = None,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``botocore.handlers.BUILTIN_HANDLERS`` (or ``specs``) split in order into the handlers
    that can fire for :data:`SERVICES` (events of every service, or of one of them) and the rest."""
    kept: list[tuple[Any, ...]] = []
    rest: list[tuple[Any, ...]] = []
    for spec in handlers.BUILTIN_HANDLERS if specs is None else specs:
        service = handler_service(spec[0])
        (kept if service is None or service in EVENT_NAMES else rest).append(spec)
    return kept, rest


class TrimmedSession(botocore.session.Session):
    """A botocore ``Session`` that registers only the built-in handlers that can fire for
    :data:`SERVICES` (:func:`job_handlers`), and the others before it makes a client of any
    other service. Each handler belongs to one event name, and botocore orders an event's
    handlers by how specific their names are, then by registration within one name, so the
    handlers an event of any service finds are the same as in a stock session
    (``tests/unit/test_botodata.py`` compares them for every operation of :data:`SERVICES`)."""

    _rest_registered = False

    def _register_builtin_handlers(self, events: Any) -> None:
        # Overrides botocore's Session._register_builtin_handlers (same loop, fewer handlers).
        _register(events, job_handlers()[0])

    def create_client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        """``Session.create_client``; first the remaining built-in handlers when ``service_name``
        is not one of :data:`SERVICES`."""
        if service_name not in SERVICES and not self._rest_registered:
            self._rest_registered = True
            _register(self.get_component("event_emitter"), job_handlers()[1])
        return super().create_client(service_name, *args, **kwargs)


def _register(events: Any, specs: list[tuple[Any, ...]]) -> None:
    """What ``Session._register_builtin_handlers`` does with each of ``specs``."""
    for spec in specs:
        if len(spec) == 2:
            events.register(spec[0], spec[1])
        elif spec[2] is handlers.REGISTER_FIRST:
            events.register_first(spec[0], spec[1])
        elif spec[2] is handlers.REGISTER_LAST:
            events.register_last(spec[0], spec[1])


class _Found(CredentialProvider):
    """The environment's credentials, loaded once (``EnvProvider.load`` logs each load)."""

    METHOD = EnvProvider.METHOD
    CANONICAL_NAME = EnvProvider.CANONICAL_NAME

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def make_session() -> botocore.session.Session:
    """The job's botocore session: what ``botocore.session.get_session()`` makes, with the data
    loader of :func:`make_loader`. When the installed botocore has generated data (the version
    the equivalence tests ran against), a :class:`TrimmedSession`, and when the environment holds
    credentials and no profile was given to the session (botocore's chain then returns the
    environment's: ``botocore.credentials.create_credential_resolver`` puts ``EnvProvider``
    first), a credential chain of that provider alone. Raises what botocore raises for bad
    credentials in the environment (``PartialCredentialsError``), as the full chain would."""
    if not endpoints_path().is_file():
        session = botocore.session.get_session()
    else:
        session = TrimmedSession()
        found = EnvProvider().load() if session.instance_variables().get("profile") is None else None
        if found is not None:
            session.register_component("credential_provider", CredentialResolver(providers=[_Found(found)]))
    session.register_component("data_loader", make_loader(session.get_config_variable("data_path")))
    return session
