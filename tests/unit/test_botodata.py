"""The trimmed botocore loader (sync_job/botodata.py): the same endpoints as botocore's stock
loader for every region of every partition, the committed data equal to what the generator makes
from the installed botocore, and the stock loader whenever the trimmed one could differ."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import botocore
import botocore.exceptions
import botocore.model
import botocore.session
import pytest
from botocore import handlers
from botocore.config import Config as BotoConfig
from botocore.loaders import Loader

from scripts import gen_botocore_data
from sync_job import awsclient, botodata, store

BUILTIN = Path(Loader.BUILTIN_DATA_PATH)
# What a SigV4 Authorization header names: Credential=<key id>/<date>/<region>/<service>/aws4_request
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
# One cheap call per service: what the job calls, or a read of the same protocol.
CALLS = {
    "secretsmanager": ("get_secret_value", {"SecretId": "s"}),
    "kms": ("get_public_key", {"KeyId": "k"}),
    "sts": ("get_caller_identity", {}),
}
# Endpoint variants a deployment can select (AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT,
# AWS_STS_REGIONAL_ENDPOINTS): each reads other parts of the endpoint data.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "fips": {"use_fips_endpoint": True},
    "dualstack": {"use_dualstack_endpoint": True},
}


class _Sent(Exception):
    """Raised by the before-send hook: the request as signed, never sent."""

    def __init__(self, url: str, scope: tuple[str, str] | None) -> None:
        super().__init__(url)
        self.url, self.scope = url, scope


def _capture(request: Any, **_: Any) -> None:
    auth = request.headers.get("Authorization", b"")
    auth = auth.decode() if isinstance(auth, bytes) else auth
    match = SCOPE.search(auth)
    raise _Sent(request.url, (match.group(1), match.group(2)) if match else None)


def _session(
    loader: Loader | None, cls: type[botocore.session.Session] = botocore.session.Session
) -> botocore.session.Session:
    session = cls()
    if loader is not None:
        session.register_component("data_loader", loader)
    session.set_credentials("AKIDEXAMPLE", "not-a-secret")
    session.get_component("event_emitter").register_first("before-send", _capture)
    return session


def _resolve(session: botocore.session.Session, service: str, region: str, variant: str) -> str:
    """The URL and SigV4 scope of one signed request, or the error that prevented it."""
    config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": 1},
        **VARIANTS.get(variant, {}),
    )
    # A session setting, not a client one: STS's global endpoint (endpoints.json's
    # partitionEndpoint) instead of the regional ones.
    session.set_config_variable("sts_regional_endpoints", "legacy" if variant == "sts-legacy" else None)
    try:
        client = session.create_client(service, region_name=region, config=config)
        operation, params = CALLS[service]
        getattr(client, operation)(**params)
    except _Sent as sent:
        return f"{sent.url} {sent.scope}"
    except botocore.exceptions.BotoCoreError as exc:
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError("the request was neither signed nor refused")


def _regions() -> list[str]:
    """Every region botocore knows: each partition's regions (endpoints.json and partitions.json)
    and every endpoint key a service lists for the job's services (e.g. ``fips-us-east-1``)."""
    names: set[str] = set()
    endpoints = json.loads((BUILTIN / "endpoints.json").read_bytes())
    for partition in endpoints["partitions"]:
        names |= set(partition["regions"])
        for service in botodata.SERVICES:
            names |= set(partition["services"].get(service, {}).get("endpoints", {}))
    partitions = json.loads((BUILTIN / "partitions.json").read_bytes())
    for partition in partitions["partitions"]:
        names |= set(partition["regions"])
    return sorted(names)


REGIONS = _regions()


@pytest.fixture(autouse=True)
def _no_configured_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # The session-wide moto fixture sets AWS_ENDPOINT_URL for the tests that talk to it; an
    # endpoint configured that way would replace every resolved URL compared here.
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[botocore.session.Session, ...]:
    assert botodata.endpoints_path().is_file(), "run python -m scripts.gen_botocore_data"
    trimmed = botodata.make_loader()
    assert isinstance(trimmed, botodata.TrimmedLoader)
    # The job's session (botodata.make_session): the trimmed loader and the trimmed handlers.
    return _session(None), _session(trimmed, botodata.TrimmedSession)


