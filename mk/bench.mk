# Benchmarks (included by the Makefile). See bench/run_bench.py; both run from the repository root
# as modules (`python -m bench.run_bench`, `python -m bench.freshness_sim`).
#   make bench                           the full run, ~8 minutes on 2 cores; exits 1 if a target is missed
#   make bench BENCH_ARGS=--quick        ~1 minute: fewer repetitions, smaller loops
# The shell-loop baseline needs curl, jq and the AWS CLI. awscli 1.x installs its own botocore over
# whatever is there, so it gets a virtualenv of its own (the Makefile's build/%-venv rule).

BENCH_ARGS ?=
AWSCLI_VENV := build/awscli-venv

.PHONY: bench

bench: $(VENV)/.installed $(AWSCLI_VENV)/.installed
	$(PY) -m bench.run_bench --aws-bin $(AWSCLI_VENV)/bin $(BENCH_ARGS)
