"""Fixtures of the infra tests: the Lambda zip, built once per session by scripts/package_lambda.py."""

from __future__ import annotations

import pytest

from tests.support.lambda_package import Package, build_package


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "infra: Terraform and Lambda packaging tests (make infra-test / make infra-check)"
    )


@pytest.fixture(scope="session")
def lambda_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """`make package` into a temporary directory, and the zip unzipped as Lambda would."""
    return build_package(tmp_path_factory.mktemp("lambda-package"))