@pytest.mark.parametrize("service", botodata.SERVICES)
@pytest.mark.parametrize("variant", [*VARIANTS, "sts-legacy"])
def test_every_region_resolves_as_with_the_stock_loader(
    sessions: tuple[botocore.session.Session, ...], service: str, variant: str
) -> None:
    if variant == "sts-legacy" and service != "sts":
        pytest.skip("sts_regional_endpoints applies to STS only")
    stock, trimmed = sessions
    assert len(REGIONS) > 40  # botocore 1.44: 46 regions, and the fips-* names
    differ = {}
    signed = 0
    for region in REGIONS:
        want, got = _resolve(stock, service, region, variant), _resolve(trimmed, service, region, variant)
        signed += want.startswith("https://")
        if want != got:
            differ[region] = (want, got)
    assert differ == {}
    assert signed > len(REGIONS) // 2  # the comparison is of real endpoints, not of two errors


def test_the_trimmed_loader_really_skips_botocores_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the loader is for: no listing of every service folder, no parse of the full
    endpoints.json, for a client of each of the job's services."""

    def listing(*_: Any, **__: Any) -> None:
        raise AssertionError("list_available_services was called")

    monkeypatch.setattr(Loader, "list_available_services", listing)
    loader = botodata.make_loader()
    session = _session(loader)
    for service in botodata.SERVICES:
        assert _resolve(session, service, "eu-west-1", "default").startswith(f"https://{service}.eu-west-1.")
    endpoints, path = loader.load_data_with_path("endpoints")
    assert path == str(botodata.endpoints_path())
    assert loader.is_builtin_path(path)
    assert {s for p in endpoints["partitions"] for s in p["services"]} == set(botodata.SERVICES)


def test_the_committed_data_is_what_the_generator_makes_from_the_installed_botocore() -> None:
    committed = botodata.endpoints_path()
    assert committed.parent.name == botocore.__version__
    files = gen_botocore_data.render()
    assert committed in files
    assert len(files) == 1 + len(botodata.SERVICES)  # endpoints.json and a model per service
    assert {p: p.read_text() for p in files} == files
    assert set(committed.parent.rglob("*.json")) == set(files)
    assert gen_botocore_data.main(["--check"]) == 0
    # One version's data only: the generator removes the others.
    assert [p.name for p in botodata.DATA_ROOT.iterdir() if p.is_dir()] == [botocore.__version__]


def test_trim_keeps_every_partition_key_and_only_the_named_services() -> None:
    full = {
        "version": 3,
        "partitions": [
            {"partition": "aws", "regions": {"r": {}}, "services": {"kms": {"a": 1}, "s3": {}}},
            {"partition": "aws-x", "dnsSuffix": "x", "services": {"s3": {}}},
        ],
    }
    assert botodata.trim_endpoints(full, ("kms", "sts")) == {
        "version": 3,
        "partitions": [
            {"partition": "aws", "regions": {"r": {}}, "services": {"kms": {"a": 1}}},
            {"partition": "aws-x", "dnsSuffix": "x", "services": {}},
        ],
    }


def test_another_botocore_version_gets_the_stock_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore, "__version__", "0.0.0-unpinned")
    assert not botodata.endpoints_path().exists()
    loader = botodata.make_loader()
    assert type(loader) is Loader
    session = _session(loader)
    assert _resolve(session, "secretsmanager", "us-west-2", "default").startswith(
        "https://secretsmanager.us-west-2.amazonaws.com/"
    )


def test_aws_data_path_keeps_its_meaning(tmp_path: Path) -> None:
    """An ``endpoints.json`` or a model in AWS_DATA_PATH wins, as with the stock loader."""
    custom = {"partitions": [], "version": 3}
    (tmp_path / "endpoints.json").write_text(json.dumps(custom))
    model_dir = tmp_path / "kms" / "2099-01-01"
    model_dir.mkdir(parents=True)
    stock_model = Loader().load_service_model("kms", "service-2")
    (model_dir / "service-2.json").write_text(json.dumps({**stock_model, "custom": True}))
    loader = botodata.make_loader(str(tmp_path))
    assert isinstance(loader, botodata.TrimmedLoader)
    assert loader.load_data_with_path("endpoints") == (custom, str(tmp_path / "endpoints"))
    assert loader.load_service_model("kms", "service-2")["custom"] is True
    # Without it: the built-in model, the same as the stock loader's but for its documentation.
    assert botodata.make_loader().load_service_model("kms", "service-2") == botodata.trim_model(stock_model)


def test_other_services_and_model_types_answer_as_the_stock_loader_does() -> None:
    trimmed, stock = botodata.make_loader(), Loader()
    assert trimmed.load_service_model("s3", "service-2") == stock.load_service_model("s3", "service-2")
    assert trimmed.load_service_model("secretsmanager", "paginators-1") == stock.load_service_model(
        "secretsmanager", "paginators-1"
    )
    # No waiters for Secrets Manager: the same error (botocore catches DataNotFoundError).
    for loader in (trimmed, stock):
        with pytest.raises(botocore.exceptions.UnknownServiceError):
            loader.load_service_model("secretsmanager", "waiters-2")


