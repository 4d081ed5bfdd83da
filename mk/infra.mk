# infra/ and the Lambda package (included by the Makefile). See docs/infra.md.
#   make package       reproducible Lambda zip for LAMBDA_ARCH (x86_64, the default, or arm64:
#                      Terraform's lambda_architecture): build/lambda-ARCH/ ->
#                      dist/sync-job-lambda-ARCH.zip, built twice to prove both builds are
#                      identical; prints size and sha256. `make package LAMBDA_ARCH=arm64`
#   make lock-lambda   requirements/lambda.lock from requirements/lambda.in, at dev.lock's
#                      versions, with the sha256 of both architectures' wheels
#   make infra-check   terraform fmt -check, validate (offline, provider from the local mirror),
#                      checkov with every skip explained and needed (scripts/infra_check.py)
#   make infra-test    Terraform applied to moto, the packaged handler run against it, destroy;
#                      least-privilege check of the applied policies; package tests
#   make measure-import  cold-import cost of the handler from the unzipped package vs boto3
#                      (x86_64 only: an arm64 package cannot be imported on this machine)

CHECKOV_VENV := build/checkov-venv
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

LAMBDA_ARCH ?= x86_64

.PHONY: package lock-lambda infra-check infra-test measure-import

package: $(VENV)/.installed
	$(PY) scripts/package_lambda.py --arch $(LAMBDA_ARCH) --verify

# An explicit rule: the Makefile's generic lock-% (pip freeze of a venv) cannot lock for another
# platform, nor hash the wheels.
lock-lambda: $(VENV)/.installed
	$(PY) scripts/package_lambda.py --lock

infra-check: $(VENV)/.installed $(CHECKOV_STAMP)
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(PY) -m scripts.infra_check

infra-test: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m infra tests/infra/test_terraform_apply.py tests/infra/test_package.py tests/infra/test_policy_check.py \
	  tests/infra/test_config_toml.py tests/infra/test_schema_parity.py tests/infra/test_lambda_lock.py \
	  tests/infra/test_variable_validation.py

measure-import: package
	$(PY) scripts/measure_cold_import.py --path build/lambda-$(LAMBDA_ARCH)

# `make test` (and so CI) runs tests/infra too: give the infra-check test its checkov.
test: $(CHECKOV_STAMP)
