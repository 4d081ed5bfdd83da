# infra/ and the Lambda package (included by the Makefile). See docs/infra.md.
#   make package       reproducible Lambda zip: build/lambda/ -> dist/sync-job-lambda.zip, built
#                      twice to prove both builds are identical; prints size and sha256
#   make infra-check   terraform fmt -check, validate (offline, provider from the local mirror),
#                      checkov with every skip explained and needed (scripts/infra_check.py)
#   make infra-test    Terraform applied to moto, the packaged handler run against it, destroy;
#                      least-privilege check of the applied policies; package tests
#   make measure-import  cold-import cost of the handler from the unzipped package vs boto3

CHECKOV_VENV := build/checkov-venv
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: package infra-check infra-test measure-import

package: $(VENV)/.installed
	$(PY) scripts/package_lambda.py --verify

infra-check: $(VENV)/.installed $(CHECKOV_STAMP)
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(PY) -m scripts.infra_check

infra-test: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m infra tests/infra/test_terraform_apply.py tests/infra/test_package.py tests/infra/test_policy_check.py

measure-import: package
	$(PY) scripts/measure_cold_import.py --path build/lambda

# `make test` (and so CI) runs tests/infra too: give the infra-check test its checkov.
test: $(CHECKOV_STAMP)
