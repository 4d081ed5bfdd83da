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
by ``python -m scripts.gen_botocore_data``. Everything else (other services, other data, an
``endpoints.json`` of the user's own in a search path) goes to the stock loader unchanged.

:func:`make_loader` falls back to botocore's stock loader when no generated file matches the
installed botocore's version, so an unpinned install still works, only slower.
``tests/unit/test_botodata.py`` checks that every region of botocore's partitions resolves the
same endpoint URL and signing region for each of :data:`SERVICES` with either loader.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import botocore
import botocore.exceptions
from botocore.loaders import ExtrasProcessor, Loader, create_loader, instance_cache

# The AWS services whose clients the job makes (store.make_client: Secrets Manager;
# awsclient.bounded_client: KMS signing and STS web-identity federation, keyless.py). A client
# of any other service must be added here and the data regenerated.
SERVICES = ("secretsmanager", "kms", "sts")

DATA_ROOT = Path(__file__).resolve().parent / "_botocore_data"
ENDPOINTS = "endpoints"


def endpoints_path(version: str | None = None) -> Path:
    """Where the trimmed ``endpoints.json`` generated for botocore ``version`` (default: the
    installed one) lives; it need not exist."""
    return DATA_ROOT / (version or botocore.__version__) / f"{ENDPOINTS}.json"


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
    ``endpoints_file`` (a trimmed copy of the built-in one, see the module docstring) unless a
    search path ahead of botocore's own holds an ``endpoints.json``."""

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
        """As ``Loader.load_data_with_path``; ``endpoints`` from the trimmed file when botocore's
        built-in one is what the stock loader would have found."""
        if name == ENDPOINTS and not self._endpoints_overridden():
            return json.loads(self._endpoints_file.read_bytes()), str(self._endpoints_file)
        return super().load_data_with_path(name)

    def is_builtin_path(self, path: str) -> bool:
        """The trimmed file counts as botocore's own data (it is a subset of it): the endpoint
        resolver treats built-in and custom endpoint data differently."""
        return path == str(self._endpoints_file) or bool(super().is_builtin_path(path))

    def _endpoints_overridden(self) -> bool:
        """Whether a search path ahead of botocore's data (``AWS_DATA_PATH``, ``~/.aws/models``)
        holds an ``endpoints.json`` of its own, which the stock loader would load instead."""
        return any(
            self.file_loader.exists(os.path.join(path, ENDPOINTS))
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
