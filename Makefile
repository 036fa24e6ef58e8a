# Run `make` for this help. The two commands of the README are `make demo` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: help setup demo test test-chaos test-unit lint services-up services-down bench

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## install system packages, .venv and the Spark jars (idempotent)
	scripts/bootstrap.sh

demo: ## the pipeline end to end on local defaults (services, generate, load, run, summary)
	scripts/demo.sh

test: ## the test suite against real local services (all but the chaos soak)
	scripts/test.sh -m "not chaos"

test-chaos: ## the streaming chaos soak: 50,000 events, five SIGKILLs (about 15 minutes)
	scripts/test.sh -m chaos

test-unit: setup ## only the fast unit tests (no services)
	$(VENV)/python -m pytest -m unit

lint: setup ## ruff lint and format check
	$(VENV)/ruff check lib jobs tests bench
	$(VENV)/ruff format --check lib jobs tests bench

services-up: setup ## start PostgreSQL, MariaDB and Kafka on 127.0.0.1
	$(VENV)/aml services up

services-down: ## stop the local services
	$(VENV)/aml services down

bench: setup ## run the benchmarks in bench/ (see docs/BENCHMARKS.md)
	$(VENV)/python bench/bench_generate.py --full
	$(VENV)/python bench/bench_ingest.py --rows 1000000
	$(VENV)/python bench/bench_silver.py --rows 1000000 --repeat 2
	$(VENV)/python bench/bench_crypto.py --rows 1000000 --accounts 100000 --reps 3 --variants
	$(VENV)/aml services up
	$(VENV)/python bench/bench_gold.py --rows 1000000 --repeat 2
	$(VENV)/python bench/bench_pipeline.py --rows 1000000
	$(VENV)/python bench/bench_gold_scope.py --rounds 2
	$(VENV)/python bench/bench_detection.py --rows 1000000 --write-docs
	$(VENV)/python bench/bench_stream.py --rate 2500 --seconds 300
	$(VENV)/python bench/bench_stream.py --rate 20 --seconds 180 --out var/bench/stream-floor.json
	$(VENV)/python bench/bench_rules_inmemory.py --history 200000 --batch 2500 --batches 5
