# sync-job: `make demo` runs the job end to end on local stand-ins; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck unit lock clean

$(VENV)/.installed: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements/dev.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check sync_job tests bench scripts

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/pytest -n 2 -q

unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q tests/unit

# Re-pin the development tools after editing requirements/dev.in.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q -r requirements/dev.in
	.lockenv/bin/pip freeze --exclude-editable | sort > requirements/dev.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

-include mk/*.mk
