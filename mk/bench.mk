# Benchmarks (included by the Makefile). See bench/run_bench.py; both run from the repository root
# as modules (`python -m bench.run_bench`, `python -m bench.freshness_sim`).
#   make bench                           the full run, ~20 minutes on 2 cores (the measured figures,
#                                        then a simulated week of 1,000 environments on one host);
#                                        exits 1 if a target is missed
#   make bench BENCH_ARGS=--quick FLEET_ARGS="--environments 200 --days 1"   a few minutes
# Then the fleet against a lone environment (issue 17 §4), 20 seed-days of 200 environments, about
# 2 minutes on 2 cores; the 1,000-environment figures of docs/scale.md (15 minutes):
#   make bench FLEET_COMPARE_ARGS="--environments 1000 --seeds 1-10"
# The shell-loop baseline needs curl, jq and the AWS CLI. awscli 1.x installs its own botocore over
# whatever is there, so it gets a virtualenv of its own (the Makefile's build/%-venv rule).

BENCH_ARGS ?=
FLEET_ARGS ?=
FLEET_COMPARE_ARGS ?= --environments 200 --seeds 1-20
AWSCLI_VENV := build/awscli-venv

.PHONY: bench

bench: $(VENV)/.installed $(AWSCLI_VENV)/.installed
	$(PY) -m bench.run_bench --aws-bin $(AWSCLI_VENV)/bin $(BENCH_ARGS)
	$(PY) -m bench.fleet_sim $(FLEET_ARGS)
	$(PY) -m bench.fleet_sim --compare $(FLEET_COMPARE_ARGS)