def test_the_jobs_session_uses_it_and_refuses_other_services() -> None:
    store.botocore_session.cache_clear()
    try:
        assert isinstance(store.botocore_session().get_component("data_loader"), botodata.TrimmedLoader)
        with pytest.raises(ValueError, match=r"s3: add it to botodata.SERVICES"):
            awsclient.bounded_client("s3", budget_seconds=60)
    finally:
        store.botocore_session.cache_clear()


def _handlers(session: botocore.session.Session, event: str) -> list[Any]:
    """The handlers botocore runs for ``event``, in order (what ``emit`` walks)."""
    aliaser = session.get_component("event_emitter")
    return list(aliaser._emitter._handlers.prefix_search(aliaser._alias_event_name(event)))


def _event_kinds() -> set[str]:
    """Every event kind a built-in handler listens to (``before-call``, ``docs.*``, ...)."""
    kinds = set()
    for spec in handlers.BUILTIN_HANDLERS:
        parts = spec[0].split(".")
        kinds.add(".".join(parts[:2]) if parts[0] == "docs" else parts[0])
    return kinds


@pytest.mark.parametrize("service", [*botodata.SERVICES, "s3", "ec2"])
def test_the_trimmed_session_runs_the_same_handlers_as_a_stock_one(service: str) -> None:
    """For every operation of the job's services (and, once it makes their clients, of other
    services), each event finds the same handlers in the same order as in a stock session."""
    stock, trimmed = botocore.session.Session(), botodata.TrimmedSession()
    if service not in botodata.SERVICES:
        trimmed.create_client(
            service, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
    model = stock.get_service_model(service)
    name = model.service_id.hyphenize()
    if service in botodata.SERVICES:
        assert name in botodata.EVENT_NAMES
    events = [f"{kind}.{name}" for kind in _event_kinds()] + [
        f"{kind}.{name}.{op}" for kind in _event_kinds() for op in model.operation_names
    ]
    events += [f"{e}.complete-section" for e in events if e.startswith("docs.")]
    compared = {event: (_handlers(stock, event), _handlers(trimmed, event)) for event in events}
    assert {e: pair for e, pair in compared.items() if pair[0] != pair[1]} == {}
    # Not a comparison of empty lists: every operation's calls have handlers (retries, signing).
    assert all(compared[f"before-call.{name}.{op}"][0] for op in model.operation_names)


def test_the_trimmed_session_leaves_out_other_services_handlers_until_asked() -> None:
    kept, rest = botodata.job_handlers()
    assert len(kept) + len(rest) == len(handlers.BUILTIN_HANDLERS)
    assert 0 < len(kept) < len(rest)  # botocore 1.44: 11 of 127
    assert {botodata.handler_service(spec[0]) for spec in kept} <= {None, "secrets-manager", "kms", "sts"}
    assert botodata.handler_service("docs.*.s3.CopyObject.complete-section") == "s3"
    assert botodata.handler_service("after-call.sqs.*") == "sqs"
    assert botodata.handler_service("before-parse.s3.*") == "s3"
    assert botodata.handler_service("before-call") is None
    assert botodata.handler_service("before-call.*") is None
    assert botodata.handler_service("before-call.secretsmanager.GetSecretValue") == "secrets-manager"
    session = botodata.TrimmedSession()
    assert _handlers(session, "before-parameter-build.s3.PutObject") == _handlers(
        session, "before-parameter-build.secrets-manager.PutSecretValue"
    )  # the generic ones only
    session.create_client("s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    assert len(_handlers(session, "before-parameter-build.s3.PutObject")) > len(
        _handlers(session, "before-parameter-build.secrets-manager.PutSecretValue")
    )


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _access_key(session: botocore.session.Session) -> str:
    credentials = session.get_credentials()
    assert credentials is not None
    return str(credentials.get_frozen_credentials().access_key)


def test_environment_credentials_are_what_the_full_chain_returns(no_aws_env: pytest.MonkeyPatch) -> None:
    no_aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    no_aws_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    no_aws_env.setenv("AWS_SESSION_TOKEN", "env-session")
    no_aws_env.setenv("AWS_PROFILE", "other")  # an environment profile does not outrank them
    (Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])).write_text(
        "[other]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n"
    )
    session = botodata.make_session()
    resolver = session.get_component("credential_provider")
    assert len(resolver.providers) == 1  # no instance-metadata or container provider built
    want = botocore.session.Session().get_credentials()
    got = session.get_credentials()
    assert got is not None and want is not None
    assert (got.method, got.get_frozen_credentials()) == (want.method, want.get_frozen_credentials())
    assert got.get_frozen_credentials().access_key == "AKIDENV"


