"""Every fixture of the suite: moto's Secrets Manager, a local OAuth2 token endpoint, the harness
over both, a boto3 client, a throwaway secret name, a small API on 127.0.0.1, a requests session
client-side AWS errors (sm_hooks) and, for the infra tests, the Lambda package."""

from __future__ import annotations

import os

from standins.aws import DUMMY_AWS

# Dummy AWS settings for every boto3 client the tests or the job create; set before any client.
os.environ.update(DUMMY_AWS)
for var in ("AWS_PROFILE", "SYNC_JOB_CONFIG", "SYNC_JOB_CONFIG_TOML"):
    os.environ.pop(var, None)

import json  # noqa: E402
import logging  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from botocore.awsrequest import AWSResponse, HeadersDict  # noqa: E402

from sync_job.store import botocore_session  # noqa: E402

# The in-process servers' access logs are not the job's output.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

if TYPE_CHECKING:
    from standins.api_server import ApiServer
    from standins.harness import Harness
    from standins.lambda_package import Package
    from standins.moto_server import MotoServer
    from standins.sts_server import StsStandIn
    from standins.token_server import TokenServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "infra: Terraform and Lambda packaging tests (make infra-test / make infra-check)"
    )


@pytest.fixture(scope="session")
def lambda_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """`make package` into a temporary directory, and the zip unzipped as Lambda would."""
    from standins.lambda_package import build_package

    return build_package(tmp_path_factory.mktemp("lambda-package"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from standins.moto_server import MotoServer

    with MotoServer() as server:
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        yield server


@pytest.fixture
def kms(moto_server: MotoServer) -> Any:
    """A boto3 KMS client on moto's server (private_key_jwt signed by kms:Sign)."""
    from standins import aws

    return aws.client("kms", moto_server.endpoint)


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[StsStandIn]:
    """The STS stand-in (sts:GetWebIdentityToken); botocore's service-specific endpoint variable
    sends STS there and everything else to moto."""
    from standins.sts_server import StsStandIn

    with StsStandIn() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", server.url)
        yield server


@pytest.fixture(scope="session")
def token_server() -> Iterator[TokenServer]:
    from standins.token_server import TokenServer

    with TokenServer() as server:
        yield server


@pytest.fixture
def harness(moto_server: MotoServer, token_server: TokenServer, tmp_path: Path) -> Iterator[Harness]:
    from standins.harness import Harness

    moto_server.clear()
    yield Harness(moto=moto_server, tokens=token_server, tmp=tmp_path)
    moto_server.clear()


@pytest.fixture
def sm(moto_server: MotoServer) -> Any:
    """A Secrets Manager client of moto's server, with the dummy credentials."""
    from standins.aws import client

    return client("secretsmanager", moto_server.endpoint)


@pytest.fixture
def secret_name() -> str:
    return f"paxos/sandbox/access-token-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api() -> Iterator[ApiServer]:
    from standins.api_server import ApiServer

    with ApiServer() as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    yield session
    session.close()


class ClientErrorHooks:
    """``hooks(operation, code, status, times)``: the next ``times`` ``operation`` calls of the
    job's clients (made from ``sync_job.store.botocore_session()``) are answered with AWS error
    ``code`` before they leave the process; ``calls`` lists the operations so answered. Unlike
    ``MotoServer.inject`` it spares the test's own client, which reads the store afterwards."""

    def __init__(self) -> None:
        botocore_session.cache_clear()
        self.session = botocore_session()
        self.calls: list[str] = []

    def __call__(self, operation: str, code: str, status: int, times: int, message: str = "injected") -> None:
        remaining = [times]

        def hook(request: Any, **kwargs: Any) -> AWSResponse | None:
            target = request.headers.get("X-Amz-Target", b"")
            target = target.decode() if isinstance(target, bytes) else target
            if target != f"secretsmanager.{operation}" or remaining[0] == 0:
                return None  # botocore sends the request
            remaining[0] -= 1
            self.calls.append(operation)
            body = json.dumps({"__type": code, "message": message}).encode()
            headers = HeadersDict({"x-amzn-ErrorType": code})  # what botocore passes itself
            return AWSResponse(request.url, status, headers, _Raw(body))  # type: ignore[arg-type]

        # The stubs type handlers as returning None; a before-send handler may return a response.
        emitter = self.session.get_component("event_emitter")
        emitter.register_first("before-send.secrets-manager", hook)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture
def sm_hooks() -> Iterator[ClientErrorHooks]:
    """Client-side AWS errors for the job's calls, parsed and retried by botocore's real logic."""
    yield ClientErrorHooks()
    botocore_session.cache_clear()
