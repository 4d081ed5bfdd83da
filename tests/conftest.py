"""Session-wide real servers: moto's Secrets Manager and a local OAuth2 token endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Dummy AWS settings for every boto3 client the tests or the job create; set before any client.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
)
for var in ("AWS_PROFILE", "SYNC_JOB_CONFIG", "SYNC_JOB_CONFIG_TOML"):
    os.environ.pop(var, None)

import logging  # noqa: E402

# The in-process servers' access logs are not the job's output.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from tests.support.harness import Harness
    from tests.support.moto_server import CountingMotoServer
    from tests.support.token_server import TokenServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[CountingMotoServer]:
    from tests.support.moto_server import CountingMotoServer

    server = CountingMotoServer()
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_server() -> Iterator[TokenServer]:
    from tests.support.token_server import TokenServer

    with TokenServer() as server:
        yield server


@pytest.fixture
def harness(moto_server: CountingMotoServer, token_server: TokenServer, tmp_path: Path) -> Iterator[Harness]:
    from tests.support.harness import Harness

    moto_server.clear()
    yield Harness(moto=moto_server, tokens=token_server, tmp=tmp_path)
    moto_server.clear()