def test_without_environment_credentials_the_full_chain_is_kept(no_aws_env: pytest.MonkeyPatch) -> None:
    (Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])).write_text(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n"
    )
    session = botodata.make_session()
    assert len(session.get_component("credential_provider").providers) > 5
    assert _access_key(session) == "AKIDFILE"
    # Half the environment's pair: botocore's own error, as from the full chain.
    no_aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    with pytest.raises(botocore.exceptions.PartialCredentialsError):
        botodata.make_session()


def test_a_session_profile_outranks_environment_credentials(no_aws_env: pytest.MonkeyPatch) -> None:
    """botocore skips the environment's credentials when the session itself names a profile."""
    no_aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    no_aws_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    (Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])).write_text(
        "[named]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n"
    )
    original = botodata.TrimmedSession.__init__

    def with_profile(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "profile": "named"})

    no_aws_env.setattr(botodata.TrimmedSession, "__init__", with_profile)
    assert _access_key(botodata.make_session()) == "AKIDFILE"


def test_another_botocore_version_gets_a_stock_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore, "__version__", "0.0.0-unpinned")
    session = botodata.make_session()
    assert type(session) is botocore.session.Session
    assert type(session.get_component("data_loader")) is Loader
    assert len(_handlers(session, "before-parameter-build.s3.PutObject")) > 2


def _leaves(data: Any, path: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], Any]:
    """Every scalar of a JSON document by its path (keys and list indexes)."""
    if isinstance(data, dict):
        return {p: v for k, item in data.items() for p, v in _leaves(item, (*path, k)).items()}
    if isinstance(data, list):
        return {p: v for i, item in enumerate(data) for p, v in _leaves(item, (*path, i)).items()}
    return {path: data}


@pytest.mark.parametrize("service", botodata.SERVICES)
def test_the_trimmed_models_lack_only_botocores_documentation_text(service: str) -> None:
    """The job's loader serves each model from the generated file, and that model is botocore's
    with documentation text removed and nothing else: every other value at the same place."""
    trimmed_loader = botodata.make_loader()
    stock = Loader().load_service_model(service, "service-2")
    trimmed = trimmed_loader.load_service_model(service, "service-2")
    api_version = stock["metadata"]["apiVersion"]
    _, path = trimmed_loader.load_data_with_path(f"{service}/{api_version}/service-2")
    assert path == str(botodata.model_path(service, api_version))
    assert trimmed_loader.is_builtin_path(path)
    stock_leaves, trimmed_leaves = _leaves(stock), _leaves(trimmed)
    assert all(stock_leaves.get(p, object()) == v for p, v in trimmed_leaves.items())
    removed = {p: v for p, v in stock_leaves.items() if p not in trimmed_leaves}
    assert removed  # botocore's models carry documentation
    assert {p[-1] for p in removed} <= {"documentation", "documentationUrl"}
    assert all(isinstance(v, str) for v in removed.values())
    # What botocore builds from it: the same operations, shapes and member order.
    stock_model = botocore.model.ServiceModel(stock, service)
    trimmed_model = botocore.model.ServiceModel(trimmed, service)
    assert trimmed_model.operation_names == stock_model.operation_names
    assert trimmed_model.shape_names == stock_model.shape_names
    for name in stock_model.shape_names:
        a, b = stock_model.shape_for(name), trimmed_model.shape_for(name)
        assert (b.type_name, b.metadata, b.serialization) == (a.type_name, a.metadata, a.serialization)
        assert list(getattr(b, "members", {})) == list(getattr(a, "members", {}))


def test_trim_model_keeps_a_member_named_documentation() -> None:
    model = {
        "documentation": "the service",
        "operations": {
            "Op": {"documentation": "op", "documentationUrl": "https://x", "input": {"shape": "S"}}
        },
        "shapes": {
            "S": {"type": "structure", "members": {"documentation": {"shape": "T", "documentation": "d"}}}
        },
    }
    assert botodata.trim_model(model) == {
        "operations": {"Op": {"input": {"shape": "S"}}},
        "shapes": {"S": {"type": "structure", "members": {"documentation": {"shape": "T"}}}},
    }
